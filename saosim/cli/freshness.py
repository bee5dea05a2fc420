"""``saosim tiers`` and ``saosim fingerprint``: tiers as dbt YAML, and code fingerprints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saosim.cli import app, console, friendly_errors, print_json

_PROJECT = typer.Argument(help="manifest.json, a target/ folder or an estate folder")


@app.command()
@friendly_errors
def tiers(
    project_path: Annotated[Path, _PROJECT],
    tiers_file: Annotated[Path, typer.Argument(help="tiers YAML (tiers: {default: …, …})")],
    out: Annotated[
        Path | None, typer.Option(help="folder to write the dbt YAML to (else it is printed)")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Assign tiers to a project's models and write them as dbt freshness config."""
    from saosim.inputs import load_project
    from saosim.project.tiers import load_tiers, tiers_to_dbt_yaml

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    project = load_project(project_path)
    loaded = load_tiers(tiers_file)
    config = loaded.resolve(project)
    counts = Counter(str(name) for name in loaded.assign(project).values())
    files = tiers_to_dbt_yaml(config, project)
    warnings = _cadence(project_path, config)
    if out is not None:
        for name, text in files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if format == "json":
        print_json(
            {
                "nodes_per_tier": dict(sorted(counts.items())),
                "files": files,
                "cadence_warnings": warnings,
            }
        )
        return
    table = Table(title=f"tiers — {project.name}")
    table.add_column("tier", style="bold")
    table.add_column("nodes", justify="right")
    table.add_column("build_after")
    table.add_column("sla")
    for tier in loaded.tiers:
        ba = tier.freshness.build_after
        sla = tier.freshness.sla_s
        table.add_row(
            tier.name,
            f"{counts.get(tier.name, 0):,}",
            "–" if ba is None else f"{ba.count} {ba.period} ({ba.updates_on})",
            "–" if sla is None else f"{sla / 3600:g} h",
        )
    console.print(table)
    for line in warnings:
        console.print(f"warning: {line}", highlight=False, markup=False)
    if out is None:
        for name, text in files.items():
            console.print(f"[bold]# {name}[/]", highlight=False)
            console.print(text, highlight=False, markup=False)
    else:
        console.print(f"wrote {', '.join(str(out / n) for n in files)}")


def _cadence(project_path: Path, config: object) -> list[str]:
    """Cadence lint against the history's jobs, when the project is an estate folder."""
    if not (project_path / "estate.json").is_file():
        return []
    from saosim.inputs.estate import load_estate
    from saosim.replay.cadence import job_cadences, lint_cadence

    estate = load_estate(project_path)
    found = lint_cadence(estate.project, config, job_cadences(estate))  # type: ignore[arg-type]
    return [w.message() for w in found]


@app.command()
@friendly_errors
def fingerprint(
    project_path: Annotated[Path, _PROJECT],
    previous: Annotated[
        Path | None, typer.Option(help="an older manifest: report which changes are cosmetic")
    ] = None,
    dialect: Annotated[
        str | None, typer.Option(help="sqlglot dialect (default: manifest's)")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Fingerprint a project's code; with --previous, show which code changes are cosmetic."""
    from saosim.inputs import load_project
    from saosim.project.fingerprint import compare_fingerprints, fingerprint_project

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    project, report = fingerprint_project(load_project(project_path), dialect=dialect, warn=False)
    summary: dict[str, object] = {
        "project": project.name,
        "dialect": dialect or project.dialect,
        "total": report.total,
        "parsed": report.parsed,
        "fallback": report.fallback,
        "fallback_by_reason": dict(report.by_reason),
    }
    if previous is not None:
        old, _ = fingerprint_project(load_project(previous), dialect=dialect, warn=False)
        diff = compare_fingerprints(old, project)
        summary["changed"] = list(diff.changed)
        summary["cosmetic"] = list(diff.cosmetic)
    if format == "json":
        print_json(summary)
        return
    table = Table(title=f"fingerprints — {project.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("nodes fingerprinted", f"{report.total:,}")
    table.add_row("parsed by sqlglot", f"{report.parsed:,}")
    table.add_row("normalised-text fallback", f"{report.fallback:,} ({report.fallback_share:.1%})")
    for reason, count in report.by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    if previous is not None:
        table.add_row("models changed (dbt checksum/config)", f"{len(diff.changed):,}")
        table.add_row("  of which cosmetic (same fingerprint)", f"{len(diff.cosmetic):,}")
    console.print(table)
