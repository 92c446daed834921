"""Seed 000's Table 2 claims (§3.2), checked on a table's measured rows and, as a check of the checker, on its reported rows.

* (a) "RT-DNAS (N_l = 8) yields the highest Dice ... among all the networks that can satisfy
  real-time constraints": the most accurate row meeting every constraint is an RT-DNAS row.
* (b) "hardware-aware NAS and BiX-NAS ... violate the real-time constraint in terms of either
  latency or throughput": the most accurate row of each breaks a constraint.
* (c) ICA-UNet meets both constraints *with slack* ("the latency and throughput of ICA-UNet are
  well above the requirements", §1): every ICA-UNet row has LT <= (1 - :data:`SLACK`) x the
  latency bound and TP >= (1 + :data:`SLACK`) x the minimum throughput. 10 %: the paper's own
  ICA-UNet rows (n = 3, 4) have 30 % and 22 % latency slack and 44 % and 29 % throughput slack;
  its RT-DNAS (N_l = 8) row, which uses the room left ("additional room to enhance Dice"), has 8 %
  and 6 %.

Each verdict is ``held``, ``did not hold`` or ``not measured`` (a row the claim needs has no
complete measurement; the detail names it). A row counts when its candidate is complete (Dice, LT
and TP present); an incomplete or missing row never decides a claim either way.

Complexity vs latency (seed 000's argument that FLOPs and parameters do not guarantee the
constraints) is reported beside the claims, not as a claim: Spearman's rank correlation of FLOPs
and of parameters with the p90 over the distinct measured networks, the pairs whose FLOPs order
and latency order disagree, and whether some FLOPs threshold separates the feasible networks from
the rest.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from rtbench.reproduce.outputs import Outcome
from rtbench.reproduce.rows import METRIC_COLUMNS, is_decided
from rtbench.tasks import Constraint, get_task

SLACK = 0.1
"""(c): LT <= (1 - SLACK) x bound and TP >= (1 + SLACK) x minimum."""
RTDNAS, ICAUNET, COMPLEXITY_NAS = "RT-DNAS", "ICA-UNet", ("HW-NAS", "BiX-NAS")
NOT_MEASURED = "not measured"


def decided(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a complete measurement (see ``rows.is_decided``)."""
    return rows[rows.apply(is_decided, axis=1)] if not rows.empty else rows


def describe(r: pd.Series) -> str:
    return f"{r['Methods']} {r['Average']:.3f} ({r['LT_ms']:.1f} ms, {r['TP_fps']:.1f} fps, {r['constraints']})"


def _unmeasured(rows: pd.DataFrame) -> list[str]:
    return [str(m) for m, ok in zip(rows["Methods"], rows.apply(is_decided, axis=1)) if not ok] if not rows.empty else []


def claim_rtdnas_most_accurate(rows: pd.DataFrame) -> Outcome:
    """(a) the most accurate row meeting every constraint is an RT-DNAS row (ties count for RT-DNAS)."""
    dec, missing = decided(rows), _unmeasured(rows)
    note = f"; not measured: {', '.join(missing)} (checked on the measured rows)" if missing else ""
    rt = dec[dec["group"] == RTDNAS]
    if rt.empty:
        return Outcome(None, "no RT-DNAS row measured" + note, NOT_MEASURED)
    feasible = dec[dec["constraints"] == "ok"]
    rt_ok, others = feasible[feasible["group"] == RTDNAS], feasible[feasible["group"] != RTDNAS]
    if rt_ok.empty:
        return Outcome(False, "no RT-DNAS row meets the constraints: " + "; ".join(describe(r) for _, r in rt.iterrows()) + note)
    best = rt_ok.loc[rt_ok["Average"].idxmax()]
    if others.empty:
        return Outcome(True, f"{describe(best)}; no other row meets the constraints" + note)
    rival = others.loc[others["Average"].idxmax()]
    held = bool(best["Average"] >= rival["Average"])
    return Outcome(held, f"best feasible RT-DNAS: {describe(best)}; best feasible other: {describe(rival)}" + note)


def claim_complexity_nas_break(rows: pd.DataFrame) -> Outcome:
    """(b) the most accurate row of each of HW-NAS and BiX-NAS breaks a real-time constraint."""
    parts, verdicts = [], []
    for group in COMPLEXITY_NAS:
        dec = decided(rows[rows["group"] == group])
        if dec.empty:
            parts.append(f"{group}: not measured")
            verdicts.append(None)
            continue
        best = dec.loc[dec["Average"].idxmax()]
        verdicts.append(best["constraints"] != "ok")
        parts.append(f"{group}: {describe(best)}")
    held = False if False in verdicts else (None if None in verdicts else True)
    return Outcome(held, "; ".join(parts), NOT_MEASURED)


def slack_bound(c: Constraint) -> float:
    """The constraint's bound tightened by :data:`SLACK` (a maximum lowered, a minimum raised)."""
    return c.bound * (1 - SLACK) if c.op == "<=" else c.bound * (1 + SLACK)


def claim_icaunet_slack(rows: pd.DataFrame, task_name: str) -> Outcome:
    """(c) every ICA-UNet row meets every constraint with :data:`SLACK` to spare."""
    ica = rows[rows["group"] == ICAUNET]
    if ica.empty:
        return Outcome(None, "no ICA-UNet row in the table", NOT_MEASURED)
    checks = [c for c in get_task(task_name).constraints if c.metric in METRIC_COLUMNS]
    parts, verdicts = [], []
    for _, r in ica.iterrows():
        if not is_decided(r):
            parts.append(f"{r['Methods']}: not measured")
            verdicts.append(None)
            continue
        tests = [(c, float(r[METRIC_COLUMNS[c.metric]])) for c in checks]
        ok = all(_holds(c.op, v, slack_bound(c)) for c, v in tests)
        verdicts.append(ok)
        parts.append(f"{r['Methods']}: " + ", ".join(f"{v:.1f} {c.op} {slack_bound(c):.1f} ({c.label})" for c, v in tests))
    held = False if False in verdicts else (None if None in verdicts else True)
    return Outcome(held, "; ".join(parts), NOT_MEASURED)


def _holds(op: str, value: float, bound: float) -> bool:
    return value <= bound if op == "<=" else value >= bound


def claims(figures: pd.DataFrame, task_name: str) -> pd.DataFrame:
    """The three claims on the reported rows and on the measured rows."""
    checks = (
        ("(a) the most accurate feasible row is RT-DNAS", claim_rtdnas_most_accurate),
        ("(b) HW-NAS and BiX-NAS each break a real-time constraint", claim_complexity_nas_break),
        (f"(c) ICA-UNet meets both constraints with {SLACK:.0%} slack", lambda r: claim_icaunet_slack(r, task_name)),
    )
    paper, ours = figures[figures["source"] == "reported"], figures[figures["source"] == "measured"]
    out = []
    for text, check in checks:
        p, o = check(paper), check(ours)
        out.append({"claim": text, "paper (reported)": p.verdict, "ours (measured)": o.verdict, "ours": o.detail, "paper": p.detail})
    return pd.DataFrame(out)


def complexity_vs_latency(figures: pd.DataFrame) -> str:
    """How well FLOPs and parameters track the measured p90 over the distinct measured networks (see the module docstring)."""
    ours = decided(figures[figures["source"] == "measured"])
    ours = ours.dropna(subset=["flops_G", "params_M"]).drop_duplicates(subset=["run_id", "key"])
    n = len(ours)
    if n < 3:
        return f"{n} distinct measured network(s): too few to compare"
    lt = ours["LT_ms"].astype(float)
    rho_f = ours["flops_G"].astype(float).rank().corr(lt.rank())
    rho_p = ours["params_M"].astype(float).rank().corr(lt.rank())
    pairs = list(combinations(zip(ours["flops_G"].astype(float), lt), 2))
    discordant = sum(1 for (f1, l1), (f2, l2) in pairs if (f1 - f2) * (l1 - l2) < 0)
    text = (
        f"Spearman rho(FLOPs, p90) = {_rho(rho_f)}, rho(params, p90) = {_rho(rho_p)} over {n} networks; "
        f"{discordant} of {len(pairs)} pairs have the network with more FLOPs running faster"
    )
    ok, bad = ours[ours["constraints"] == "ok"], ours[ours["constraints"] != "ok"]
    if not ok.empty and not bad.empty:
        heaviest, lightest = float(ok["flops_G"].max()), float(bad["flops_G"].min())
        sep = "separates" if heaviest < lightest else "does not separate"
        text += f"; a FLOPs threshold {sep} feasible from infeasible networks"
        text += f" (heaviest feasible {heaviest:.3f} G, lightest infeasible {lightest:.3f} G)"
    return text


def _rho(v: float) -> str:
    return "n/a (a constant column)" if pd.isna(v) else f"{v:.2f}"
