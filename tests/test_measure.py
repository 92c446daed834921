"""The measurement protocol (rtbench.hardware.measure) and environment records (rtbench.hardware.env).

Tiny networks and smoke-like settings only: these tests check the protocol (counts, durations,
warm-up, threads, errors), never how fast anything runs.
"""

from __future__ import annotations

import json
import os
import time
from typing import ClassVar

import pytest
import torch
from torch import nn

from rtbench.budgets import Budget
from rtbench.errors import ConfigError
from rtbench.hardware import env
from rtbench.hardware.env import device_name, environment_info
from rtbench.hardware.measure import (
    MIN_STREAM_BATCHES,
    LatencyResult,
    ThroughputResult,
    check_constraints,
    count_flops,
    count_params,
    measure_all,
    measure_latency,
    measure_latency_paired,
    measure_throughput,
    profile_threads,
)
from rtbench.hardware.profile import HardwareProfile, load_profile
from rtbench.tasks import CINE

SHAPE = (1, 16, 16)


class Counting(nn.Module):
    """A 1 -> 4 class conv that counts forward passes and records torch's thread count.

    The counters live on the class because the harness measures a deep copy of the module.
    """

    calls: ClassVar[int] = 0
    threads_seen: ClassVar[set[int]] = set()

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Counting.calls += 1
        Counting.threads_seen.add(torch.get_num_threads())
        return self.conv(x)


@pytest.fixture
def model() -> Counting:
    Counting.calls = 0
    Counting.threads_seen = set()
    return Counting()


def tiny_profile(**fields: object) -> HardwareProfile:
    settings: dict[str, object] = dict(
        name="tiny",
        threads=1,
        stream_batch=4,
        warmup_queries=3,
        min_queries=5,
        min_duration_s=0.0,
        throughput_min_duration_s=0.0,
    )
    settings.update(fields)
    return HardwareProfile(**settings)  # type: ignore[arg-type]


def test_latency_percentiles_are_ordered(model: Counting) -> None:
    lat = measure_latency(model, SHAPE, tiny_profile(min_queries=30))
    assert 0 < lat.min_ms <= lat.p50_ms <= lat.p90_ms <= lat.p99_ms <= lat.max_ms
    assert lat.min_ms <= lat.mean_ms <= lat.max_ms


def test_latency_stops_at_min_queries_when_duration_is_met(model: Counting) -> None:
    assert measure_latency(model, SHAPE, tiny_profile(min_queries=40)).queries == 40


def test_latency_runs_for_min_duration_beyond_min_queries(model: Counting) -> None:
    lat = measure_latency(model, SHAPE, tiny_profile(min_queries=2, min_duration_s=0.2))
    assert lat.duration_s >= 0.2
    assert lat.queries >= 2


def test_budget_overrides_profile_settings(model: Counting) -> None:
    budget = Budget(name="tiny", min_queries=7, warmup_queries=2)
    lat = measure_latency(model, SHAPE, tiny_profile(min_queries=10_000, warmup_queries=50), budget)
    assert lat.queries == 7
    assert Counting.calls == 2 + 7


def test_warmup_queries_are_not_counted(model: Counting) -> None:
    lat = measure_latency(model, SHAPE, tiny_profile(warmup_queries=6, min_queries=9))
    assert lat.queries == 9
    assert Counting.calls == 6 + 9


class Slow(nn.Module):
    """Sleeps ``ms`` per forward pass, then returns 4-class logits."""

    def __init__(self, ms: float) -> None:
        super().__init__()
        self.ms = ms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.ms / 1000)
        return x.repeat(1, 4, 1, 1)


def test_paired_latency_interleaves_and_times_each_network_apart(model: Counting) -> None:
    lat, ref = measure_latency_paired(model, Slow(4.0), SHAPE, tiny_profile(warmup_queries=3, min_queries=7))
    assert lat.queries == ref.queries == 7
    assert Counting.calls == 3 + 7  # warm-up and timed queries of the model only; the reference is another module
    assert ref.p50_ms >= 4.0 > lat.p50_ms  # each network's own time, not the pair's
    assert lat.duration_s == ref.duration_s > 0


def test_paired_latency_runs_for_min_duration(model: Counting) -> None:
    lat, ref = measure_latency_paired(model, Slow(5.0), SHAPE, tiny_profile(min_queries=2, min_duration_s=0.1))
    assert lat.duration_s >= 0.1 and lat.queries == ref.queries > 2


def test_throughput_counts_whole_batches(model: Counting) -> None:
    tp = measure_throughput(model, SHAPE, tiny_profile(stream_batch=4))
    assert tp.fps > 0
    assert tp.batch_size == 4
    assert tp.frames >= MIN_STREAM_BATCHES * 4
    assert tp.frames % 4 == 0


def test_throughput_runs_for_min_duration(model: Counting) -> None:
    tp = measure_throughput(model, SHAPE, tiny_profile(throughput_min_duration_s=0.2))
    assert tp.duration_s >= 0.2
    assert tp.fps == pytest.approx(tp.frames / tp.duration_s)


def test_threads_are_set_during_measurement_and_restored_after(model: Counting) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        measure_latency(model, SHAPE, tiny_profile(threads=2))
        measure_throughput(model, SHAPE, tiny_profile(threads=2))
        assert Counting.threads_seen == {2}
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("threads", "cores", "expected"), [(3, 2, 3), (0, 8, 8), (-1, 8, 7), (-1, 2, 1), (-1, 1, 1), (-4, 2, 1)])
def test_num_threads_counts_cores_for_zero_and_negative(monkeypatch: pytest.MonkeyPatch, threads: int, cores: int, expected: int) -> None:
    monkeypatch.setattr("rtbench.hardware.profile.os.cpu_count", lambda: cores)
    assert tiny_profile(threads=threads).num_threads() == expected


def test_local_cpu_leaves_one_core_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rtbench.hardware.profile.os.cpu_count", lambda: 16)
    assert load_profile("local-cpu").num_threads() == 15


def test_profile_threads_restores_after_an_error() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), profile_threads(tiny_profile(threads=before + 1)):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_callers_model_is_left_as_it_was(model: Counting) -> None:
    model.train()
    weight = model.conv.weight.detach().clone()
    measure_latency(model, SHAPE, tiny_profile(dtype="bfloat16"))
    assert model.training
    assert model.conv.weight.dtype == torch.float32
    assert torch.equal(model.conv.weight, weight)


def test_bfloat16_runs_on_cpu(model: Counting) -> None:
    assert measure_latency(model, SHAPE, tiny_profile(dtype="bfloat16")).queries == 5


def test_float16_on_cpu_is_a_config_error(model: Counting) -> None:
    with pytest.raises(ConfigError, match="float16 is not supported on device cpu"):
        measure_latency(model, SHAPE, tiny_profile(dtype="float16"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_profile_without_cuda_is_a_config_error(model: Counting) -> None:
    with pytest.raises(ConfigError, match="'tiny-gpu'.*CUDA is not available"):
        measure_latency(model, SHAPE, tiny_profile(name="tiny-gpu", device="cuda"))


def test_count_flops_of_one_conv_is_twice_its_macs() -> None:
    c_in, c_out, h, w = 3, 5, 16, 16
    assert count_flops(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), (c_in, h, w)) == 2 * c_in * c_out * 9 * h * w


def test_count_params() -> None:
    assert count_params(nn.Conv2d(3, 5, 3)) == 3 * 5 * 9 + 5


def test_check_constraints_names_the_broken_ones() -> None:
    fast = LatencyResult(p50_ms=5, p90_ms=6, p99_ms=7, mean_ms=5, min_ms=4, max_ms=8, queries=100, duration_s=2)
    slow = LatencyResult(p50_ms=40, p90_ms=60, p99_ms=70, mean_ms=45, min_ms=30, max_ms=80, queries=100, duration_s=2)
    many = ThroughputResult(fps=100.0, frames=800, batch_size=8, duration_s=8.0)
    few = ThroughputResult(fps=21.0, frames=168, batch_size=8, duration_s=8.0)
    assert check_constraints(CINE, fast, many) == []
    assert check_constraints(CINE, slow, many) == ["latency"]
    assert check_constraints(CINE, fast, few) == ["throughput"]
    assert check_constraints(CINE, slow, few) == ["latency", "throughput"]


def test_measure_all_is_json_able(model: Counting) -> None:
    out = measure_all(model, SHAPE, tiny_profile())
    assert set(out) == {"latency", "throughput", "params", "flops"}
    assert out["latency"]["queries"] == 5
    assert out["params"] == count_params(model)
    json.dumps(out)


def test_progress_reports_start_and_end(model: Counting) -> None:
    lines: list[str] = []
    measure_latency(model, SHAPE, tiny_profile(), progress=lines.append)
    measure_throughput(model, SHAPE, tiny_profile(), progress=lines.append)
    assert [line.split(":")[0] for line in lines] == ["latency", "latency", "throughput", "throughput"]


def test_environment_info_records_versions_and_threads() -> None:
    info = environment_info(tiny_profile(threads=3))
    assert info["torch"] and info["python"]
    assert info["torch_threads"] == 3
    assert info["cuda_device"] is None
    json.dumps(info)
    assert device_name(tiny_profile()) == info["cpu"]


def test_cpu_busy_cores_is_the_busy_share_of_the_window_times_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # two /proc/stat samples: 300 of 400 jiffies busy in the window -> 3/4 of the cores
    samples = iter([(1000, 4000), (1300, 4400)])
    monkeypatch.setattr(env, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(env.os, "cpu_count", lambda: 4)
    assert env.cpu_busy_cores(window_s=0.0) == pytest.approx(3.0)


def test_cpu_busy_cores_reads_this_machine() -> None:
    busy = env.cpu_busy_cores(window_s=0.05)
    if busy is not None:  # None only where the OS offers neither /proc/stat nor a load average
        assert 0.0 <= busy <= 2 * (os.cpu_count() or 1)  # load average may exceed the cores a little
