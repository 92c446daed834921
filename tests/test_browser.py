"""The generated leaderboard site in a real browser: headless Chromium (Debian's ``chromium`` package).

The test installs nothing: where no Chromium binary is on PATH it skips and says so (``.ci/run``
installs the package, so CI runs it). It opens ``index.html`` from disk, lets the page's script run,
and checks the DOM Chromium ends with: every board's section, its tables with the expected rows,
the sorting script attached, each plot image loaded. It saves a screenshot of the first page to
``tests/artifacts/leaderboard-index.png`` (git-ignored) as the run's artefact.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_leaderboard_records import BOARD, store

from rtbench.leaderboard.pages import slug
from rtbench.leaderboard.site import build_site

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BINARIES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000", "--window-size=1400,1800")


def chromium() -> str:
    for name in BINARIES:
        if path := shutil.which(name):
            return path
    pytest.skip(f"no headless Chromium on PATH (looked for {', '.join(BINARIES)}); install Debian's package: apt-get install chromium")


def _run(binary: str, *args: str) -> str:
    done = subprocess.run([binary, *FLAGS, *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_site_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    runs = store(tmp_path / "runs")
    index = build_site(runs, tmp_path / "site", warn=lambda line: None)[0]
    url = index.resolve().as_uri()
    dom = _run(binary, "--dump-dom", url)
    sid = slug(BOARD)
    assert f'id="{sid}"' in dom, "the board's section"
    for table in (f"summary-{sid}", f"all-{sid}"):
        m = re.search(rf'<table class="sortable" id="{re.escape(table)}"([^>]*)>(.*?)</table>', dom, re.S)
        assert m, table
        assert 'data-sortable="ready"' in m.group(1), "the sorting script ran"
        rows = m.group(2).count("<tr")
        assert rows - 1 == (4 if table.startswith("summary") else 9), f"{table}: {rows - 1} rows"
    imgs = re.findall(r"<img[^>]*class=\"plot\"[^>]*>", dom)
    assert imgs and all('data-loaded="1"' in i for i in imgs), imgs
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard-index.png"
    shot.unlink(missing_ok=True)
    _run(binary, f"--screenshot={shot}", url)
    assert shot.stat().st_size > 20_000, "a blank page would compress to a few kB"
