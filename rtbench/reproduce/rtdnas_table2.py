"""``bench reproduce rtdnas-table2 [key=value ...]``: seed 000's Table 2, RT-DNAS against ICA-UNet, HW-NAS and BiX-NAS.

One submission per configuration of :data:`ROWS` (``rtbench.reproduce.submissions``: each through
``rtbench.runner.submit``, so the same command resumes every run and re-runs nothing finished):
ICA-UNet ``method.n=3`` and ``method.n=4``, ``hwnas``, ``bixnas`` and one RT-DNAS search
``method=rtdnas method.paths=6,7,8,auto`` that yields N_l = 6, 7, 8 and the ``auto`` entry. The
user's ``dataset=``, ``hardware=``, ``budget=``, ``seed=`` (and ``method.<field>=`` options, see
``submissions``) apply to every run.

The table (``<runs.dir>/<board>/reproduce/rtdnas-table2-s<seed>-<hash>/rtdnas-table2.{md,csv}``)
follows the paper's layout (Methods, RV, MYO, LV, Average, LT, TP; Dice as mean±std), each
measured row directly above the paper's reported P100 row (``reference/rtdnas_table2.csv``); an
LT or TP that breaks the task's constraint is marked ``✗`` (the paper marks it red). Columns after
TP are ours: the p50 latency, FLOPs (G) and parameters (M) as the harness measured them, and the
constraint verdict, so the table shows whether complexity tracked latency on this hardware
(seed 000's argument: "simply considering network computation complexity or parameter number
cannot guarantee that the resulting networks will meet the real-time constraints"). A row whose
submission failed, is missing or whose method is not registered reads ``not measured`` with the
reason, and the others are still run and shown. Wall time per stage of each submission is printed
and written after the claims. ``rtdnas-table2-figures.csv`` holds the numbers behind the table.

A row's candidates. ``Row.label`` is matched against each `` = ``-joined part of a candidate's
label (``"GA N_l=7 = GA N_l=7 (auto)"`` is both RT-DNAS N_l=7 and the auto entry). When several
candidates of one run match (``hwnas`` with several ``method.paths``), each gets a row, labelled.
The paper's rows are "the best networks discovered by" each method: the claims read a method's
most accurate measured row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.leaderboard.table import fmt_num, fmt_pm
from rtbench.reproduce.outputs import Echo, Show, write_outputs
from rtbench.reproduce.rows import CLASSES, NOT_MEASURED, measured_row, reported_broken, reported_verdict
from rtbench.reproduce.rtdnas_table2_claims import SLACK, claims, complexity_vs_latency
from rtbench.reproduce.submissions import Finished, Submission, exit_code, output_dir, plan, run_all, stage_times
from rtbench.tasks import get_task

NAME = "rtdnas-table2"
TITLE = "RT-DNAS Table 2: RT-DNAS vs ICA-UNet, hardware-aware NAS and BiX-NAS under the real-time constraints (seed 000)"
REFERENCE = Path(__file__).parent / "reference" / "rtdnas_table2.csv"
MARK = " ✗"
"""Appended to an LT or TP that breaks its constraint (the paper marks violations in red)."""


@dataclass(frozen=True)
class Row:
    """One row of the table (several when several candidates of its run match ``label``).

    Attributes:
        methods: the name shown; ``{0}``, ``{1}``... are ``label``'s regex groups (``?`` when not measured).
        group: the method family the claims read: ``RT-DNAS``, ``ICA-UNet``, ``HW-NAS``, ``BiX-NAS``.
        submission: the run that measures it (rows with equal submissions share one run).
        label: regex fullmatched against each `` = ``-joined part of a candidate label; None: every candidate.
        reference: the paper's ``Methods`` in ``reference/rtdnas_table2.csv``, shown below it; None: none.
    """

    methods: str
    group: str
    submission: Submission
    label: str | None = None
    reference: str | None = None

    def matches(self, cand_label: str) -> tuple[str, ...] | None:
        """The regex groups when ``cand_label`` matches (``()`` without groups), else None."""
        if self.label is None:
            return ()
        for part in cand_label.split(" = "):
            m = re.fullmatch(self.label, part.strip())
            if m:
                return m.groups()
        return None

    def name(self, groups: tuple[str, ...] | None) -> str:
        n = re.compile(self.label).groups if self.label else 0
        return self.methods.format(*(groups if groups is not None else ("?",) * n))


RTDNAS = Submission("rtdnas", fixed=("method.paths=6,7,8,auto",))
ROWS: tuple[Row, ...] = (
    Row("ICA-UNet (n=3)", "ICA-UNet", Submission("icaunet", fixed=("method.n=3",)), None, "ICA-UNet (n=3)"),
    Row("ICA-UNet (n=4)", "ICA-UNet", Submission("icaunet", fixed=("method.n=4",)), None, "ICA-UNet (n=4)"),
    Row("HW-Aware NAS", "HW-NAS", Submission("hwnas"), r"HW-NAS N_l=\d+", "HW-Aware NAS"),
    Row("BiX-NAS", "BiX-NAS", Submission("bixnas", slow=True), r"BiX-NAS", "BiX-NAS"),
    Row("RT-DNAS (N_l = 6)", "RT-DNAS", RTDNAS, r"GA N_l=6", "RT-DNAS (N_l = 6)"),
    Row("RT-DNAS (N_l = 7)", "RT-DNAS", RTDNAS, r"GA N_l=7", "RT-DNAS (N_l = 7)"),
    Row("RT-DNAS (N_l = 8)", "RT-DNAS", RTDNAS, r"GA N_l=8", "RT-DNAS (N_l = 8)"),
    Row("RT-DNAS (auto: N_l = {0})", "RT-DNAS", RTDNAS, r"GA N_l=(\d+) \(auto\)"),
)
"""The table, top to bottom: adding or removing a row is one line here."""

FIGURES = [
    "Methods",
    "group",
    *(f"{c}{s}" for c in (*CLASSES, "Average") for s in ("", "_std")),
    "LT_ms",
    "TP_fps",
    "LT_p50_ms",
    "flops_G",
    "params_M",
    "predicted_LT_ms",
    "busy_cores",
    "constraints",
    "broken",
    "source",
    "hardware",
    "label",
    "key",
    "run_id",
    "note",
]
"""Columns of the numeric table behind the display (LT_ms: our p90)."""


def reference_rows() -> pd.DataFrame:
    return pd.read_csv(REFERENCE)


def _missing(row: Row, note: str) -> dict[str, Any]:
    return {"Methods": row.name(None), "group": row.group, "constraints": NOT_MEASURED, "source": "measured", "hardware": "-", "note": note}


def measured_rows(row: Row, p: Finished | None) -> list[dict[str, Any]]:
    """The measured row(s) of ``row`` from its submission's record, or one ``not measured`` row saying why."""
    if p is None:
        return [_missing(row, "its submission was not part of this reproduction")]
    if p.record is None:
        return [_missing(row, p.problem or f"run {p.spec.run_id if p.spec else '?'} has no record")]
    found = [(c, g) for c in p.record["candidates"] if (g := row.matches(c["label"])) is not None]
    if not found:
        labels = ", ".join(c["label"] for c in p.record["candidates"]) or "none"
        return [_missing(row, f"run {p.record['run_id']} has no candidate labelled /{row.label}/ (its candidates: {labels})")]
    out = []
    for cand, groups in found:
        name = row.name(groups) + (f" [{cand['label']}]" if len(found) > 1 else "")
        note = "" if cand.get("complete") else (p.problem or "training or measurement incomplete: run the same command again")
        out.append({**measured_row(p.record, cand), "Methods": name, "group": row.group, "note": note})
    return out


def figures_table(rows: tuple[Row, ...], finished: list[Finished], reference: pd.DataFrame, task_name: str) -> pd.DataFrame:
    """Numeric rows in ``rows``' order: each row's measured row(s), then the paper's reported row."""
    by_sub = {p.submission: p for p in finished}
    out: list[dict[str, Any]] = []
    for row in rows:
        out += measured_rows(row, by_sub.get(row.submission))
        if row.reference is not None:
            ref = reference[reference["Methods"] == row.reference]
            if ref.empty:
                raise KeyError(f"{REFERENCE.name} has no row '{row.reference}'")
            r = ref.iloc[0].to_dict()
            r.update(
                group=row.group,
                label="",
                constraints=reported_verdict(r, task_name),
                broken=",".join(reported_broken(r, task_name)),
                note=r.pop("paper", ""),
            )
            out.append(r)
    return pd.DataFrame(out, columns=FIGURES)


def _marked(v: Any, broken: Any, which: str) -> str:
    text = fmt_num(v, ".1f")
    return text + MARK if text != "-" and which in str(broken).split(",") else text


def _small(v: Any) -> str:
    """3 decimals, or 3 significant digits below 0.1 (a smoke-size network has 0.0004 GFLOPs)."""
    return fmt_num(v, ".3f" if v is None or pd.isna(v) or abs(v) >= 0.1 else ".3g")


def display_table(figures: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout (Dice as mean±std, violations marked), then our columns."""
    out = pd.DataFrame({"Methods": figures["Methods"]})
    for c in (*CLASSES, "Average"):
        out[c] = [fmt_pm(m, s) for m, s in zip(figures[c], figures[f"{c}_std"])]
    out["LT (ms)"] = [_marked(v, b, "latency") for v, b in zip(figures["LT_ms"], figures["broken"])]
    out["TP (fps)"] = [_marked(v, b, "throughput") for v, b in zip(figures["TP_fps"], figures["broken"])]
    out["LT p50 (ms)"] = [fmt_num(v, ".1f") for v in figures["LT_p50_ms"]]
    out["FLOPs (G)"] = [_small(v) for v in figures["flops_G"]]
    out["params (M)"] = [_small(v) for v in figures["params_M"]]
    out["busy cores"] = [fmt_num(v, ".1f") for v in figures["busy_cores"]]
    out["verdict"] = figures["constraints"]
    for col in ("source", "hardware", "note"):
        out[col] = figures[col].fillna("")
    return out


def header_lines(task_name: str, stream_batch: int, board: str) -> list[str]:
    task = get_task(task_name)
    checks = " and ".join(c.describe() for c in task.constraints)
    return [
        f"Board `{board}`. Constraints: {checks} (✗: broken). LT: our p90 single-stream batch-1 end-to-end latency, the "
        "statistic the constraint check uses (p50 beside it); the paper does not say which statistic its LT is. TP: our "
        f"sustained frames/s at the profile's stream batch size ({stream_batch}). FLOPs and params: of the network as built "
        "and timed, 2 FLOPs per multiply-accumulate (BiX-NAS's MACs are half the FLOPs). Busy cores: cores other "
        "processes kept busy in the second before the row was timed (a CPU timing "
        "taken on a busy machine is inflated; re-time it on a quiet one). Reported rows were timed on an NVIDIA Tesla "
        "P100 by the paper's authors and are never compared with ours as figures of one machine; measured rows name "
        "their hardware.",
        "",
        f"Claims: (a) reads every feasible row; (b) reads the most accurate measured row of each of HW-NAS and BiX-NAS "
        f"(the paper's rows are each method's best network); (c) 'with slack' means LT <= {1 - SLACK:g} x the latency bound "
        f"and TP >= {1 + SLACK:g} x the minimum throughput, on every ICA-UNet row.",
    ]


def reproduce(args: list[str], echo: Echo, show: Show, rows: tuple[Row, ...] = ROWS) -> int:
    """Run (or resume) every submission of ``rows`` with the user's ``key=value`` ``args``; write and show the table.

    Returns 0 when every submission is complete, 1 otherwise (the table is written with what there
    is, ``not measured`` where nothing is; running the same command again resumes).
    """
    finished = plan([r.submission for r in rows], args)
    out_dir = output_dir(NAME, finished, args)
    echo(f"reproducing {TITLE}: {len(finished)} submission(s): " + "; ".join(p.name for p in finished))
    run_all(finished, echo)
    spec = next(p.spec for p in finished if p.spec is not None)
    figures = figures_table(rows, finished, reference_rows(), spec.task)
    table, claim_rows, times = display_table(figures), claims(figures, spec.task), stage_times(finished)
    complexity = complexity_vs_latency(figures)
    header = [*header_lines(spec.task, spec.hardware.stream_batch, spec.board), "", f"Complexity vs latency (measured rows): {complexity}"]
    paths = write_outputs(out_dir, NAME, TITLE, header, table, claim_rows, sections=(("Wall time per stage", times),))
    figures.to_csv(out_dir / f"{NAME}-figures.csv", index=False)
    show(f"{TITLE} | board {spec.board} | LT = p90 (ours), statistic unstated (paper)", table)
    show("Claims of the paper", claim_rows[["claim", "paper (reported)", "ours (measured)", "ours"]])
    show("Wall time per stage", times)
    echo(f"complexity vs latency: {complexity}")
    for path in [*paths, out_dir / f"{NAME}-figures.csv"]:
        echo(f"wrote {path}")
    return exit_code(finished, echo)
