"""``bench export`` and ``bench runtimes``: a run's trained networks outside eager PyTorch.

    bench export RUN [candidate=KEY] [fold=0] format=onnx [out=PATH] [samples=8] [runs.dir=runs]
    bench runtimes RUN [candidate=KEY] [fold=0] [runtimes=eager,onnxruntime,...] [block=10] [hardware=PROFILE] [runs.dir=runs]

``RUN`` is a run id (or a unique prefix of one) in ``runs.dir``, a run folder or its record.json.
``bench export`` writes each chosen candidate (every candidate without ``candidate=``) to
``<run>/export/<key>-f<fold>.onnx`` (``out=``: a file for one candidate, else a folder), with its
fidelity report beside it; exit 1 when a fidelity check fails. ``bench runtimes`` times each
candidate under every runtime this machine can run (``rtbench.hardware.runtime_compare``,
interleaved), prints p50/p90/throughput, achieved GFLOP/s against the matmul roofline and the
task's verdict per runtime, and writes ``<run>/runtimes/runtimes.{csv,json}``; with ``hardware=PROFILE``
(another profile than the run's, e.g. ``cuda`` for a run trained on a CPU) it times there and writes
``runtimes-<profile>.{csv,json}``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtbench.errors import ConfigError

Echo = Callable[[str], None]
Show = Callable[[str, Any], None]

_COMMON: dict[str, type] = {"candidate": str, "fold": int, "runs.dir": str}


def _args(command: str, args: list[str], keys: dict[str, type], defaults: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(RUN, typed key=value options) of ``bench <command> RUN key=value ...``; one-line errors name the key."""
    from rtbench.config import parse_overrides, typed_args

    if not args or "=" in args[0]:
        raise ConfigError(f"bench {command} needs a run first (a run id, a run folder or its record.json; see bench runs)")
    return args[0], {**defaults, **typed_args(parse_overrides(args[1:]), keys)}


def cmd_export(args: list[str], echo: Echo) -> int:
    from rtbench.export import find_run, load_trained
    from rtbench.export.to_onnx import FORMATS, export_onnx
    from rtbench.hardware.runtime import missing

    keys = {**_COMMON, "format": str, "out": str, "samples": int}
    run_name, a = _args("export", args, keys, {"candidate": "", "fold": 0, "runs.dir": "runs", "format": "", "out": "", "samples": 8})
    if a["format"] not in FORMATS:
        raise ConfigError(f"bench export: format='{a['format']}' is not valid; expected one of: {', '.join(FORMATS)} (e.g. format=onnx)")
    if why := missing("onnxruntime"):
        raise ConfigError(f"bench export format=onnx checks the file with ONNX Runtime: {why}")
    run = find_run(run_name, a["runs.dir"])
    cands = run.candidates(a["candidate"])
    failed = 0
    for cand in cands:
        model = load_trained(run, cand, a["fold"])
        name = f"{cand['key']}-f{a['fold']}.onnx"
        out = Path(a["out"]) if a["out"] and len(cands) == 1 and a["out"].endswith(".onnx") else Path(a["out"] or run.folder.export) / name
        echo(f"export: {cand['label']} [{cand['key']}] fold {a['fold']} of run {run.name} -> {out}")
        path, fidelity = export_onnx(run, cand, model, a["fold"], out, a["samples"])
        echo(f"  {fidelity.line()}")
        echo(f"  report: {path.with_name(path.name + '.fidelity.json')}")
        failed += not fidelity.passed
    return 1 if failed else 0


def cmd_runtimes(args: list[str], echo: Echo, show: Show) -> int:
    import pandas as pd

    from rtbench.export import find_run
    from rtbench.export.compare import compare_runtimes, verdict_changes
    from rtbench.hardware.profile import load_profile
    from rtbench.jsonio import write_json_atomic

    keys = {**_COMMON, "runtimes": str, "block": int, "hardware": str}
    defaults = {"candidate": "", "fold": 0, "runs.dir": "runs", "runtimes": "", "block": 10, "hardware": ""}
    run_name, a = _args("runtimes", args, keys, defaults)
    run = find_run(run_name, a["runs.dir"])
    other = load_profile(a["hardware"]) if a["hardware"] else None
    result = compare_runtimes(run, a["candidate"], a["fold"], a["runtimes"], a["block"], echo, other)
    roof, rows = result["roofline"], result["rows"]
    title = f"Runtimes | run {run.name} | {result['profile']} | roofline {roof['gflops']:.1f} GFLOP/s | latency checked on p90"
    show(title, pd.DataFrame(rows))
    changed = verdict_changes(rows)
    echo("verdicts that change between runtimes: " + (", ".join(changed) if changed else "none"))
    run.folder.runtimes.mkdir(parents=True, exist_ok=True)
    stem = f"runtimes-{other.name}" if other is not None and other.name != run.spec.hardware.name else "runtimes"
    pd.DataFrame(rows).to_csv(run.folder.runtimes / f"{stem}.csv", index=False)
    write_json_atomic(run.folder.runtimes / f"{stem}.json", {"run_id": run.name} | result)
    echo(f"written: {run.folder.runtimes / stem}.csv and {stem}.json")
    return 0
