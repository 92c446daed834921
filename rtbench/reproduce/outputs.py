"""What a reproduction hands back: claim verdicts, markdown tables and the files it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

Echo = Callable[[str], None]
"""Prints one progress line."""
Show = Callable[[str, pd.DataFrame], None]
"""Shows a titled table (the CLI renders it with rich)."""


@dataclass(frozen=True)
class Outcome:
    """Whether a claim held on one set of rows: ``held`` is None when the rows cannot decide it.

    ``undecided`` is the verdict shown then (``n/a``; ``not measured`` where a row is missing).
    """

    held: bool | None
    detail: str
    undecided: str = "n/a"

    @property
    def verdict(self) -> str:
        return {True: "held", False: "did not hold"}.get(self.held, self.undecided)  # type: ignore[arg-type]


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``df`` (cells as strings, pipes escaped)."""

    def cells(values: list[Any]) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    lines = [cells(list(df.columns)), cells(["---"] * len(df.columns))]
    lines += [cells(list(r)) for r in df.itertuples(index=False)]
    return "\n".join(lines)


def write_outputs(
    out_dir: Path,
    name: str,
    title: str,
    header: list[str],
    table: pd.DataFrame,
    claim_rows: pd.DataFrame,
    sections: tuple[tuple[str, pd.DataFrame], ...] = (),
) -> list[Path]:
    """``<name>.md``, ``<name>.csv`` and ``<name>-claims.csv`` in ``out_dir``; their paths.

    ``sections``: further ``(heading, table)`` pairs appended to the markdown after the claims.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv, claims_csv = out_dir / f"{name}.md", out_dir / f"{name}.csv", out_dir / f"{name}-claims.csv"
    text = [f"# {title}", "", *header, "", markdown_table(table), "", "## Claims of the paper", "", markdown_table(claim_rows), ""]
    for heading, df in sections:
        text += [f"## {heading}", "", markdown_table(df), ""]
    md.write_text("\n".join(text))
    table.to_csv(csv, index=False)
    claim_rows.to_csv(claims_csv, index=False)
    return [md, csv, claims_csv]
