"""Latency lookup tables (rtbench.hardware.lut): cache key, atomic save/load, resumable builds.

A fake space of three cheap ops on 8x8 inputs and a fake measure function (which counts its
calls) keep these tests independent of the real spaces and of how fast anything runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rtbench.errors import ConfigError
from rtbench.hardware import lut
from rtbench.hardware.lut import LatencyTable, MeasureSettings, TableKey, build_table, cache_dir, open_table, table_path
from rtbench.hardware.measure import LatencyResult
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import OpInstance, Space
from rtbench.tasks import CINE, Task

PROFILE = HardwareProfile(name="test-cpu", threads=1)
TINY = MeasureSettings(warmup_queries=0, min_queries=2, min_duration_s=0.0)


class TableSpace(Space):
    """Only what a table needs: op instances (two shared-op ops at two sizes, plus a stem) and their modules."""

    name = "table-fake"

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        raise NotImplementedError

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        half = image_size // 2
        ops = [OpInstance(op, 4, 4, s, s) for op in ("conv", "sep_conv", "identity") for s in (image_size, half)]
        return [OpInstance("stem", task.in_channels, 4, image_size, image_size), *ops, ops[0]]  # a duplicate on purpose

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        if inst.op == "stem":
            return nn.Conv2d(inst.c_in, inst.c_out, 3, padding=1)
        return super().build_op_instance(inst)


class CountingMeasure:
    """A stand-in for measure_latency: p50 = 0.01 ms per parameter + 0.1 ms; records every shape it is given."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int, int]] = []

    def __call__(self, module: nn.Module, shape: tuple[int, int, int], profile: HardwareProfile) -> LatencyResult:
        assert profile.min_queries == TINY.min_queries  # the table's settings reach the measurement
        module(torch.zeros((1, *shape)))  # the module accepts the instance's input shape
        self.shapes.append(shape)
        ms = 0.1 + 0.01 * sum(p.numel() for p in module.parameters())
        return LatencyResult(ms, 1.5 * ms, 2 * ms, ms, ms, 2 * ms, 2, 0.0)


def _key(**overrides: Any) -> TableKey:
    return replace(TableKey.of(PROFILE, device="CPU X", torch_version="2.13.0"), **overrides)


def test_key_changes_with_profile_device_torch_dtype_and_threads() -> None:
    base = TableKey.of(PROFILE, device="CPU X", torch_version="2.13.0")
    assert base == _key() and base.digest() == _key().digest()
    assert (base.profile, base.dtype, base.threads) == ("test-cpu", "float32", 1)
    variants = [
        TableKey.of(replace(PROFILE, name="other"), device="CPU X", torch_version="2.13.0"),
        TableKey.of(replace(PROFILE, dtype="bfloat16"), device="CPU X", torch_version="2.13.0"),
        TableKey.of(replace(PROFILE, threads=2), device="CPU X", torch_version="2.13.0"),
        TableKey.of(PROFILE, device="CPU Y", torch_version="2.13.0"),
        TableKey.of(PROFILE, device="CPU X", torch_version="2.14.0"),
    ]
    paths = {table_path("fake", 8, k, Path("/c")) for k in [base, *variants]}
    assert len({k.digest() for k in [base, *variants]}) == len(paths) == 6
    assert table_path("fake", 8, base, Path("/c")) != table_path("fake", 16, base, Path("/c"))
    assert table_path("fake", 8, base, Path("/c")) != table_path("other", 8, base, Path("/c"))


def test_key_defaults_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lut, "device_name", lambda profile: "Fake CPU 9000")
    key = TableKey.of(PROFILE)
    assert (key.device, key.torch) == ("Fake CPU 9000", torch.__version__)


def test_cache_dir_follows_rtbench_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RTBENCH_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "lut"
    monkeypatch.delenv("RTBENCH_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "rtbench" / "lut"


def _result(ms: float) -> LatencyResult:
    return LatencyResult(ms, ms + 1, ms + 2, ms, ms, ms + 2, 30, 0.2)


def test_table_lookup_contains_and_missing() -> None:
    table = LatencyTable(_key(), "fake", 8)
    a, b = OpInstance("conv", 4, 4, 8, 8), OpInstance("conv", 4, 8, 8, 8)
    table.add(a, _result(0.5))
    assert a in table and b not in table and "conv|4|4|8x8" not in table
    assert table.latency_ms(a) == 0.5 and table.p90_ms(a) == 1.5
    assert table.missing([b, a, b]) == [b]
    with pytest.raises(KeyError, match=r"conv\|4\|8\|8x8"):
        table.latency_ms(b)


def test_save_load_round_trip(tmp_path: Path) -> None:
    table = LatencyTable(_key(), "fake", 8, TINY)
    insts = [OpInstance("conv", 4, 4, 8, 8), OpInstance("max_pool", 4, 4, 8, 8)]
    for i, inst in enumerate(insts):
        table.add(inst, _result(0.25 * (i + 1)))
    path = tmp_path / "sub" / "t.json"
    table.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["t.json"]  # no temporary file left behind
    head = json.loads(path.read_text())["header"]
    assert {"profile", "device", "torch", "dtype", "threads", "space", "image_size", "settings", "created", "updated"} <= set(head)
    assert head["settings"] == {"warmup_queries": 0, "min_queries": 2, "min_duration_s": 0.0}
    back = LatencyTable.load(path)
    assert (back.key, back.space, back.image_size, back.settings, back.created) == (_key(), "fake", 8, TINY, table.created)
    assert back.entries == table.entries and back.path == table.path == path
    assert [back.latency_ms(i) for i in insts] == [0.25, 0.5]


def test_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = LatencyTable(_key(), "fake", 8)
    table.add(OpInstance("conv", 4, 4, 8, 8), _result(1.0))
    path = tmp_path / "t.json"
    table.save(path)
    before = path.read_text()
    table.add(OpInstance("conv", 4, 4, 4, 4), _result(2.0))

    def broken_dump(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(lut.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        table.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_load_rejects_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"format": 1, "header": {}}')
    with pytest.raises(ConfigError, match="not a readable latency table"):
        LatencyTable.load(path)


def test_build_measures_every_distinct_instance_once(tmp_path: Path) -> None:
    measure, lines = CountingMeasure(), []
    table = build_table(TableSpace(), PROFILE, 8, CINE, progress=lines.append, settings=TINY, rounds=1, root=tmp_path, measure=measure)
    assert len(measure.shapes) == len(table) == 7
    assert (1, 8, 8) in measure.shapes and (4, 4, 4) in measure.shapes
    assert "7 of 7 measurements to take (1 per entry)" in lines[0]
    assert lines[-1].startswith("lut 7/7 round 1 ") and "ETA" in lines[-1]
    # a second build finds everything cached and measures nothing
    again = build_table(TableSpace(), PROFILE, 8, "cine", settings=TINY, rounds=1, root=tmp_path, measure=measure)
    assert len(measure.shapes) == 7 and again.entries == table.entries


def test_build_resumes_after_a_limit(tmp_path: Path) -> None:
    measure = CountingMeasure()
    part = build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=1, root=tmp_path, measure=measure, limit=3)
    assert len(part) == len(measure.shapes) == 3
    rest = build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=1, root=tmp_path, measure=measure)
    assert len(rest) == 7 and len(measure.shapes) == 7  # only the 4 missing entries were measured
    assert set(part.entries) < set(rest.entries)


def test_build_resumes_after_an_interruption(tmp_path: Path) -> None:
    measure = CountingMeasure()

    def interrupt(line: str) -> None:
        if line.startswith("lut 4/7"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_table(
            TableSpace(),
            PROFILE,
            8,
            CINE,
            progress=interrupt,
            settings=TINY,
            rounds=1,
            save_every=3,
            root=tmp_path,
            measure=measure,
        )
    assert len(measure.shapes) == 4
    table = open_table("table-fake", PROFILE, 8, TINY, tmp_path)
    assert table.path is not None and table.path.parent == tmp_path
    assert len(table) == 4  # saved on the way out, not only at the last save_every boundary
    build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=1, root=tmp_path, measure=measure)
    assert len(measure.shapes) == 7


class RoundMeasure(CountingMeasure):
    """p50 2 ms in the first pass over the table's 7 instances, 1 ms in the second, 3 ms after (p90 = 1.5 x p50)."""

    def __call__(self, module: nn.Module, shape: tuple[int, int, int], profile: HardwareProfile) -> LatencyResult:
        ms = (2.0, 1.0, 3.0)[min(len(self.shapes) // 7, 2)]
        self.shapes.append(shape)
        return LatencyResult(ms, 1.5 * ms, 2 * ms, ms, ms, 2 * ms, 2, 0.0)


def test_an_entry_keeps_its_fastest_round(tmp_path: Path) -> None:
    measure = RoundMeasure()
    table = build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=3, root=tmp_path, measure=measure)
    assert len(measure.shapes) == 21  # three passes over 7 distinct instances
    assert {(e.p50_ms, e.p90_ms, e.rounds) for e in table.entries.values()} == {(1.0, 1.5, 3)}


def test_rounds_resume_mid_pass(tmp_path: Path) -> None:
    measure = RoundMeasure()
    part = build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=3, root=tmp_path, measure=measure, limit=10)
    assert sorted(e.rounds for e in part.entries.values()) == [1, 1, 1, 1, 2, 2, 2]  # round 1 done, 3 of round 2
    assert len(part.missing(TableSpace().op_instances(CINE, 8), rounds=2)) == 4
    full = build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=3, root=tmp_path, measure=measure)
    assert len(measure.shapes) == 21 and {e.rounds for e in full.entries.values()} == {3}
    build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, rounds=4, root=tmp_path, measure=measure)
    assert len(measure.shapes) == 28  # asking for more rounds later measures only the extra round


def test_a_cached_table_keeps_its_own_settings(tmp_path: Path) -> None:
    measure = CountingMeasure()
    build_table(TableSpace(), PROFILE, 8, CINE, settings=TINY, root=tmp_path, measure=measure, limit=1)
    lines: list[str] = []
    other = MeasureSettings(min_queries=99)
    table = build_table(TableSpace(), PROFILE, 8, CINE, progress=lines.append, settings=other, root=tmp_path, measure=measure)
    assert table.settings == TINY and "own settings" in lines[0]  # CountingMeasure asserts TINY reached it


def test_open_table_rejects_a_foreign_file(tmp_path: Path) -> None:
    key = TableKey.of(PROFILE)
    LatencyTable(key, "table-fake", 16).save(table_path("table-fake", 8, key, tmp_path))
    with pytest.raises(ConfigError, match="does not match"):
        open_table("table-fake", PROFILE, 8, root=tmp_path)
