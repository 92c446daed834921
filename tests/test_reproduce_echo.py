"""``bench reproduce echo-table2``: layout, the paper's claims and our data checks (each able to go red), missing rows."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from rtbench.reproduce import REPRODUCTIONS
from rtbench.reproduce.echo_table2 import REFERENCE, ROWS, claims, display_table, figures_table
from rtbench.reproduce.submissions import Finished


def cand(dice: float, mae: float, lt: float, flops_m: float, mae_mean: float = 0.1, complete: bool = True) -> dict[str, Any]:
    broken = ["latency"] if lt > 50 else []
    return {
        "label": "x",
        "key": "k",
        "complete": complete,
        "metrics": {
            "dice_mean": dice,
            "dice_mean_std": 0.01,
            "qc_mae": mae,
            "qc_mae_std": 0.002,
            "qc_mae_baseline": mae_mean,
            "qc_auroc": 0.8,
        },
        "measurement": {
            "latency": {"p50_ms": 0.9 * lt, "p90_ms": lt},
            "throughput": {"fps": 1000 / lt},
            "flops": int(flops_m * 1e6),
            "params": 1000,
        },
        "constraints": {"broken": broken, "feasible": not broken},
        "predicted": {},
    }


def record(run_id: str, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "complete",
        "config": {"hardware": {"name": "local-cpu"}},
        "environment": {"cpu": "test CPU"},
        "candidates": [c],
    }


def paper_like(change: dict[str, dict[str, Any]] | None = None) -> list[Finished]:
    """Records shaped like the paper's Table II (every claim and check holds), with ``change`` per row name."""
    values = {
        "U-Net(8)+ResNet18": cand(0.797, 0.050, 47, 1045),
        "U-Net(16)+ResNet18": cand(0.839, 0.049, 82, 3635),
        "w/o hardware-aware": cand(0.837, 0.047, 54, 440),
        "hardware-aware": cand(0.832, 0.049, 49, 373),
    }
    values.update(change or {})
    return [Finished(r.submission, None, record=record(r.methods, values[r.methods])) for r in ROWS]


def verdicts(finished: list[Finished], source: str = "ours (measured)") -> list[str]:
    return list(claims(figures_table(finished, pd.read_csv(REFERENCE)))[source])


def test_registered_with_the_papers_four_rows_each_above_its_reported_row() -> None:
    assert "echo-table2" in REPRODUCTIONS
    assert [r.submission.name for r in ROWS] == ["unet-resnet18 width=8", "unet-resnet18 width=16", "echonas latency_weight=0", "echonas"]
    figures = figures_table(paper_like(), pd.read_csv(REFERENCE))
    assert list(figures["source"]) == ["measured", "reported"] * 4
    assert list(figures["Methods"][::2]) == list(figures["Methods"][1::2])
    shown = display_table(figures)
    assert list(shown.columns[:5]) == ["Method", "Dice", "MAE", "Latency (ms)", "FLOPs (M)"]
    assert shown["Latency (ms)"].iloc[2] == "82.0 ✗" and shown["Latency (ms)"].iloc[3] == "82.0 ✗"  # U-Net(16) breaks 50 ms
    assert shown["FLOPs (M)"].iloc[0] == "1045" and "i7" in shown["hardware"].iloc[1]


def test_the_papers_rows_satisfy_its_claims_and_ours_do_when_shaped_alike() -> None:
    assert verdicts(paper_like(), "paper (reported)")[:2] == ["held", "held"]
    assert verdicts(paper_like()) == ["held", "held", "held", "held"]


def test_claim_a_goes_red_when_the_latency_term_does_not_cut_latency_or_costs_dice() -> None:
    assert verdicts(paper_like({"hardware-aware": cand(0.832, 0.049, 60, 373)}))[0] == "did not hold"
    assert verdicts(paper_like({"hardware-aware": cand(0.780, 0.049, 49, 373)}))[0] == "did not hold"


def test_claim_b_goes_red_on_a_small_cut_and_checks_go_red_on_a_trivial_task_or_a_useless_qc() -> None:
    assert verdicts(paper_like({"hardware-aware": cand(0.832, 0.049, 70, 373)}))[1] == "did not hold"  # 15% cut
    assert verdicts(paper_like({"U-Net(16)+ResNet18": cand(0.99, 0.049, 82, 3635)}))[2] == "did not hold"
    assert verdicts(paper_like({"hardware-aware": cand(0.832, 0.2, 49, 373, mae_mean=0.1)}))[3] == "did not hold"


def test_a_missing_row_reads_not_measured_and_undecides_its_claims() -> None:
    finished = paper_like()
    finished[3] = Finished(ROWS[3].submission, None, problem="method 'echonas' is not registered here")
    figures = figures_table(finished, pd.read_csv(REFERENCE))
    assert figures["constraints"].iloc[6] == "not measured" and "not registered" in figures["note"].iloc[6]
    assert verdicts(finished)[:2] == ["not measured", "not measured"]


@pytest.mark.parametrize("bad", ["method.width=4", "method.bogus=1"])
def test_fixed_or_unknown_options_are_refused(bad: str, tmp_path, capsys) -> None:
    from rtbench.cli import main

    assert main(["reproduce", "echo-table2", bad, "budget=smoke", f"runs.dir={tmp_path}", "submit=no"]) == 2
    assert bad.split("=")[0] in capsys.readouterr().out
