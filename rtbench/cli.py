"""``bench``: the command line of rtbench.

    bench submit [key=value ...]       search, train, score and time one method; write its record
    bench runs [runs.dir=PATH]         list run folders: complete, partial, tampered, unsealed, no record
    bench leaderboard [runs.dir=PATH] [out=DIR]  constraint-checked table per board; out= also writes the static site
    bench methods                      registered methods, one line each
    bench profile hardware=NAME space=NAME [budget=quick] [hardware.runtime=eager]   build/resume a latency lookup table
    bench latency-check hardware=NAME space=NAME n=50 [budget=quick] [seed=0] [calibration_n=20] [drift=reference|none] [out=DIR]
    bench reproduce NAME [key=value ...]  a paper's table beside the paper's own numbers
    bench export RUN format=onnx [candidate=KEY] [fold=0] [out=PATH]   a trained candidate as ONNX, checked
    bench runtimes RUN [candidate=KEY] [runtimes=eager,onnxruntime]  p50/p90/fps per runtime, interleaved

Every mistake in the arguments stops before any work with one line naming it (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rtbench.cli_runtime import cmd_export, cmd_runtimes
from rtbench.errors import RTBenchError

# a pipe or a log file gets wide lines rather than an 80-column table with every cell cut short
console = Console(highlight=False) if sys.stdout.isatty() else Console(highlight=False, width=400)


def _echo(line: str) -> None:
    console.print(line, markup=False, soft_wrap=True)


def _runs_dir(args: list[str]) -> Path:
    from rtbench.config import parse_overrides
    from rtbench.runfolder import check_store

    kv = parse_overrides(args)
    unknown = [k for k in kv if k != "runs.dir"]
    if unknown:
        raise RTBenchError(f"unknown key '{unknown[0]}'; valid keys: runs.dir")
    return check_store(kv.get("runs.dir", "runs"))


def _warn(line: str) -> None:
    """One line on stderr: a problem with the run store that does not stop the command."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


def _print_frame(title: str, df: Any) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in df.columns:
        table.add_column(str(col), justify="left" if col in ("method", "candidate", "verdict", "board", "run") else "right")
    for _, row in df.iterrows():
        table.add_row(*[str(v) for v in row.tolist()])
    console.print(table)


def cmd_submit(args: list[str]) -> int:
    from rtbench.config import resolve
    from rtbench.leaderboard.table import candidate_row, rank_board, render_board
    from rtbench.runfolder import RunFolder
    from rtbench.runner import submit

    spec = resolve(args)
    result = submit(spec, echo=_echo)
    rec = result.record
    import pandas as pd

    df = pd.DataFrame([candidate_row(rec, c) for c in rec["candidates"]])
    if not df.empty:
        header, out = render_board(rec["board"], rank_board(df))
        _print_frame(header, out)
    for f in rec["failures"]:
        _echo(f"failed: {f['unit']}: {f['error']}")
    _echo(f"record: {RunFolder(result.run_dir).record}  (status: {rec['status']})")
    if result.stopped_by_user:
        _echo("interrupted (Ctrl-C): run the same command again to resume (finished trials are not re-run)")
        return 130
    if result.interrupted:
        _echo("the run is incomplete: run the same command again to resume (finished trials are not re-run)")
        return 1
    return 0


_NO_RECORD = {"bad record": "incomplete (unreadable record)"}  # "no record": how far it got (rtbench.runprogress)


def cmd_runs(args: list[str]) -> int:
    """Every run folder, with its record's status, or what is wrong with its record (tampered, unsealed,
    none); a run without a record yet says how far it got and whether a submit is on it (``rtbench.runprogress``)."""
    import pandas as pd

    from rtbench.runprogress import progress
    from rtbench.store import board_of, scan_runs

    runs_dir = _runs_dir(args)
    rows = []
    for entry in scan_runs(runs_dir, warn=_warn):
        rec = entry.record if entry.state in ("ok", "tampered", "unsealed") else None
        status = {"ok": str(entry.field("status")), **_NO_RECORD}
        best = entry.best_dice()
        rows.append(
            {
                "board": board_of(entry),
                "run": entry.field("run_id", entry.folder.root.name),
                "method": entry.method,
                "status": f"incomplete ({progress(entry.folder)})" if entry.state == "no record" else status.get(entry.state, entry.state),
                "candidates": len(rec["candidates"]) if rec else "-",
                "best Dice": "-" if best is None else f"{best:.3f}",
                "updated": entry.field("updated", "-"),
            }
        )
    if not rows:
        _echo(f"no run records under {runs_dir}")
        return 0
    _print_frame("Runs", pd.DataFrame(rows))
    return 0


def cmd_leaderboard(args: list[str]) -> int:
    """The console table per board; with ``out=DIR`` also the static site (``rtbench.leaderboard.site``) written there."""
    from rtbench.config import parse_overrides
    from rtbench.leaderboard.table import collect, rank_board, render_board
    from rtbench.runfolder import check_store

    kv = parse_overrides(args)
    unknown = [k for k in kv if k not in ("runs.dir", "out")]
    if unknown:
        raise RTBenchError(f"unknown key '{unknown[0]}'; valid keys: runs.dir, out")
    if "out" in kv and not kv["out"].strip():
        raise RTBenchError("out= needs a folder, e.g. out=site")
    runs_dir = check_store(kv.get("runs.dir", "runs"))
    df = collect(runs_dir, warn=_warn)
    if df.empty:
        _echo(f"no run records under {runs_dir}")
    for board, part in df.groupby("board", sort=True) if not df.empty else []:
        header, out = render_board(str(board), rank_board(part))
        _print_frame(header, out)
    if "out" in kv:
        from rtbench.leaderboard.site import build_site

        out_dir = Path(kv["out"]).expanduser()
        if out_dir.exists() and not out_dir.is_dir():
            raise RTBenchError(f"out={kv['out']} is a file, not a folder")
        files = build_site(runs_dir, out_dir, warn=lambda line: None)  # collect() above already warned about each bad record
        _echo(f"site: {len(files)} files -> {out_dir / 'index.html'}")
    return 0


def cmd_methods(args: list[str]) -> int:
    """Every method that loads, one line each; each that does not, with its error. Exit 1 only if a built-in is broken."""
    from rtbench.methods import METHODS

    if args:
        raise RTBenchError(f"bench methods takes no arguments, got '{args[0]}'")
    found = METHODS.load_all()
    for name, cls in found.classes.items():
        try:
            opts = ", ".join(f"{k}={v!r}" for k, v in vars(cls.Config()).items())
        except Exception as err:  # a plug-in whose defaults its own checks refuse
            found.errors[name] = f"its Config() fails: {type(err).__name__}: {err}"
            continue
        _echo(f"{name:<18} space={cls.space:<8} {cls.description}" + (f"  [{opts}]" if opts else ""))
    for name, error in sorted(found.errors.items()):
        _echo(f"{name:<18} BROKEN: {error}")
    broken_builtin = [n for n in found.errors if n in METHODS.builtin_names()]
    return 1 if broken_builtin else 0


def _tool_args(args: list[str], allowed: dict[str, type], defaults: dict[str, Any]) -> dict[str, Any]:
    """key=value arguments of the table tools, typed, with one-line errors naming the key."""
    from rtbench.config import parse_overrides, typed_args

    return {**defaults, **typed_args(parse_overrides(args), allowed)}


_TABLE_KEYS: dict[str, type] = {"hardware": str, "hardware.runtime": str, "space": str, "budget": str, "task": str, "image_size": int}
_TABLE_DEFAULTS: dict[str, Any] = {"hardware": "local-cpu", "hardware.runtime": "", "space": "msnas", "budget": "quick", "task": "cine"}
_TABLE_DEFAULTS["image_size"] = 0


def _table_target(a: dict[str, Any]) -> tuple[Any, Any, int, Any]:
    from rtbench.budgets import get_budget
    from rtbench.hardware.profile import load_profile
    from rtbench.spaces.base import SPACES
    from rtbench.tasks import get_task

    profile = load_profile(a["hardware"], **({"runtime": a["hardware.runtime"]} if a["hardware.runtime"] else {}))
    size = a["image_size"] or get_budget(a["budget"]).image_size
    return SPACES.create(a["space"]), profile, size, get_task(a["task"])


def cmd_profile(args: list[str]) -> int:
    from rtbench.hardware.lut import build_table

    a = _tool_args(args, _TABLE_KEYS, _TABLE_DEFAULTS)
    space, profile, size, task = _table_target(a)
    table = build_table(space, profile, size, task, progress=_echo)
    _echo(f"latency table: {len(table)} entries -> {table.path}")
    return 0


def cmd_latency_check(args: list[str]) -> int:
    from rtbench.hardware.fidelity import run_latency_check

    keys = {**_TABLE_KEYS, "n": int, "seed": int, "calibration_n": int, "out": str, "drift": str}
    a = _tool_args(args, keys, {**_TABLE_DEFAULTS, "n": 50, "seed": 0, "calibration_n": 20, "out": "", "drift": "reference"})
    space, profile, size, task = _table_target(a)
    report = run_latency_check(
        space,
        profile,
        n=a["n"],
        image_size=size,
        seed=a["seed"],
        calibration_n=a["calibration_n"],
        out_dir=a["out"] or None,
        progress=_echo,
        task=task,
        drift=a["drift"],
    )
    _echo(report.format_table())
    return 0


def cmd_reproduce(args: list[str]) -> int:
    from rtbench.reproduce import REPRODUCTIONS, reproduce

    if not args or "=" in args[0]:
        raise RTBenchError(f"bench reproduce needs a table name first; valid names: {', '.join(REPRODUCTIONS)}")
    return reproduce(args[0], args[1:], echo=_echo, show=_print_frame)


COMMANDS = {
    "submit": (cmd_submit, "search, train, score and time one method (key=value overrides)"),
    "runs": (cmd_runs, "list run records"),
    "leaderboard": (cmd_leaderboard, "constraint-checked table per board; out=DIR also writes the static site"),
    "methods": (cmd_methods, "list registered methods"),
    "profile": (cmd_profile, "build (or resume) a latency lookup table for a space on a hardware profile"),
    "latency-check": (cmd_latency_check, "how well the latency models predict measured networks"),
    "reproduce": (cmd_reproduce, "a paper's table beside the paper's own numbers"),
    "export": (lambda args: cmd_export(args, _echo), "a trained candidate as an ONNX file, checked against PyTorch (format=onnx)"),
    "runtimes": (lambda args: cmd_runtimes(args, _echo, _print_frame), "each candidate's latency under every runtime, interleaved"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="rtbench: NAS under real-time constraints for cardiac segmentation")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        p.add_argument("args", nargs="*", metavar="key=value")
    ns = parser.parse_args(argv)
    if not ns.command:
        parser.print_help()
        return 2
    fn = COMMANDS[ns.command][0]
    try:
        return fn(ns.args)
    except RTBenchError as err:
        console.print(f"error: {err}", markup=False, style="red")
        return 2
    except KeyboardInterrupt:
        _echo("interrupted: run the same command again to resume (finished trials are not re-run)")
        return 130


if __name__ == "__main__":
    # ``python -m rtbench.cli``: run the importable module's main, not this ``__main__`` copy, or Ray
    # pickles this module's functions by value (the console's lock included) and the submit fails.
    from rtbench.cli import main as _main

    sys.exit(_main())
