"""``saosim info`` and ``saosim ingest``: what a set of inputs holds, and saving it as an estate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saosim.cli import app, console, friendly_errors, print_json

_PATHS = typer.Argument(
    help="manifest.json, target/ folder, folder of runs, dbt_artifacts/elementary export folder, "
    "or estate folder (several allowed)",
    exists=False,
)
_TIMEZONE = typer.Option(help="zone of export timestamps written without an offset, e.g. UTC")
_STRICT = typer.Option(help="stop on runs of nodes the project does not have, instead of dropping")


def _render(summary: dict[str, object]) -> Table:
    table = Table(title=f"saosim info — {summary['project']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    nodes = summary["nodes"]
    assert isinstance(nodes, dict)
    for kind, count in nodes.items():
        table.add_row(f"{kind}s", f"{count:,}")
    for key in (
        "edges",
        "runs",
        "node_runs",
        "source_arrivals",
        "code_changes",
        "sources_with_arrivals",
        "models_with_freshness",
    ):
        table.add_row(key.replace("_", " "), f"{summary[key]:,}")
    table.add_row("time span", f"{summary['start'] or '–'} → {summary['end'] or '–'}")
    table.add_row("dialect", str(summary.get("dialect") or "–"))
    return table


@app.command()
@friendly_errors
def info(
    paths: Annotated[list[Path], _PATHS],
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    timezone: Annotated[str | None, _TIMEZONE] = None,
    strict: Annotated[bool, _STRICT] = False,
) -> None:
    """Show what was read: nodes by kind, edges, runs, node runs, time span, arrivals."""
    from saosim.inputs import ingest
    from saosim.inputs.estate import load_estate

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    if len(paths) == 1 and (paths[0] / "estate.json").is_file():
        # one estate folder: what it holds, as loaded (its node runs counted, not read)
        estate = load_estate(paths[0])
    else:
        estate = ingest(paths, timezone=timezone, strict=strict)
    summary = {**estate.summary(), "dialect": estate.project.dialect}
    if format == "json":
        print_json(summary)
    else:
        console.print(_render(summary))


@app.command()
@friendly_errors
def ingest(
    paths: Annotated[list[Path], _PATHS],
    out: Annotated[Path, typer.Option("--out", help="estate folder to write")],
    timezone: Annotated[str | None, _TIMEZONE] = None,
    strict: Annotated[bool, _STRICT] = False,
    query_history: Annotated[
        list[Path] | None,
        typer.Option(
            "--query-history",
            help="QUERY_HISTORY / INFORMATION_SCHEMA.JOBS / system.query.history export: "
            "per-node dollars into node_runs.cost (for cost_from_history: true)",
        ),
    ] = None,
    rates: Annotated[
        Path | None, typer.Option("--rates", help="RATES.yml: the prices of --query-history")
    ] = None,
) -> None:
    """Read dbt artifacts, run history or exports and save them as an estate folder."""
    from saosim.inputs import ingest as ingest_inputs

    began = time.perf_counter()
    estate = ingest_inputs(paths, timezone=timezone, strict=strict)
    if query_history:
        estate = _with_query_costs(estate, query_history, rates, timezone)
    folder = estate.save(out)
    summary = estate.summary()
    models = summary["nodes"].get("model", 0) if isinstance(summary["nodes"], dict) else 0
    console.print(
        f"wrote {folder}: {models:,} models, {summary['runs']:,} runs, "
        f"{summary['node_runs']:,} node runs, {summary['source_arrivals']:,} arrivals, "
        f"{summary['code_changes']:,} code changes ({time.perf_counter() - began:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )


def _with_query_costs(estate, files: list[Path], rates: Path | None, timezone: str | None):
    from saosim.cost.attribution import with_query_costs
    from saosim.cost.rates import CostModel
    from saosim.inputs.metering import read_metering
    from saosim.replay.scenario_config import load_rates

    model = load_rates(rates) if rates is not None else CostModel()
    metered = read_metering(files, timezone=timezone)
    estate, matched, unmatched = with_query_costs(estate, metered.queries, model.billing)
    console.print(
        f"query history: dollars for {matched:,} node runs"
        + (f"; {unmatched:,} (invocation, node) pairs match no node run" if unmatched else ""),
        highlight=False,
    )
    return estate
