"""Run the several submissions a reproduction needs, one after the other, each resumable, none fatal to the rest.

A :class:`Submission` is one ``bench submit`` of the reproduction: a method, the settings the
table fixes (``method.n=3`` for ICA-UNet (n=3); the user may not override them) and defaults the
user may override (``method.samples=12`` for the random cloud of Fig. 2). Each runs through
``rtbench.runner.submit``, so it lands in the run folder of its configuration: the same command
resumes it, and a second reproduction that needs the same configuration (Fig. 2 reuses Table 2's
runs) finds it finished and re-runs nothing.

The user's ``key=value`` overrides. ``dataset=``, ``hardware=``, ``budget=``, ``seed=``,
``ray.*``, ``runs.dir=`` (every key ``bench submit`` takes except ``method=``) apply to every
submission. ``method.<field>=`` applies to each submission whose method has that option (its
``Config`` field, or one of the submission's defaults), e.g. ``method.layers=4`` to every method
of the ``msnas`` space alike, so the methods share one exploration space as seed 000's comparison
does; it is refused when no submission takes it, or when a submission fixes it. A key that a
submission lists among its defaults is that submission's alone: Fig. 2's ``method.samples=K``
sizes the random cloud and never reaches ``bixnas`` (whose own ``samples`` option would otherwise
change its run, and Fig. 2 would no longer reuse Table 2's).

Reading without running. ``submit=no`` submits nothing: each run's record is read from the folder
its configuration maps to, so the table or figure shows what has finished (a run still going in
another process, or left for later, reads ``not measured``) while the long runs go on.

Failures. A submission whose method is not registered here, or does not take the settings the
table fixes for it (an option renamed), is not run (its rows read "not measured", naming why); a
mistake in the user's keys stops everything before any work. A
submission that fails while running is reported and the next one starts; its finished trials stay
in its run folder. After Ctrl-C no further submission starts; the records already in the run
folders of the rest are still read, so the table shows every finished run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.config import RunSpec, parse_overrides, resolve
from rtbench.errors import ConfigError, RTBenchError
from rtbench.methods import METHODS
from rtbench.reproduce.outputs import Echo
from rtbench.runfolder import board_folder
from rtbench.runner import submit
from rtbench.store import read_entry

WHERE_KEYS = ("runs.dir", "device", "submit")
"""Keys (and the ``ray.`` group) that say where or whether a run happens, not what it is: left out of the output folder's name."""

SUBMIT_VALUES = {"yes": True, "no": False}
"""``submit=``: ``no`` writes the table from the runs already in their folders and submits nothing."""


@dataclass(frozen=True)
class Submission:
    """One submission of a reproduction (see the module docstring).

    Attributes:
        method: the registered method name.
        fixed: ``method.<field>=VALUE`` settings the table fixes.
        defaults: ``method.<field>=VALUE`` settings the user may override.
        slow: run after the others (hours on a CPU), so the rest of the table is ready first; the
            table's row order is unchanged.
    """

    method: str
    fixed: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    slow: bool = False

    @property
    def name(self) -> str:
        """``icaunet n=3``: the method and its settings, for progress lines and tables."""
        return " ".join([self.method, *(s.removeprefix("method.") for s in (*self.fixed, *self.defaults))])

    def fixed_keys(self) -> set[str]:
        return set(parse_overrides(list(self.fixed)))

    def registered(self) -> bool:
        try:
            METHODS.get(self.method)
        except RTBenchError:
            return False
        return True

    def option_keys(self) -> set[str]:
        """``method.<field>`` keys the method takes: its defaults' keys and, when it is registered here, its Config fields."""
        keys = set(parse_overrides(list(self.defaults)))
        if self.registered():
            keys |= {f"method.{f.name}" for f in dataclasses.fields(METHODS.get(self.method).Config)}
        return keys


@dataclass
class Finished:
    """What one submission left: its record (None if there is none to read) and why it is incomplete."""

    submission: Submission
    spec: RunSpec | None
    record: dict[str, Any] | None = None
    problem: str = ""
    run_dir: Path | None = None
    launched: list[str] = field(default_factory=list)
    submit: bool = True
    stopped_by_user: bool = False

    @property
    def complete(self) -> bool:
        return self.record is not None and self.record.get("status") == "complete" and not self.problem

    @property
    def name(self) -> str:
        """The submission's name with the values its run uses (``random samples=30`` when the user
        gave ``method.samples=30``; :attr:`Submission.name` shows the defaults), for progress lines
        and tables. The output folder's hash keeps :attr:`Submission.name` and the arguments."""
        sub = self.submission
        if self.spec is None or not sub.defaults:
            return sub.name
        shown = []
        for setting in sub.defaults:
            key = setting.split("=", 1)[0].removeprefix("method.")
            value = self.spec.method_config.get(key)
            shown.append(f"{key}={value}" if isinstance(value, int | float | str) else setting.removeprefix("method."))
        return " ".join([sub.method, *(s.removeprefix("method.") for s in sub.fixed), *shown])


def plan(submissions: list[Submission], args: list[str]) -> list[Finished]:
    """Each distinct submission with its resolved spec (None, with the reason, when its method is not
    registered here or does not take the settings the table fixes for it).

    ConfigError, before any work, on ``method=``, on a ``method.<field>`` that no submission takes
    or that one fixes, and on any user key a submission cannot resolve.
    """
    user = parse_overrides(args)
    submit_now = submit_flag(user.pop("submit", "yes"))
    if "method" in user:
        raise ConfigError(f"this reproduction chooses the methods itself; it cannot take method={user['method']}")
    subs = list(dict.fromkeys(submissions))
    options = {s: s.option_keys() for s in subs}
    for key in (k for k in user if k.startswith("method.")):
        fixing = [s.name for s in subs if key in s.fixed_keys()]
        if fixing:
            raise ConfigError(f"{key} is fixed by this reproduction ({'; '.join(fixing)}); it cannot take {key}={user[key]}")
        if not any(key in opts for opts in options.values()):
            missing = [s.method for s in subs if not s.registered()]
            absent = f"; not registered here: {', '.join(missing)}" if missing else ""
            raise ConfigError(f"{key}: none of this reproduction's methods ({', '.join(s.method for s in subs)}) has that option{absent}")
    owned = {k for s in subs for k in parse_overrides(list(s.defaults))}
    out = []
    for sub in subs:
        mine_defaults = set(parse_overrides(list(sub.defaults)))
        opts = {k for k in options[sub] if k not in owned or k in mine_defaults}
        if not sub.registered():
            out.append(Finished(sub, None, problem=f"method '{sub.method}' is not registered here"))
            continue
        mine = {k: v for k, v in user.items() if not k.startswith("method.") or k in opts}
        own = {"method": sub.method, **parse_overrides([*sub.defaults, *sub.fixed])}
        try:
            out.append(Finished(sub, resolve({**own, **mine}), submit=submit_now))
        except ConfigError as err:
            if _resolves(own):  # the user's keys are at fault: stop before any work
                raise
            out.append(Finished(sub, None, problem=f"the method does not take this reproduction's settings: {err}"))
    return out


def submit_flag(value: str) -> bool:
    """``submit=yes`` (default: run or resume every submission) or ``submit=no`` (read what the run folders hold)."""
    if value not in SUBMIT_VALUES:
        raise ConfigError(f"submit={value} is not valid; expected one of {', '.join(SUBMIT_VALUES)}")
    return SUBMIT_VALUES[value]


def _resolves(overrides: dict[str, str]) -> bool:
    try:
        resolve(overrides)
    except ConfigError:
        return False
    return True


def run_all(planned: list[Finished], echo: Echo) -> list[Finished]:
    """Submit (or resume) every planned submission in order, with ``[i/n name]`` progress; see the module docstring."""
    todo = sorted((p for p in planned if p.spec is not None), key=lambda p: p.submission.slow)  # stable: slow ones last
    stopped = False
    for i, p in enumerate(todo, 1):
        assert p.spec is not None
        tag = f"[{i}/{len(todo)} {p.name}]"
        p.run_dir = p.spec.folder.root
        if stopped:
            _read_existing(p, "not run: the reproduction was stopped (Ctrl-C)")
            p.stopped_by_user = True
            continue
        if not p.submit:
            _read_existing(p, "")
            if not p.complete:
                p.problem = "not submitted (submit=no): run the command without submit=no to run or resume it"
            echo(f"{tag} submit=no: " + ("complete" if p.complete else f"run {p.spec.run_id} is not complete"))
            continue
        echo(f"{tag} submitting run {p.spec.run_id}")
        try:
            result = submit(p.spec, echo=lambda line, tag=tag: echo(f"{tag} {line}"))
        except Exception as err:  # one submission's failure must not lose the others: report it, read what it left
            _read_existing(p, f"{type(err).__name__}: {err}")
            echo(f"{tag} FAILED: {p.problem}")
            continue
        p.record, p.launched = result.record, result.launched
        stopped = p.stopped_by_user = result.stopped_by_user
        state = "complete" if p.complete else f"{p.record['status']}: {len(p.record.get('failures', []))} failed trial(s)"
        echo(f"{tag} {state}")
    for p in planned:
        if p.spec is None:
            echo(f"[{p.name}] not run: {p.problem}")
    return planned


def exit_code(finished: list[Finished], echo: Echo) -> int:
    """0 when every submission is complete; else, after naming the incomplete ones and how to resume,
    130 when the user stopped it (Ctrl-C, as ``bench submit``) and 1 otherwise."""
    incomplete = [p.name for p in finished if not p.complete]
    if any(p.stopped_by_user for p in finished):
        echo(f"interrupted (Ctrl-C); incomplete: {'; '.join(incomplete)}: run the same command again to resume")
        return 130
    if incomplete:
        echo(f"incomplete: {'; '.join(incomplete)}: run the same command again to resume (finished trials are not re-run)")
        return 1
    return 0


def _read_existing(p: Finished, problem: str) -> None:
    """The record a previous invocation left in ``p``'s run folder, if trusted."""
    p.problem = problem
    if p.spec is not None:
        entry = read_entry(p.spec.folder)
        p.record = entry.record if entry.trusted else None


def stage_times(finished: list[Finished]) -> pd.DataFrame:
    """Wall time per stage of each submission, from its record.

    search: the method's search over all its attempts (``rtbench.stageclock``; "(k attempts)" when
    it was resumed; records written before attempts were counted hold the last attempt's time);
    training: the sum over candidates and folds of the training loops (a resumed training's
    checkpointed epochs included; with ``ray.train_cpus`` below the node's CPUs several candidates
    train at once, so the sum exceeds the stage's wall time); measurement: the sum over candidates of the timed latency and
    throughput loops (warm-up excluded); last call: the whole ``submit`` of the latest invocation
    (Ray start and trial scheduling included; a resumed run counts only what it did).
    """
    rows = []
    for p in finished:
        rec = p.record or {}
        cands = rec.get("candidates", [])
        measures = [c.get("measurement") or {} for c in cands]
        measured = [m for m in measures if m]
        rows.append(
            {
                "submission": p.name,
                "run": rec.get("run_id") or (p.spec.run_id if p.spec else "-"),
                "status": rec.get("status", "no record") if not p.problem else f"{rec.get('status', 'no record')} ({p.problem})",
                "candidates": len(cands),
                "search (s)": _search_secs(rec.get("search", {})),
                "training (s)": _secs(sum(c.get("train_seconds") or 0.0 for c in cands) if cands else None),
                "measurement (s)": _secs(sum(_timed_seconds(m) for m in measured) if measured else None),
                "last call (s)": _secs(rec.get("wall_seconds_last_submission")),
            }
        )
    return pd.DataFrame(rows)


def _search_secs(search: dict[str, Any]) -> str:
    text = _secs(search.get("seconds"))
    attempts = search.get("attempts") or 1
    return f"{text} ({attempts} attempts)" if attempts > 1 and text != "-" else text


def _timed_seconds(measurement: dict[str, Any]) -> float:
    """The timed latency and throughput loops of one measurement (warm-up excluded)."""
    return float(measurement.get("latency", {}).get("duration_s", 0.0) + measurement.get("throughput", {}).get("duration_s", 0.0))


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def output_dir(name: str, finished: list[Finished], args: list[str]) -> Path:
    """``<runs.dir>/<board>/reproduce/<name>-s<seed>-<hash>/``: the hash is of the user's overrides that
    define the runs (not where they ran), so the same command writes to the same folder."""
    specs = [p.spec for p in finished if p.spec is not None]
    if not specs:
        raise ConfigError(f"bench reproduce {name}: none of its methods is registered here ({', '.join(p.problem for p in finished)})")
    spec = specs[0]
    what = {k: v for k, v in parse_overrides(args).items() if k not in WHERE_KEYS and not k.startswith("ray.")}
    blob = json.dumps({"name": name, "args": what, "submissions": [p.submission.name for p in finished]}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    return Path(spec.runs_dir).resolve() / board_folder(spec.board) / "reproduce" / f"{name}-s{spec.seed}-{digest}"
