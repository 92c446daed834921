"""``bench reproduce NAME``: re-run a paper's table or figure through the harness and show it beside the paper's own rows.

One module per paper table or figure, each with a ``reproduce(args, echo, show) -> int``:

* ``rtdnas-table1`` (``rtdnas_table1``): seed 000 Table 1, the decoding ablation (one RT-DNAS run);
* ``rtdnas-table2`` (``rtdnas_table2``, claims in ``rtdnas_table2_claims``): seed 000 Table 2,
  RT-DNAS against ICA-UNet (n=3, 4), hardware-aware NAS and BiX-NAS (one run per method);
* ``rtdnas-fig2`` (``rtdnas_fig2``, drawn by ``plots``): seed 000 Fig. 2, Dice vs latency and
  throughput with a random cloud (Table 2's runs, reused, plus ``method=random``);
* ``echo-table2`` (``echo_table2``): seed 003 Table II, the searched echo framework (with and
  without the latency term) against U-Net(8 / 16) + ResNet18, on the echo task.

Shared parts: ``rows`` (a table row from a record's candidate or a reference CSV), ``outputs``
(claim verdicts, markdown and the files written), ``submissions`` (several resumable submissions,
none fatal to the rest), ``pareto`` (fronts and gaps). The paper's reported rows are CSV files in
``reference/``. Reproductions drive the runner (they submit runs) and read the leaderboard's
formatting; the leaderboard itself only reads records.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rtbench.errors import ConfigError
from rtbench.reproduce import echo_table2, rtdnas_fig2, rtdnas_table1, rtdnas_table2
from rtbench.reproduce.outputs import Echo, Show

Reproduce = Callable[[list[str], Echo, Show], int]

REPRODUCTIONS: dict[str, Reproduce] = {
    "rtdnas-table1": partial(rtdnas_table1.reproduce, "rtdnas-table1"),
    "rtdnas-table2": rtdnas_table2.reproduce,
    "rtdnas-fig2": rtdnas_fig2.reproduce,
    "echo-table2": echo_table2.reproduce,
}
"""``bench reproduce`` names -> what runs them."""


def reproduce(name: str, args: list[str], echo: Echo, show: Show) -> int:
    """Run (or resume) the reproduction ``name`` with ``key=value`` ``args``; 0 when complete, 1 when not (run it again to resume)."""
    if name not in REPRODUCTIONS:
        raise ConfigError(f"unknown reproduction '{name}'; valid names: {', '.join(REPRODUCTIONS)}")
    return REPRODUCTIONS[name](args, echo, show)


__all__ = ["REPRODUCTIONS", "reproduce"]
