"""``bench reproduce NAME``: re-run a paper's table through the harness and print it beside the paper's own rows.

One module per paper table (``rtdnas_table1``: seed 000 Table 1, the decoding ablation); the
paper's reported rows are CSV files in ``reference/``. Reproductions drive the runner (they
submit runs) and read the leaderboard's formatting; the leaderboard itself only reads records.
"""

from rtbench.reproduce.rtdnas_table1 import REPRODUCTIONS, reproduce

__all__ = ["REPRODUCTIONS", "reproduce"]
