"""A run's candidates under every runtime: the rows of ``bench runtimes`` and ``benchmarks/runtimes_table.py``.

Each candidate is rebuilt with its trained weights (fold ``fold``; a run that kept none is timed
with fresh weights, which the row says: latency does not depend on weight values) and timed
under each runtime by :func:`rtbench.hardware.runtime_compare.time_runtimes` (interleaved,
round-robin blocks) on the run's own profile (or another one given) and budget settings. A row holds p50/p90 latency
(ms), throughput (frames/s), FLOPs per frame, the achieved GFLOP/s (FLOPs / p50: the whole
end-to-end query, copies and argmax included), its share of the matmul roofline measured first
(:func:`rtbench.hardware.runtime_compare.matmul_roofline`) and the task's verdict on p90 and
throughput under that runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rtbench.errors import ConfigError
from rtbench.export.trained import Run, build, input_shape, load_trained
from rtbench.hardware.profile import HardwareProfile


def choose_runtimes(spec: str, device: str, dtype: str, echo: Callable[[str], None]) -> list[str]:
    """The runtimes of ``spec`` (comma-separated; "" = every one this machine can run); ConfigError naming a bad one."""
    from rtbench.hardware.runtime import RUNTIMES, available, missing

    chosen = [r.strip() for r in spec.split(",") if r.strip()] or available(device, dtype)
    for rt in chosen:
        if rt not in RUNTIMES:
            raise ConfigError(f"runtimes={spec}: '{rt}' is not a runtime; expected some of: {', '.join(RUNTIMES)}")
        if why := missing(rt, device, dtype):
            raise ConfigError(f"runtimes={spec}: runtime {rt} cannot run on this machine: {why}")
    for rt in (r for r in RUNTIMES if r not in chosen):
        echo(f"runtimes: {rt} not timed: {missing(rt, device, dtype) or 'not asked for (runtimes=)'}")
    return chosen


def compare_runtimes(
    run: Run,
    candidate: str = "",
    fold: int = 0,
    runtimes: str = "",
    block: int = 10,
    echo: Callable[[str], None] = print,
    hardware: HardwareProfile | None = None,
) -> dict[str, Any]:
    """``{"profile": label, "runtimes": [...], "roofline": {...}, "rows": [one per (candidate, runtime)]}`` for ``run``.

    ``hardware``: time on this profile instead of the run's own (``bench runtimes RUN hardware=cuda``:
    a CPU run's trained networks on a GPU); its device and dtype decide which runtimes can run.
    """
    from rtbench.hardware.measure import count_flops
    from rtbench.hardware.runtime_compare import matmul_roofline, time_runtimes
    from rtbench.tasks import get_task

    profile, task = hardware or run.spec.hardware, get_task(run.spec.task)
    chosen = choose_runtimes(runtimes, profile.device, profile.dtype, echo)
    roof = matmul_roofline(profile)
    echo(f"roofline: {roof['gflops']:.1f} GFLOP/s ({roof['method']})")
    rows = []
    for cand in run.candidates(candidate):
        try:
            model, weights = load_trained(run, cand, fold), f"trained (fold {fold})"
        except ConfigError:
            model, weights = build(run, cand), "untrained (the run kept no weights)"
        shape = input_shape(run, cand)
        flops = count_flops(model, shape)
        echo(f"runtimes: {cand['label']} [{cand['key']}], {flops / 1e9:.3f} GFLOPs, weights {weights}")
        one_frame = (task.in_channels, shape[1], shape[2])
        timings = time_runtimes(model, one_frame, profile, chosen, run.spec.budget, shape[0] // task.in_channels, block, echo)
        for rt, t in timings.items():
            row: dict[str, Any] = {"candidate": cand["label"], "key": cand["key"], "runtime": rt, "GFLOPs": float(f"{flops / 1e9:.4g}")}
            if t.latency is None or t.throughput is None:
                rows.append(row | {"verdict": f"not timed: {t.error}", "weights": weights})
                continue
            achieved = flops / (t.latency.p50_ms / 1e3) / 1e9
            broken = task.broken({"latency_p90_ms": t.latency.p90_ms, "throughput_fps": t.throughput.fps})
            rows.append(
                row
                | {
                    "p50 ms": round(t.latency.p50_ms, 2),
                    "p90 ms": round(t.latency.p90_ms, 2),
                    "fps": round(t.throughput.fps, 1),
                    "GFLOP/s": round(achieved, 2),
                    "% roofline": round(100 * achieved / roof["gflops"], 1),
                    "queries": t.latency.queries,
                    "verdict": "ok" if not broken else "breaks " + ", ".join(broken),
                    "weights": weights,
                }
            )
    return {"profile": profile.name, "runtimes": chosen, "roofline": roof, "rows": rows}


def verdict_changes(rows: list[dict[str, Any]]) -> list[str]:
    """Labels of the candidates whose verdict differs between runtimes (rows not timed left out)."""
    seen: dict[str, set[str]] = {}
    labels: dict[str, str] = {}
    for r in rows:
        if not str(r["verdict"]).startswith("not timed"):
            seen.setdefault(r["key"], set()).add(str(r["verdict"]))
            labels[r["key"]] = f"{r['candidate']} [{r['key']}]"
    return [labels[k] for k, v in seen.items() if len(v) > 1]
