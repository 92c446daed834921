"""``bench leaderboard out=DIR``: the static site's files, its self-containedness, exports, plots (a board with
no feasible row too), run pages, architecture pictures and the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_leaderboard_records import BOARD, MSNAS, cand, put, samples, store

from rtbench.cli import main
from rtbench.leaderboard.architecture import picture
from rtbench.leaderboard.pages import SMOKE_LABEL, slug
from rtbench.leaderboard.plots import NO_FEASIBLE
from rtbench.leaderboard.reported import REFERENCE_DIR, reported_points
from rtbench.leaderboard.runpage import reproduce_command
from rtbench.leaderboard.site import build_site

SLOW_BOARD = "cine/synthetic-cine/local-cpu/quick"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("lb")
    runs = store(root / "runs")
    # a second board where every row breaks the latency bound
    put(runs, "unet-s0-slow", "unet", 0, [cand("U-Net(64)", 0.9, 80.0, lat_samples=samples(80.0))], board=SLOW_BOARD, width=64)
    return root / "site", build_site(runs, root / "site", warn=lambda line: None)


def test_site_files(site) -> None:
    out, files = site
    assert files[0] == out / "index.html"
    for board in (BOARD, SLOW_BOARD):
        folder = out / "boards" / slug(board)
        for name in ("plots.png", "plots.svg", "board.csv", "board.md", "board.json"):
            assert (folder / name).is_file() and (folder / name) in files, name
    assert len(list((out / "runs").glob("*.html"))) == 7, "one page per run"


def test_index_is_self_contained_and_says_what_it_means(site) -> None:
    out, _ = site
    html = (out / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html), "no CDN or other remote resource"
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert (out / ref).is_file(), f"broken link {ref}"
    assert html.count('<section class="board"') == 2
    assert SMOKE_LABEL in html, "the smoke board is labelled"
    assert "±: sample std over seeds" in html and "percentile bootstrap" in html
    assert "borderline latency" in html and "n=2" in html and "width=16" in html


def test_exports_hold_the_rows(site) -> None:
    out, _ = site
    folder = out / "boards" / slug(BOARD)
    csv = pd.read_csv(folder / "board.csv")
    data = json.loads((folder / "board.json").read_text())
    assert len(csv) == len(data["rows"]) == 9
    two = [r for r in data["rows"] if r["candidate"] == "U-Net(16)"][0]
    assert two["n"] == 2 and [x["run_id"] for x in two["runs"]] == ["unet-s0-aaaa", "unet-s1-bbbb"]
    md = (folder / "board.md").read_text()
    assert md.startswith("Board " + BOARD) and "| rank | entry | method |" in md and "0.820±0.028" in md


def test_a_board_with_no_feasible_row_still_draws_and_says_so(site) -> None:
    out, _ = site
    folder = out / "boards" / slug(SLOW_BOARD)
    assert (folder / "plots.png").stat().st_size > 10_000
    assert NO_FEASIBLE in (folder / "plots.svg").read_text()
    assert NO_FEASIBLE not in (out / "boards" / slug(BOARD) / "plots.svg").read_text()


def test_the_papers_reported_rows_are_hollow_markers_named_with_their_machine(site) -> None:
    table2 = pd.read_csv(REFERENCE_DIR / "rtdnas_table2.csv")
    cine = reported_points("cine")
    assert len(cine) == len(pd.read_csv(REFERENCE_DIR / "rtdnas_table1.csv")) + len(table2)
    assert set(cine["hardware"]) == {"P100"} and reported_points("echo").empty
    row = cine[cine["label"] == "HW-Aware NAS"].iloc[0]
    assert (row["dice_mean"], row["latency_p90_ms"], row["throughput_fps"]) == (0.930, 52.0, 19.5)
    out, _ = site
    svg = (out / "boards" / slug(BOARD) / "plots.svg").read_text()
    assert svg.count("reported, P100") == 1, "one legend entry for the machine"
    assert "HW-Aware NAS" in svg and "RT-DNAS (N_l = 8)" in svg, "each reported row is labelled"


def test_run_page_has_config_command_folds_and_architecture(site) -> None:
    out, _ = site
    page = next((out / "runs").glob("*rtdnas-s0-dddd.html")).read_text()
    assert "bench submit method=rtdnas method.paths=2,auto dataset=synthetic-cine" in page
    assert "★ entry" in page and "record.json" in page and "Scores per fold" in page
    assert page.count("<polyline") == 2 * len(MSNAS["paths"]), "each candidate's paths over the grid"
    assert "std over the test volumes" in page
    assert "cores busy before timing" in page, "the load behind the timing is on the run page"


def test_reproduce_command_names_budget_and_profile_overrides() -> None:
    cfg = {
        "method": "unet",
        "method_config": {"width": 8},
        "dataset": "synthetic-cine",
        "dataset_config": {"root": ""},
        "budget": {"name": "smoke", "epochs": 3},
        "hardware": {"name": "local-cpu", "threads": 2},
        "seed": 4,
    }
    cmd = reproduce_command(cfg)
    assert "budget=smoke budget.epochs=3" in cmd and "hardware=local-cpu hardware.threads=2" in cmd and cmd.endswith("seed=4")


def test_cell_pictures_leave_out_zero_edges() -> None:
    ops = ["conv", "zero", "identity", "zero", "conv", "conv"]
    svg = picture({"filters": 8, "stages": 4, "nodes": 3, "contracting": ["max_pool"] * 6, "non_scaling": ops})
    assert "contracting cell" in svg and "non_scaling cell" in svg
    assert ">zero<" not in svg and svg.count(">conv<") == 3
    assert picture({"width": 16, "depth": 5}) == "", "no picture for a fixed U-Net"


def test_cli_writes_the_site_and_refuses_unknown_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(tmp_path / "runs", "unet-s0-aaaa", "unet", 0, [cand("U-Net(16)", 0.8, 20.0)], width=16)
    assert main(["leaderboard", f"runs.dir={tmp_path / 'runs'}", f"out={tmp_path / 'site'}"]) == 0
    assert (tmp_path / "site" / "index.html").is_file() and "site: " in capsys.readouterr().out
    assert main(["leaderboard", f"runs.dir={tmp_path / 'runs'}", "outt=x"]) == 2
    assert "valid keys: runs.dir, out" in capsys.readouterr().out
