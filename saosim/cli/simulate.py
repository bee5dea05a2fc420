"""``saosim simulate`` and ``saosim demo``: replay an estate under scenarios and compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from saosim.cli import app, console, friendly_errors, print_json
from saosim.errors import ConfigError

_SCENARIO = typer.Option(
    "--scenario",
    help="NAME=CONFIG.yml (repeatable); CONFIG holds profile, tiers, jobs, rates, options",
)


def _parse_scenarios(values: list[str], estate: Any = None, max_runs: int | None = None) -> list:
    from saosim.replay.scenario_config import MAX_RUNS, check_scenario, load_scenario

    scenarios = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"{value!r} is not NAME=CONFIG.yml", field="--scenario")
        scenarios.append(load_scenario(path.strip(), name.strip()))
        if estate is not None:  # selectors that name nothing, and the run count, up front
            check_scenario(scenarios[-1], estate, path=path.strip(), max_runs=max_runs or MAX_RUNS)
    return scenarios


@app.command()
@friendly_errors
def simulate(
    estate_dir: Annotated[Path, typer.Argument(help="an estate folder (saosim ingest / synth)")],
    scenario: Annotated[list[str], _SCENARIO],
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    decisions: Annotated[
        Path | None, typer.Option("--decisions", help="write the decision log (Parquet)")
    ] = None,
    engine: Annotated[str, typer.Option(help="auto, fast or plain")] = "auto",
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", help="replay more runs than 100,000", min=1)
    ] = None,
    rates: Annotated[
        Path | None,
        typer.Option("--rates", help="RATES.yml: billing model, warehouse size, threads, …"),
    ] = None,
) -> None:
    """Replay an estate under each scenario and print the comparison."""
    from saosim.cli.render import billing_lines, summary_records, summary_table
    from saosim.inputs.estate import load_estate
    from saosim.replay.engine import simulate as run_simulation

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    estate = load_estate(estate_dir)
    scenarios = _parse_scenarios(scenario, estate, max_runs)
    cost_model = None
    if rates is not None:
        from saosim.replay.scenario_config import load_rates

        cost_model = load_rates(rates)
    comparison = run_simulation(estate, scenarios, engine=engine, cost_model=cost_model)
    if decisions is not None:
        comparison.write_decisions(decisions)
    if format == "json":
        print_json(summary_records(comparison.summary()))
    else:
        console.print(summary_table(comparison.summary(), title=f"saosim — {estate_dir}"))
        for line in billing_lines(comparison.bill().summary):
            console.print(line, highlight=False)
        if decisions is not None:
            console.print(f"decision log: {decisions}")


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option(help="folder for the decision log and report")] = Path(
        "saosim-out"
    ),
    estate_dir: Annotated[
        Path | None, typer.Option("--estate", help="estate folder (default: the bundled example)")
    ] = None,
) -> None:
    """Baseline vs SAO on vs two tuned tiers on the bundled example."""
    from saosim.cli.render import billing_lines, summary_table
    from saosim.tune.demo import run_demo

    result = run_demo(estate_dir, out)
    console.print(summary_table(result.comparison.summary(), title=result.title))
    for line in billing_lines(result.comparison.bill().summary):
        console.print(line, highlight=False)
    for label, path in result.files.items():
        console.print(f"{label}: {path}")
