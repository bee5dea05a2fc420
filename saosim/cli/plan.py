"""``saosim plan PROJECT_DIR`` (plan, ``--execute``, ``--shadow``), ``saosim shadow-report`` and
``saosim unlock``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from saosim.cli import app, console, err_console, friendly_errors, print_json
from saosim.errors import ConfigError

_COLOURS = {"build": "green", "run": "cyan", "reuse": "dim", "skip": "red", "no_op": "dim"}


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


_PROJECT = typer.Argument(help="The dbt project folder (with dbt_project.yml).")
_FORMAT = typer.Option("--format", "-f", help="table or json")


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not an ISO time", field="--at") from None
    if at.tzinfo is None:
        raise ConfigError(f"{value!r} has no time zone; add +00:00", field="--at")
    return at


def _rows(frame: Any) -> list[dict[str, Any]]:
    keys = [k for k in ("unique_id", "name", "action", "reason", "detail", "status") if k in frame]
    return [
        {("node" if k == "unique_id" else k): row[k] for k in keys}
        for row in frame.select(keys).iter_rows(named=True)
    ]


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    columns = [k for k in ("name", "action", "reason", "status", "detail") if k in rows[0]]
    table = Table(*columns, title=title) if rows else Table(title=title)
    for row in rows:
        colour = _COLOURS.get(row["action"], "")
        cells = [str(row[k] or "") for k in columns]
        cells[1] = f"[{colour}]{cells[1]}[/]" if colour else cells[1]
        table.add_row(*cells)
    return table


@app.command("plan")
@friendly_errors
def plan_command(
    project_dir: Annotated[Path, _PROJECT],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="baseline, sao, dbt_state or orchestra")
    ] = "sao",
    select: Annotated[str | None, typer.Option("--select", "-s", help="dbt selector")] = None,
    exclude: Annotated[str | None, typer.Option("--exclude", help="dbt selector")] = None,
    execute: Annotated[bool, typer.Option("--execute", help="run dbt build on the plan")] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="full dbt build; record what would be reused")
    ] = False,
    at: Annotated[str | None, typer.Option("--at", help="plan time, ISO with offset")] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="manifest.json or target/ (skip dbt parse)")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="dbt target")] = None,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout", help="seconds a lock holder's heartbeat may be silent (default 600)"
        ),
    ] = 600.0,
    output: Annotated[OutputFormat, _FORMAT] = OutputFormat.TABLE,
    explain: Annotated[
        str | None,
        typer.Option("--explain", help="print the planner's sentence for one node (name or id)"),
    ] = None,
) -> None:
    """Plan a run of a live dbt project: build or reuse each node, with a reason.

    With --execute, dbt builds the plan (exit code 1 when a node fails, as dbt's); with
    --shadow, dbt builds everything and the plan is recorded as a prediction. With --explain
    NODE, only why NODE is built or reused (``Plan.explain``).
    """
    from saosim.live import StateStore
    from saosim.live import plan as live_plan

    if execute and shadow:
        raise ConfigError("choose --execute or --shadow, not both", field="--shadow")
    if lock_timeout <= 0:
        raise ConfigError(
            f"{lock_timeout} is not a positive number of seconds", field="--lock-timeout"
        )
    store = None
    if (Path(project_dir) / "dbt_project.yml").is_file():
        store = StateStore.for_project(project_dir, lock_timeout_s=lock_timeout)
    made = live_plan(
        project_dir,
        profile,
        state=store,
        select=select,
        exclude=exclude,
        at=_at(at),
        manifest=manifest,
        target=target,
    )
    if explain is not None and not (execute or shadow):
        _explain(made, explain, output)
        return
    if shadow:
        result = made.shadow()
        frame = result.plan.to_frame()
        statuses = result.build.statuses if result.build is not None else {}
        frame = frame.with_columns(
            frame.get_column("unique_id").replace_strict(statuses, default=None).alias("status")
        )
        title = f"shadow run — predicted; verdicts: {result.summary()}"
    elif execute:
        result = made.execute()
        if result.waits:
            err_console.print(
                f"waited {result.waited_s:.1f} s for another run building the same nodes, "
                "then planned again"
            )
        frame = result.to_frame()
        title = f"executed — {result.counts()}"
    else:
        frame = made.to_frame()
        title = f"plan at {made.at:%Y-%m-%d %H:%M} UTC — {made.counts()}"
    rows = _rows(frame)
    if output is OutputFormat.JSON:
        print_json(rows)
    else:
        console.print(_table(rows, title))
    if explain is not None:
        _explain(made, explain, output)
    if any(r.get("status") in ("error", "fail", "runtime error") for r in rows):
        raise typer.Exit(code=1)  # as dbt does when a node fails


def _explain(made: Any, node: str, output: OutputFormat) -> None:
    """``--explain NODE``: the planner's sentence for one node (``Plan.explain``)."""
    from saosim.errors import SelectionError

    try:
        decision = made.decision(node)
        sentence = made.explain(node)
    except (KeyError, SelectionError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise ConfigError(str(message), field="--explain") from None
    if output is OutputFormat.JSON:
        print_json(
            {
                "node": decision.node_id,
                "action": decision.action.value,
                "reason": decision.reason.value,
                "explain": sentence,
            }
        )
    else:
        console.print(f"{node}: {sentence}", highlight=False, soft_wrap=True)


@app.command("shadow-report")
@friendly_errors
def shadow_report_command(
    project_dir: Annotated[Path, _PROJECT],
    latest: Annotated[bool, typer.Option("--latest", help="only the last shadow run")] = False,
    output: Annotated[OutputFormat, _FORMAT] = OutputFormat.TABLE,
) -> None:
    """Compare shadow runs' predicted reuse with what actually changed, per model.

    Each mismatch is a deliberate reuse (a build_after window or lag tolerance chose the stale
    data, here or upstream) or a wrong prediction (no config explains it).
    """
    from saosim.live import shadow_report

    report = shadow_report(project_dir, latest=latest)
    keys = ("run_at", "unique_id", "name", "predicted", "reason", "changed", "verdict", "mismatch")
    reuse = report.reuse()
    verdict_line = (
        f"predicted reuse {reuse['predicted_pct']:.1f} % vs actual {reuse['actual_pct']:.1f} % "
        f"(within {reuse['within_points']:.1f} points); mismatches: {report.mismatches()}"
    )
    rows = [
        {("node" if k == "unique_id" else k): r[k] for k in (*keys, "rows_before", "rows_after")}
        for r in report.rows.iter_rows(named=True)
    ]
    if output is OutputFormat.JSON:
        print_json(
            {
                "summary": report.summary(),
                "mismatches": report.mismatches(),
                "reuse": reuse,
                "rows": rows,
            }
        )
        return
    table = Table(
        "name",
        "predicted",
        "reason",
        "rows",
        "changed",
        "verdict",
        "mismatch",
        title=f"shadow report — {report.summary()}",
        caption=verdict_line,
    )
    for r in rows:
        colour = "red" if r["mismatch"] == "wrong_prediction" else ""
        verdict = f"[{colour}]{r['verdict']}[/]" if colour else r["verdict"]
        table.add_row(
            r["name"],
            r["predicted"],
            r["reason"],
            f"{r['rows_before']} → {r['rows_after']}",
            str(r["changed"]).lower(),
            verdict,
            r["mismatch"] or "",
        )
    console.print(table)


@app.command("unlock")
@friendly_errors
def unlock_command(
    project_dir: Annotated[Path, _PROJECT],
    dead_only: Annotated[
        bool,
        typer.Option("--dead-only", help="release only holders whose process is gone or silent"),
    ] = False,
) -> None:
    """Release the state store's build locks by hand and say whose they were.

    Their running plans are marked abandoned. A holder whose process died on this host is
    released by the next plan anyway; use this for a holder on another host, before its
    heartbeat times out.
    """
    from saosim.live import StateStore

    folder = Path(project_dir)
    if not (folder / "dbt_project.yml").is_file():
        raise ConfigError("is not a dbt project (no dbt_project.yml)", path=str(folder))
    released = StateStore.for_project(folder).unlock(everyone=not dead_only)
    if not released:
        console.print("no locks were held")
        return
    for r in released:
        beat = f", last heartbeat {r.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if r.heartbeat_at else ""
        console.print(
            f"released {r.nodes} lock(s) of {r.holder} (host {r.host}, pid {r.pid}{beat}; "
            f"{r.why.replace('_', ' ')}); its running plan is marked abandoned",
            highlight=False,
        )
