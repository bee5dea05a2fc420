"""Rendering computed tables for the terminal and JSON; no computing happens here.

>>> import polars as pl
>>> summary_records(pl.DataFrame({"scenario": ["sao"], "cost_usd": [35.123456]}))
[{'scenario': 'sao', 'cost_usd': 35.1235, 'cost': 35.1235}]
"""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.table import Table

__all__ = ["billing_lines", "summary_records", "summary_table"]

#: summary columns shown in the terminal, with their headings and formats
_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("runs", "runs", "{:,}"),
    ("node_builds", "builds", "{:,}"),
    ("reuses", "reused", "{:,}"),
    ("reuse_pct", "reuse %", "{:.1f}"),
    ("cost_usd", "cost $", "{:,.0f}"),
    ("savings_pct", "saved %", "{:.1f}"),
    ("savings_usd", "saved $", "{:,.0f}"),
    ("bill_usd", "bill $", "{:,.0f}"),
    ("bill_savings_pct", "bill saved %", "{:.1f}"),
    ("test_runs_avoided", "tests saved", "{:,}"),
    ("staleness_p50_hours", "stale p50 h", "{:.2f}"),
    ("staleness_p95_hours", "stale p95 h", "{:.2f}"),
    ("staleness_max_hours", "stale max h", "{:.1f}"),
    ("sla_miss_hours", "SLA miss h", "{:,.1f}"),
)


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def summary_records(summary: pl.DataFrame) -> list[dict[str, Any]]:
    """The summary as a list of plain dicts (what ``--format json`` prints).

    ``cost`` repeats ``cost_usd`` under the short name the CLI documents.
    """
    records = []
    for row in summary.iter_rows(named=True):
        record = {k: _round(v) for k, v in row.items()}
        if "cost_usd" in record:
            record["cost"] = record["cost_usd"]
        records.append(record)
    return records


def billing_lines(bill: pl.DataFrame) -> list[str]:
    """What the bill columns assume: one line per distinct billing model of the comparison.

    >>> billing_lines(pl.DataFrame({"scenario": ["a", "b"], "assumptions": ["x", "x"]}))
    ['bill: x']
    """
    lines = bill.get_column("assumptions").unique(maintain_order=True).to_list()
    if len(lines) == 1:
        return [f"bill: {lines[0]}"]
    return [f"bill of {s}: {a}" for s, a in bill.select("scenario", "assumptions").iter_rows()]


def summary_table(summary: pl.DataFrame, *, title: str = "saosim") -> Table:
    """A rich table of the scenario summary."""
    table = Table(title=title)
    shown = [c for c in _COLUMNS if c[0] in summary.columns]
    for column, heading, _ in shown:
        table.add_column(heading, justify="left" if column == "scenario" else "right")
    for row in summary.iter_rows(named=True):
        cells = []
        for column, _, fmt in shown:
            value = row[column]
            cells.append("–" if value is None else fmt.format(value))
        table.add_row(*cells)
    return table
