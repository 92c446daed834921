"""Latency lookup tables: every op instance of a search space, timed alone on one hardware profile.

A table maps ``OpInstance.key`` (op, channels, input shape; stride is implied by the op's family)
to the p50 and p90 of its single-stream latency, measured with the harness protocol
(``rtbench.hardware.measure.measure_latency``: batch 1, host frame in -> uint8 mask out, warm-up,
then a minimum query count and duration) on the module ``space.build_op_instance(inst)`` fed a
``(c_in, h, w)`` input.

Each entry is the fastest of ``rounds`` such measurements taken in separate passes over the whole
table (default 3). A table outlives the moment it was measured in, so one median inflated by a
burst of load from other processes must not stay in it: a burst rarely covers the same entry in
every pass, while on a quiet machine the medians of the passes agree to a few percent.

Tables are cached on disk, one JSON file per space, image size and :class:`TableKey` (profile
name, device name, torch version, dtype, thread count and runtime: an op timed under ONNX Runtime
is a different cost from the same op in eager PyTorch), under ``$RTBENCH_CACHE/lut/`` or
``~/.cache/rtbench/lut/``. A file is written atomically (temporary file + ``os.replace``) every
few measurements while a table is built, and each entry counts its rounds, so an interrupted
:func:`build_table` resumes where it stopped and never repeats a measurement. Beside a table,
:func:`calibration_path` names the file of the calibrated network latency model fit against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtbench.errors import ConfigError
from rtbench.hardware.env import device_name
from rtbench.hardware.measure import LatencyResult, Progress, measure_latency
from rtbench.hardware.profile import HardwareProfile
from rtbench.jsonio import write_json_atomic
from rtbench.spaces.base import SPACES, OpInstance, Space
from rtbench.tasks import Task, get_task

Measure = Callable[[nn.Module, tuple[int, int, int], HardwareProfile], LatencyResult]
"""``measure(module, (C, H, W), profile) -> LatencyResult``: ``measure_latency`` or a stand-in (tests)."""

FORMAT = 1  # version of the table's JSON layout


@dataclass(frozen=True)
class MeasureSettings:
    """How long one latency measurement runs; :meth:`apply` puts these settings on a profile.

    The defaults (:data:`DEFAULT_OP_SETTINGS`) are the per-op settings of a table: 5 untimed
    warm-up queries, then at least 30 queries and at least 0.2 s. That is lighter than a network
    measurement (profiles: 10 warm-up, >= 100 queries, >= 2 s) because a table holds hundreds of
    entries, most of them sub-millisecond, and a median of 30 queries is already stable; a space
    of 300 instances then takes about a minute instead of ten.
    """

    warmup_queries: int = 5
    min_queries: int = 30
    min_duration_s: float = 0.2

    def apply(self, profile: HardwareProfile) -> HardwareProfile:
        """``profile`` with its measurement settings replaced by these (device, threads, dtype kept)."""
        return replace(profile, warmup_queries=self.warmup_queries, min_queries=self.min_queries, min_duration_s=self.min_duration_s)


DEFAULT_OP_SETTINGS = MeasureSettings()


@dataclass(frozen=True)
class TableKey:
    """What a table's figures depend on besides the op itself: a table is reused only on an equal key.

    ``threads`` is the thread count the profile resolves to here (``threads: 0`` means every core),
    so the same profile on machines with the same CPU model but different core counts never shares
    a table.
    """

    profile: str
    device: str
    torch: str
    dtype: str
    threads: int
    runtime: str = "eager"

    @classmethod
    def of(cls, profile: HardwareProfile, device: str | None = None, torch_version: str | None = None) -> TableKey:
        """The key of ``profile`` on this machine (device name from ``env.device_name``, torch's version)."""
        return cls(
            profile=profile.name,
            device=device if device is not None else device_name(profile),
            torch=torch_version if torch_version is not None else torch.__version__,
            dtype=profile.dtype,
            threads=profile.num_threads(),
            runtime=profile.runtime,
        )

    def digest(self) -> str:
        """A short stable hash of every field (part of the table's file name); ``runtime`` only when not
        ``eager``, so eager tables keep the files they had before runtimes existed."""
        fields = {k: v for k, v in asdict(self).items() if k != "runtime" or v != "eager"}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """Latency of one op instance on a profile (milliseconds): the p50 and p90 of the round with the lowest p50."""

    p50_ms: float
    p90_ms: float
    rounds: int = 1


def cache_dir() -> Path:
    """Folder of cached tables: ``$RTBENCH_CACHE/lut`` if that variable is set, else ``~/.cache/rtbench/lut``."""
    root = os.environ.get("RTBENCH_CACHE")
    return Path(root) / "lut" if root else Path.home() / ".cache" / "rtbench" / "lut"


def table_path(space: str, image_size: int, key: TableKey, root: Path | None = None) -> Path:
    """Cache file of the table of ``space`` at ``image_size`` px under ``key`` (``root`` defaults to :func:`cache_dir`)."""
    runtime = "" if key.runtime == "eager" else f"+{key.runtime}"
    return (root or cache_dir()) / f"{space}_{image_size}px_{key.profile}{runtime}_{key.digest()}.json"


def calibration_path(table_path: Path) -> Path:
    """File of the calibrated latency model fit against the table at ``table_path``: same folder, same stem,
    ``.calibration.json`` (``x.json`` -> ``x.calibration.json``).

    ``rtbench.hardware.fidelity.run_latency_check`` writes it
    (:meth:`rtbench.hardware.predict.CalibratedModel.save`); it predicts the measured p50 latency of a
    whole network in ms (single stream, batch 1) on the table's profile from features read off this table.
    """
    return table_path.with_name(f"{table_path.stem}.calibration.json")


class LatencyTable:
    """Op-instance latencies of one space at one image size on one profile, with the header that produced them.

    The header records the key (profile, device name, torch version, dtype, threads), the space,
    the image size, the measurement settings and when the table was created and last updated.
    ``path`` is the table's file (its cache file once opened by :func:`open_table`; None for a table
    not tied to a file yet).
    """

    def __init__(
        self,
        key: TableKey,
        space: str,
        image_size: int,
        settings: MeasureSettings = DEFAULT_OP_SETTINGS,
        entries: dict[str, Entry] | None = None,
        created: str | None = None,
    ) -> None:
        self.key = key
        self.space = space
        self.image_size = image_size
        self.settings = settings
        self.entries: dict[str, Entry] = dict(entries or {})
        self.created = created or _now()
        self.path: Path | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, inst: object) -> bool:
        return isinstance(inst, OpInstance) and inst.key in self.entries

    def entry(self, inst: OpInstance) -> Entry:
        """The stored figures of ``inst``; KeyError naming the instance and the table if it was never measured."""
        try:
            return self.entries[inst.key]
        except KeyError:
            raise KeyError(
                f"op instance {inst.key} is not in the latency table of space '{self.space}' at {self.image_size} px "
                f"on profile '{self.key.profile}' (run build_table to measure it)"
            ) from None

    def latency_ms(self, inst: OpInstance) -> float:
        """Median (p50) latency of ``inst`` in milliseconds: the figure latency predictors add up."""
        return self.entry(inst).p50_ms

    def p90_ms(self, inst: OpInstance) -> float:
        """90th-percentile latency of ``inst`` in milliseconds."""
        return self.entry(inst).p90_ms

    def rounds(self, inst: OpInstance) -> int:
        """How many measurements of ``inst`` the table has seen (0: none)."""
        entry = self.entries.get(inst.key)
        return entry.rounds if entry else 0

    def add(self, inst: OpInstance, result: LatencyResult) -> None:
        """Count one more measurement round of ``inst``; keep its p50 and p90 if its p50 is the lowest so far."""
        old = self.entries.get(inst.key)
        if old is None:
            self.entries[inst.key] = Entry(result.p50_ms, result.p90_ms)
        elif result.p50_ms < old.p50_ms:
            self.entries[inst.key] = Entry(result.p50_ms, result.p90_ms, old.rounds + 1)
        else:
            self.entries[inst.key] = Entry(old.p50_ms, old.p90_ms, old.rounds + 1)

    def missing(self, insts: Iterable[OpInstance], rounds: int = 1) -> list[OpInstance]:
        """The instances of ``insts`` measured in fewer than ``rounds`` rounds (1: not in the table at all),
        duplicates dropped, order kept."""
        seen: set[str] = set()
        out = []
        for inst in insts:
            if self.rounds(inst) < rounds and inst.key not in seen:
                seen.add(inst.key)
                out.append(inst)
        return out

    def header(self) -> dict[str, Any]:
        return {
            **asdict(self.key),
            "space": self.space,
            "image_size": self.image_size,
            "settings": asdict(self.settings),
            "created": self.created,
            "updated": _now(),
        }

    def save(self, path: Path | None = None) -> None:
        """Write the table to ``path`` (default: ``self.path``) atomically: a temporary file in the same folder,
        then ``os.replace``. The table's ``path`` becomes ``path``."""
        path = path or self.path
        if path is None:
            raise ValueError("LatencyTable.save: no path given and the table has none")
        data = {
            "format": FORMAT,
            "header": self.header(),
            "entries": {k: asdict(e) for k, e in sorted(self.entries.items())},
        }
        write_json_atomic(path, data)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> LatencyTable:
        """Read a table written by :meth:`save`; ConfigError naming the file if it is not one."""
        try:
            data = json.loads(Path(path).read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            head = data["header"]
            key = TableKey(**{k: head[k] for k in ("profile", "device", "torch", "dtype", "threads")}, runtime=head.get("runtime", "eager"))
            entries = {k: Entry(**v) for k, v in data["entries"].items()}
            table = cls(key, head["space"], int(head["image_size"]), MeasureSettings(**head["settings"]), entries, head["created"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}: not a readable latency table ({err}); delete it to rebuild") from None
        table.path = Path(path)
        return table


def open_table(
    space: str,
    profile: HardwareProfile,
    image_size: int,
    settings: MeasureSettings = DEFAULT_OP_SETTINGS,
    root: Path | None = None,
) -> LatencyTable:
    """The cached table of ``space`` at ``image_size`` on ``profile`` (empty if none yet), its ``path`` the cache file.

    A cached table keeps the settings it was started with, whatever ``settings`` says, so that its
    entries stay comparable; delete the file to rebuild with other settings.
    """
    key = TableKey.of(profile)
    path = table_path(space, image_size, key, root)
    if not path.is_file():
        table = LatencyTable(key, space, image_size, settings)
        table.path = path
        return table
    table = LatencyTable.load(path)
    if table.key != key or table.space != space or table.image_size != image_size:
        raise ConfigError(f"{path}: header does not match {key} / {space} / {image_size} px; delete it to rebuild")
    return table


def build_table(
    space: str | Space,
    profile: HardwareProfile,
    image_size: int,
    task: Task | str,
    config: dict[str, Any] | None = None,
    progress: Progress | None = None,
    settings: MeasureSettings = DEFAULT_OP_SETTINGS,
    *,
    rounds: int = 3,
    limit: int | None = None,
    save_every: int = 10,
    root: Path | None = None,
    measure: Measure = measure_latency,
) -> LatencyTable:
    """Complete the cached table of ``space`` (with options ``config``) at ``image_size`` to ``rounds`` rounds per entry.

    Round ``r`` is one pass over the instances of ``space.op_instances(task, image_size, config)``
    that have fewer than ``r`` rounds, each timed as ``measure(space.build_op_instance(inst),
    (inst.c_in, inst.h, inst.w), table.settings.apply(profile))`` (``table.settings`` is
    ``settings`` for a new table, the recorded settings of a cached one); an entry keeps its
    fastest round (see the module docstring). The table is saved every ``save_every``
    measurements and when the build ends, also by an exception or Ctrl-C, so a later call resumes
    with what is still missing. ``limit`` caps the measurements of this call (None: all).
    ``progress`` receives one line per measurement with n/N and an ETA. Returns the table (cached
    under ``root``, default :func:`cache_dir`).
    """
    sp = SPACES.create(space) if isinstance(space, str) else space
    tk = get_task(task) if isinstance(task, str) else task
    insts = sp.op_instances(tk, image_size, config)
    table = open_table(sp.name, profile, image_size, settings, root)
    todo = [(r, inst) for r in range(1, rounds + 1) for inst in table.missing(insts, r)]
    total = rounds * len({i.key for i in insts})
    done = total - len(todo)
    if limit is not None:
        todo = todo[: max(limit, 0)]
    if progress:
        own = "" if table.settings == settings else f"; the cached table's own settings {asdict(table.settings)} apply"
        head = f"lut {sp.name} @ {image_size} px on {profile.label}"
        progress(f"{head}: {len(todo)} of {total} measurements to take ({rounds} per entry){own} -> {table.path}")
    timed_profile = table.settings.apply(profile)
    start = time.perf_counter()
    try:
        for i, (r, inst) in enumerate(todo, 1):
            torch.manual_seed(0)
            result = measure(sp.build_op_instance(inst), (inst.c_in, inst.h, inst.w), timed_profile)
            table.add(inst, result)
            if i % save_every == 0:
                table.save()
            if progress:
                eta = (time.perf_counter() - start) / i * (len(todo) - i)
                progress(f"lut {done + i}/{total} round {r} {inst.key}: p50 {result.p50_ms:.3f} ms, ETA {format_eta(eta)}")
    finally:
        if todo:
            table.save()
    return table


def format_eta(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m07s`` or ``12s``."""
    s = max(int(round(seconds)), 0)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
