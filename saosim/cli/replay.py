"""``saosim replay SCENARIO.yaml``: run a hand-written scenario through the planner."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from saosim.cli import app, console, friendly_errors, print_json


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _iso(value: object) -> str:
    return value.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


@app.command()
@friendly_errors
def replay(
    scenario: Annotated[
        Path, typer.Argument(help="A scenario YAML file (see README, Scenario files).")
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", help="baseline, sao, dbt_state or orchestra (default: the file's)."
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.TABLE,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="plain (the planner at every run), fast (the compiled replay) or auto "
            "(fast when it can run the file, else plain with a warning).",
        ),
    ] = "auto",
) -> None:
    """Replay a scenario: one row per run and selected node (run_at, job, node, action, reason)."""
    from saosim.replay.scenario_file import load_scenario_file, replay_scenario

    result = replay_scenario(load_scenario_file(scenario), profile=profile, engine=engine)
    keys = ("run_at", "job", "node", "action", "reason")
    rows = [{k: (_iso(r[k]) if k == "run_at" else r[k]) for k in keys} for r in result.rows]
    if output is OutputFormat.JSON:
        print_json(rows)
    elif output is OutputFormat.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.table import Table

        table = Table(*keys, title=f"{scenario.name} — profile {result.profile.value}")
        for row in rows:
            table.add_row(*(str(row[k]) for k in keys))
        console.print(table)
