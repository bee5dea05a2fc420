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
_SLA = typer.Option(
    "--sla",
    help="YAML with slas: {selector: max staleness}, e.g. {default: 26h, 'tag:hourly': 2h}; "
    "every scenario is scored against these (and the tiers' sla: keys)",
)
_WIDE = typer.Option("--wide", help="show every summary column (JSON always has every field)")


def print_summary(comparison: Any, *, title: str, wide: bool) -> None:
    """The summary table and the notes under it (SLAs, recommendation, cadence warnings)."""
    from saosim.cli.render import notes, summary_table

    console.print(summary_table(comparison.summary(), title=title, wide=wide))
    for line in notes(comparison):
        console.print(line, highlight=False, markup=False)


_START = typer.Option("--start", help="replay from (ISO time with zone); for estates without runs")
_END = typer.Option("--end", help="replay until (ISO time with zone)")


def _parse_scenarios(values: list[str], estate_dir: Path | None = None) -> list:
    """Read every ``NAME=FILE``; names unique, ``baseline`` reserved; with ``estate_dir``, the
    tier and job selectors are checked against the estate's project before its history loads.
    """
    from saosim.inputs.estate import load_estate_project
    from saosim.replay.engine import check_names
    from saosim.replay.scenario_config import check_selectors, load_scenario

    scenarios = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"{value!r} is not NAME=CONFIG.yml", field="--scenario")
        scenarios.append(load_scenario(path.strip(), name.strip()))
    check_names(scenarios)
    if estate_dir is not None:
        project = load_estate_project(estate_dir)
        for s in scenarios:
            check_selectors(s, project, path=s.source)
    return scenarios


def _check_runs(scenarios: list, estate: Any, max_runs: int | None, window: dict) -> None:
    import dataclasses

    from saosim.replay.scenario_config import MAX_RUNS, check_scenario

    for s in scenarios:  # the run count, before replaying (over --start/--end when given)
        start, end = window["start"], window["end"]
        if start is not None or end is not None:
            given = s.window or (None, None)
            span = (start or given[0], end or given[1])
            s = dataclasses.replace(s, window=span) if None not in span else s
        check_scenario(s, estate, path=s.source, max_runs=max_runs or MAX_RUNS)


def _time(value: str | None, option: str) -> Any:
    from saosim.replay.scenario_parse import _Reader

    return None if value is None else _Reader(None).time(value, option)


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
    start: Annotated[str | None, _START] = None,
    end: Annotated[str | None, _END] = None,
    sla: Annotated[Path | None, _SLA] = None,
    wide: Annotated[bool, _WIDE] = False,
    rates: Annotated[
        Path | None,
        typer.Option("--rates", help="RATES.yml: billing model, warehouse size, threads, …"),
    ] = None,
) -> None:
    """Replay an estate under each scenario and print the comparison."""
    from saosim.cli.render import summary_records
    from saosim.inputs.estate import load_estate
    from saosim.replay.engine import simulate as run_simulation

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    scenarios = _parse_scenarios(scenario, estate_dir)  # before the history loads
    window = {"start": _time(start, "--start"), "end": _time(end, "--end")}
    cost_model = None
    if rates is not None:
        from saosim.replay.scenario_config import load_rates

        cost_model = load_rates(rates)
    estate = load_estate(estate_dir)
    _check_runs(scenarios, estate, max_runs, window)
    comparison = run_simulation(
        estate, scenarios, engine=engine, slas=sla, cost_model=cost_model, **window
    )
    if decisions is not None:
        comparison.write_decisions(decisions)
    if format == "json":
        print_json(summary_records(comparison.summary()))
    else:
        print_summary(comparison, title=f"saosim — {estate_dir}", wide=wide)
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
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Baseline vs SAO on vs tuned tiers vs dbt Labs' own pattern on the bundled example."""
    from saosim.cli.render import summary_records
    from saosim.tune.demo import run_demo

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    result = run_demo(estate_dir, out)
    if format == "json":
        print_json(summary_records(result.comparison.summary()))
        return
    print_summary(result.comparison, title=result.title, wide=wide)
    for label, path in result.files.items():
        console.print(f"{label}: {path}")
