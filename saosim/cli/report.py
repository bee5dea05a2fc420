"""``saosim report``: replay an estate under scenarios and write the HTML savings report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from saosim.cli import app, console, friendly_errors
from saosim.cli.simulate import (
    _END,
    _SCENARIO,
    _SLA,
    _START,
    _WIDE,
    _parse_scenarios,
    _time,
    print_summary,
)
from saosim.report import write_report


@app.command()
@friendly_errors
def report(
    estate_dir: Annotated[Path, typer.Argument(help="an estate folder (saosim ingest / synth)")],
    scenario: Annotated[list[str], _SCENARIO],
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write")] = Path(
        "savings.html"
    ),
    recommend: Annotated[
        str | None,
        typer.Option("--recommend", help="scenario whose tiers the report shows as dbt YAML"),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto, fast or plain")] = "auto",
    start: Annotated[str | None, _START] = None,
    end: Annotated[str | None, _END] = None,
    dag: Annotated[
        bool | None,
        typer.Option("--dag/--no-dag", help="draw the DAG (default: only up to 1,000 nodes)"),
    ] = None,
    sla: Annotated[Path | None, _SLA] = None,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Replay an estate under each scenario and write one self-contained HTML report."""
    from saosim.inputs.estate import load_estate
    from saosim.replay.engine import simulate as run_simulation

    scenarios = _parse_scenarios(scenario, estate_dir)  # selectors checked before the history
    if recommend is not None and recommend not in {"baseline", *(s.name for s in scenarios)}:
        raise typer.BadParameter(f"no scenario named {recommend!r}", param_hint="--recommend")
    window = {"start": _time(start, "--start"), "end": _time(end, "--end")}
    estate = load_estate(estate_dir)
    comparison = run_simulation(estate, scenarios, engine=engine, slas=sla, **window)
    path = write_report(comparison, out, recommended=recommend, dag=dag)
    print_summary(comparison, title=f"saosim — {estate_dir}", wide=wide)
    choice = comparison.recommendation()
    if recommend is not None and recommend != choice.scenario:
        why = choice.why_not(recommend) or "it is not the cheapest scenario that keeps the SLAs"
        console.print(
            f"--recommend {recommend}: the report shows its tiers but does not label them "
            f"recommended: {why}",
            highlight=False,
            markup=False,
        )
    console.print(f"report: {path}")
