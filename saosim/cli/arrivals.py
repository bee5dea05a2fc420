"""``saosim arrivals PROJECT_DIR``: each source's past arrivals, read from the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saosim.cli import app, console, friendly_errors, print_json
from saosim.cli.plan import _PROJECT, OutputFormat


@app.command("arrivals")
@friendly_errors
def arrivals_command(
    project_dir: Annotated[Path, _PROJECT],
    since: Annotated[
        str, typer.Option("--since", help="how far back: 90d, 12h, 2w, or an ISO date")
    ] = "90d",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="estate folder to write (its source_arrivals replaced)"),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="dbt target")] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="manifest.json or target/ (skip dbt parse)")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json")] = (
        OutputFormat.TABLE
    ),
) -> None:
    """Reconstruct when data landed in each source, from the loaders' audit columns
    (Fivetran, Airbyte, Stitch, dlt), the sources' loaded_at_field, or the warehouse's metadata.

    The SQL runs through dbt's own connection for the profile's target. The arrivals are added
    to the project's state store (so the live estate replays them), or with --out written to
    an estate folder as its source_arrivals table.
    """
    from saosim.live.arrivals import parse_since, write_arrivals

    now = datetime.now(UTC)
    result = write_arrivals(
        project_dir,
        since=parse_since(since, now=now),
        now=now,
        out=out,
        target=target,
        manifest=manifest,
    )
    methods = [
        {
            "source": m.unique_id,
            "how": m.how,
            "detail": m.detail,
            "arrivals": m.arrivals,
            "sql": m.sql,
        }
        for m in result.history.methods
    ]
    if output is OutputFormat.JSON:
        print_json({"written_to": str(result.written_to), "sources": methods})
        return
    table = Table(
        "source", "how", "from", "arrivals", title=f"arrivals since {since} → {result.written_to}"
    )
    for m in methods:
        table.add_row(m["source"], m["how"] or "—", m["detail"], str(m["arrivals"]))
    console.print(table)
