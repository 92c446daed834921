"""Hardware profiles: where and how networks are timed. One YAML file per profile in profiles/.

Fields: name, description, device (``cpu`` | ``cuda``), threads (see :meth:`HardwareProfile.num_threads`),
dtype, stream_batch (batch size of the throughput stream), and the measurement settings
(warmup_queries, min_queries, min_duration_s, throughput_min_duration_s), and runtime: what runs the
forward pass (``eager`` PyTorch, the default; ``compile``, ``onnxruntime``, ``openvino``: see
:mod:`rtbench.hardware.runtime`), chosen with ``hardware.runtime=NAME``. In Ray each profile is
a custom resource of capacity 1 (``resource``) on the node that owns the device, so no two
measurements share a device.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from rtbench.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    description: str = ""
    device: str = "cpu"
    threads: int = 0
    dtype: str = "float32"
    stream_batch: int = 8
    warmup_queries: int = 10
    min_queries: int = 100
    min_duration_s: float = 2.0
    throughput_min_duration_s: float = 2.0
    runtime: str = "eager"

    @property
    def label(self) -> str:
        """How boards, tables and reports name the profile: ``local-cpu``, or ``local-cpu+onnxruntime`` under another runtime."""
        return self.name if self.runtime == "eager" else f"{self.name}+{self.runtime}"

    @property
    def resource(self) -> str:
        """Name of the Ray custom resource (capacity 1) that a measurement trial holds."""
        return f"hw-{self.name}"

    def num_threads(self) -> int:
        """Threads torch uses on this profile.

        ``threads: n > 0``: n threads; ``0``: every core of the machine; ``-k``: every core but k
        (at least 1). ``local-cpu`` uses ``-1``: with every core inside one OpenMP region, any other
        work on the machine (the OS, the harness's own process, Ray's raylet) stalls a thread, and
        every parallel region waits for its slowest thread. Measured on the 2-core dev box, one random
        msnas network at 128 px, 4 interleaved rounds: p50 spread 25% at 2 threads vs 4% at 1 thread
        on a quiet host (a scratch script doing what ``benchmarks/thread_noise.py`` does), and 66% vs
        24% with ``python benchmarks/thread_noise.py --rounds 4`` later, on a noisier host; two full
        passes of ``bench latency-check`` over 50 networks at 2 threads agreed within +-10% for only
        18% of them (46% at 1 thread).
        """
        if self.threads > 0:
            return self.threads
        return max((os.cpu_count() or 1) + self.threads, 1)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``runtime`` only when it is not ``eager``, so an eager profile keeps the
        run ids and records it had before runtimes existed."""
        d = asdict(self)
        if d["runtime"] == "eager":
            del d["runtime"]
        return d


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str, **overrides: Any) -> HardwareProfile:
    """Read ``profiles/<name>.yaml`` (or a YAML path) and apply ``hardware.<field>=`` overrides."""
    is_path = name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name
    path = Path(name).expanduser() if is_path else PROFILE_DIR / f"{name}.yaml"
    if is_path and not path.is_file():
        what = "is a folder, not a profile file" if path.is_dir() else "file not found"
        raise ConfigError(
            f"hardware='{name}': {what} (resolved to {path.resolve()}); expected a profile YAML file or one of: "
            + ", ".join(profile_names())
        )
    if not path.is_file():
        raise ConfigError(f"unknown hardware profile '{name}'; valid profiles: {', '.join(profile_names())}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of profile fields, got {type(raw).__name__}")
    raw.update(overrides)
    valid = {f.name: f for f in fields(HardwareProfile)}
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}")
    raw.setdefault("name", path.stem)
    return validate_profile(HardwareProfile(**raw), str(path))


def validate_profile(prof: HardwareProfile, where: str = "hardware") -> HardwareProfile:
    """Check field values (after YAML loading or ``hardware.<field>=`` overrides)."""
    if prof.device not in ("cpu", "cuda"):
        raise ConfigError(f"{where}: device='{prof.device}' is not valid; expected cpu or cuda")
    if prof.dtype not in DTYPES:
        raise ConfigError(f"{where}: dtype='{prof.dtype}' is not valid; expected one of {', '.join(DTYPES)}")
    for name in ("stream_batch", "min_queries"):
        if getattr(prof, name) < 1:
            raise ConfigError(f"{where}: hardware.{name}={getattr(prof, name)} is out of range; expected >= 1")
    for name in ("warmup_queries", "min_duration_s", "throughput_min_duration_s"):
        if getattr(prof, name) < 0:
            raise ConfigError(f"{where}: hardware.{name}={getattr(prof, name)} is out of range; expected >= 0")
    from rtbench.hardware.runtime import check_runtime

    check_runtime(prof, where)
    return prof
