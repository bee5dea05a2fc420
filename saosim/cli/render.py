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

#: summary columns shown in the terminal by default (fits a 100-column terminal), with their
#: headings and formats
_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("node_builds", "builds", "{:,}"),
    ("reuse_pct", "reuse %", "{:.1f}"),
    ("bill_usd", "bill $", "{:,.0f}"),
    ("bill_savings_pct", "saved %", "{:.1f}"),
    ("staleness_p95_hours", "p95 stale h", "{:.1f}"),
    ("sla_breach_pct", "SLA breach %", "{:.1f}"),
)
#: every column, for ``--wide``
_WIDE_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("runs", "runs", "{:,}"),
    ("node_builds", "builds", "{:,}"),
    ("reuses", "reused", "{:,}"),
    ("reuse_pct", "reuse %", "{:.1f}"),
    ("daily_not_rebuilt_pct", "not rebuilt/day %", "{:.1f}"),
    ("cost_usd", "cost $", "{:,.0f}"),
    ("savings_pct", "saved %", "{:.1f}"),
    ("savings_usd", "saved $", "{:,.0f}"),
    ("bill_usd", "bill $", "{:,.0f}"),
    ("bill_savings_pct", "bill saved %", "{:.1f}"),
    ("bill_savings_usd", "bill saved $", "{:,.0f}"),
    ("warehouse_hours", "warehouse h", "{:,.0f}"),
    ("test_runs_avoided", "tests saved", "{:,}"),
    ("staleness_p50_hours", "p50 stale h", "{:.2f}"),
    ("staleness_p95_hours", "p95 stale h", "{:.2f}"),
    ("staleness_max_hours", "max stale h", "{:.1f}"),
    ("sla_breach_pct", "SLA breach % model-time", "{:.1f}"),
    ("sla_breach_added_pct", "of which added %", "{:.1f}"),
    ("sla_breach_models", "models over SLA", "{:,}"),
    ("sla_models", "models with SLA", "{:,}"),
    ("sla_breach_model_hours", "model-h over SLA", "{:,.0f}"),
)
#: what the short headings mean, printed under the table
CAPTION = (
    "bill $: what the warehouse bills (billing model below; --wide adds the query-seconds "
    "cost $); saved %: of the baseline's bill; "
    "SLA breach %: share of model-time over SLA (models with an SLA, every scenario scored "
    "against the same SLAs); p95 stale h: staleness (hours) that 95% of model-time is under; "
    "* recommended"
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


def summary_table(summary: pl.DataFrame, *, title: str = "saosim", wide: bool = False) -> Table:
    """A rich table of the scenario summary: the default columns fit 100 columns of terminal;
    ``wide`` shows every column. The recommended scenario is starred."""
    table = Table(title=title, caption=CAPTION, caption_justify="left")
    columns = _WIDE_COLUMNS if wide else _COLUMNS
    shown = [c for c in columns if c[0] in summary.columns]
    for column, heading, _ in shown:
        table.add_column(heading, justify="left" if column == "scenario" else "right")
    for row in summary.iter_rows(named=True):
        cells = []
        for column, _, fmt in shown:
            value = row[column]
            cells.append("–" if value is None else fmt.format(value))
        if row.get("recommended"):
            cells[0] = f"{cells[0]} *"
        table.add_row(*cells)
    return table


def billing_lines(bill: pl.DataFrame) -> list[str]:
    """What the bill columns assume: one line per distinct billing model of the comparison.

    >>> billing_lines(pl.DataFrame({"scenario": ["a", "b"], "assumptions": ["x", "x"]}))
    ['bill: x']
    """
    lines = bill.get_column("assumptions").unique(maintain_order=True).to_list()
    if len(lines) == 1:
        return [f"bill: {lines[0]}"]
    return [f"bill of {s}: {a}" for s, a in bill.select("scenario", "assumptions").iter_rows()]


def notes(comparison: Any) -> list[str]:
    """The lines printed under a summary: the SLAs scored, the recommendation and why the
    others are not recommended, cadence warnings, and whether the estate is synthetic."""
    out = billing_lines(comparison.bill().summary)
    out.append(f"SLAs: {comparison.slas.describe()}")
    choice = comparison.recommendation()
    out.append(f"recommended: {choice.scenario} — {choice.reason}")
    out += [f"  not {name}: {why}" for name, why in choice.rejected.items()]
    out += [f"warning: {w.message()}" for w in comparison.cadence_warnings()]
    if getattr(comparison.estate, "synthetic", False):
        out.insert(
            0,
            "illustrative: this estate is synthetic; its figures show how saosim works, not "
            "what SAO saves on a real project",
        )
    return out
