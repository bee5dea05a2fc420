"""``saosim reconcile`` (the baseline bill against what was metered) and ``saosim sql metering``
(the aggregation to run in the warehouse)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saosim.cli import app, console, friendly_errors, print_json

sql_app = typer.Typer(help="SQL to run in your warehouse.", no_args_is_help=True)
app.add_typer(sql_app, name="sql")


@app.command()
@friendly_errors
def reconcile(
    estate_dir: Annotated[Path, typer.Argument(help="an estate folder (saosim ingest / synth)")],
    metering: Annotated[
        list[Path],
        typer.Option(
            "--metering",
            help="metering / query-history export (CSV or Parquet), repeatable: "
            "WAREHOUSE_METERING_HISTORY, QUERY_HISTORY, INFORMATION_SCHEMA.JOBS, "
            "system.billing.usage, system.query.history, or `saosim sql metering` output",
        ),
    ],
    rates: Annotated[
        Path | None, typer.Option("--rates", help="RATES.yml: billing model, size, warehouses")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="zone of timestamps without an offset")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Metered credits and dollars per warehouse and day against saosim's baseline replay."""
    from saosim.inputs.estate import load_estate
    from saosim.inputs.metering import read_metering
    from saosim.replay.reconcile import reconcile_estate
    from saosim.replay.scenario_config import load_rates

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    cost_model = load_rates(rates) if rates is not None else None
    metered = read_metering(metering, timezone=timezone)
    result = reconcile_estate(load_estate(estate_dir), metered, cost_model=cost_model)
    if format == "json":
        print_json(
            {
                "per_warehouse_day": result.per_warehouse_day.to_dicts(),
                "totals": result.totals,
                "notes": list(result.notes),
            }
        )
        return
    console.print(_table(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


def _table(result) -> Table:
    unit = result.totals["unit"]
    table = Table(title=f"metered vs saosim's baseline ({unit})")
    columns = (
        ("warehouse", "warehouse", "{}"),
        ("day", "day", "{}"),
        ("metered_units", f"metered {unit}", "{:,.2f}"),
        ("metered_usd", "metered $", "{:,.2f}"),
        ("saosim_units", f"saosim {unit}", "{:,.2f}"),
        ("saosim_usd", "saosim $", "{:,.2f}"),
        ("difference_usd", "difference $", "{:+,.2f}"),
        ("unexplained_pct", "not dbt %", "{:.1f}"),
    )
    for _, heading, _ in columns:
        table.add_column(heading, justify="left" if heading in ("warehouse", "day") else "right")
    for row in result.per_warehouse_day.iter_rows(named=True):
        table.add_row(*("–" if row[c] is None else f.format(row[c]) for c, _, f in columns))
    t = result.totals
    table.add_row(
        "total",
        "",
        f"{t['metered_units']:,.2f}",
        f"{t['metered_usd']:,.2f}",
        f"{t['saosim_units']:,.2f}",
        f"{t['saosim_usd']:,.2f}",
        f"{t['difference_usd']:+,.2f}",
        "–" if t["unexplained_pct"] is None else f"{t['unexplained_pct']:.1f}",
    )
    return table


@sql_app.command("metering")
@friendly_errors
def sql_metering(
    dialect: Annotated[
        str, typer.Option("--dialect", help="snowflake, bigquery or databricks (or duckdb)")
    ] = "snowflake",
    vendor: Annotated[
        str | None,
        typer.Option("--vendor", help="whose views to read (default: the dialect's)"),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="days back to aggregate", min=1)] = 90,
) -> None:
    """Print the SQL that aggregates metering and dbt's queries per day, warehouse, invocation
    and node; export each result as CSV and pass it to `saosim reconcile --metering`."""
    from saosim.inputs.pushdown import metering_sql

    statements = metering_sql(vendor or dialect, dialect=dialect, days=days)
    for name, sql in statements.items():
        typer.echo(f"-- {name}: export as CSV for saosim reconcile --metering")
        typer.echo(sql + ";\n")
