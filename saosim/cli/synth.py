"""``saosim synth``: write a synthetic estate folder (and, optionally, real dbt artifacts)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from saosim.cli import app, console, friendly_errors
from saosim.errors import ConfigError


def _start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is not an ISO 8601 time", field="--start") from None
    if value.tzinfo is None:
        raise ConfigError(f"{text!r} has no time zone; add Z or +00:00", field="--start")
    return value


@app.command()
@friendly_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="estate folder to write")],
    models: Annotated[int, typer.Option("--models", help="number of models")] = 1500,
    days: Annotated[float, typer.Option("--days", help="days of history")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="seed of every draw")] = 0,
    start: Annotated[str, typer.Option("--start", help="first instant (UTC)")] = (
        "2025-01-01T00:00:00Z"
    ),
    from_manifest: Annotated[
        Path | None,
        typer.Option("--from-manifest", help="a real manifest.json: synthesise its history"),
    ] = None,
    artifacts: Annotated[
        Path | None,
        typer.Option("--artifacts", help="also write manifest.json and per-run target folders"),
    ] = None,
    query_ids: Annotated[bool, typer.Option(help="fill node_runs.query_id")] = False,
    manifest_history: Annotated[
        bool, typer.Option(help="with --artifacts: a manifest per code change (large)")
    ] = False,
) -> None:
    """Generate a synthetic estate: a realistic DAG (or a real manifest's) and its run history."""
    from saosim.synth.estate import synthetic_estate, synthetic_history

    began = time.perf_counter()
    first = _start(start)
    if from_manifest is not None:
        from saosim.inputs import read_manifest

        estate = synthetic_history(
            read_manifest(from_manifest), days, seed, start=first, query_ids=query_ids
        )
    else:
        estate = synthetic_estate(models, days, seed, first, query_ids=query_ids)
    folder = estate.save(out)
    s = estate.summary()
    console.print(
        f"wrote {folder}: {sum(s['nodes'].values()):,} nodes, {s['runs']:,} runs, "  # type: ignore[union-attr]
        f"{s['node_runs']:,} node runs, {s['source_arrivals']:,} arrivals, "
        f"{s['code_changes']:,} code changes ({time.perf_counter() - began:.1f} s)",
        highlight=False,
    )
    if artifacts is not None:
        from saosim.inputs.write import write_artifacts

        write_artifacts(estate, artifacts, manifest_history=manifest_history)
        console.print(f"wrote dbt artifacts to {artifacts}", highlight=False)
