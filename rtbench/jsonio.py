"""JSON files written atomically (a temporary file in the same folder, fsync, then ``os.replace``): never half-written.

Sealed files (run records, unit files) also carry ``"integrity": {"sha256": ...}``, the SHA-256 of
the canonical JSON (sorted keys, no spaces, ASCII) of everything else in the file, so a reader can
tell a file the harness wrote from one edited since. It is a checksum, not a signature: it catches
a hand edit or a damaged copy, not someone who recomputes it on purpose.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file + os.replace (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(_clean(data), fh, indent=1, sort_keys=False, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def read_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


INTEGRITY = "integrity"


def canonical_json(data: Any) -> bytes:
    """The canonical JSON of ``data`` as written (NaN -> null): sorted keys, no spaces, ASCII."""
    return json.dumps(_clean(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def content_digest(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``data`` without its ``integrity`` key."""
    return hashlib.sha256(canonical_json({k: v for k, v in data.items() if k != INTEGRITY})).hexdigest()


def seal(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` cleaned as it will be written, plus ``integrity``: the digest of the rest."""
    clean = _clean({k: v for k, v in data.items() if k != INTEGRITY})
    return {**clean, INTEGRITY: {"sha256": content_digest(clean)}}


def seal_state(data: dict[str, Any]) -> str:
    """``"ok"`` if ``data``'s integrity digest matches its content, ``"unsealed"`` if it has none, else ``"tampered"``."""
    mark = data.get(INTEGRITY)
    if mark is None:
        return "unsealed"
    if not isinstance(mark, dict) or mark.get("sha256") != content_digest(data):
        return "tampered"
    return "ok"


def write_json_sealed(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Write ``data`` sealed (see :func:`seal`) atomically; returns what was written."""
    sealed = seal(data)
    write_json_atomic(path, sealed)
    return sealed
