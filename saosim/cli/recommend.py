"""``saosim recommend``: the cheapest tiers (and job schedule) that keep the SLAs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from saosim.cli import app, console, err_console, friendly_errors, print_json


@app.command()
@friendly_errors
def recommend(
    estate_dir: Annotated[Path, typer.Argument(help="an estate folder (saosim ingest / synth)")],
    sla: Annotated[
        Path,
        typer.Option("--sla", help="YAML with slas: {selector: max staleness}: what to keep"),
    ],
    rates: Annotated[
        Path | None,
        typer.Option("--rates", help="RATES.yml: billing model, warehouse size, threads, …"),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option("--budget", help="candidates to score (N) or seconds of search (Ns)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="write recommendation.json, dbt YAML and the report here"),
    ] = None,
    schedule: Annotated[
        list[str] | None,
        typer.Option(
            "--schedule",
            help="job schedules to search (repeatable): history, per-sla, or "
            "'CRON[@SELECTOR]; …'; default: history, one hourly job on *, and per-sla (one job "
            "per SLA, round the clock and within the hours each other schedule runs)",
        ),
    ] = None,
    max_tiers: Annotated[int, typer.Option("--max-tiers", help="at most this many tiers")] = 5,
    max_added_breach: Annotated[
        float,
        typer.Option("--max-added-breach", help="accept this many points of breach over what ran"),
    ] = 0.0,
    profile: Annotated[str, typer.Option(help="sao or dbt_state")] = "sao",
    seed: Annotated[int, typer.Option(help="the search's seed (same seed, same answer)")] = 0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="local processes (default: every core)")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="score on a Ray cluster: auto, ADDRESS or local"),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="NAME=CONFIG.yml of your own, drawn on the frontier"),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Search tiers and schedules for the cheapest bill that keeps the SLAs; show the trade-off
    and the dbt config to paste."""
    from saosim.cli.simulate import _parse_scenarios
    from saosim.inputs.estate import load_estate
    from saosim.tune.recommend import recommend as run_recommend

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    cost_model = None
    if rates is not None:
        from saosim.replay.scenario_config import load_rates

        cost_model = load_rates(rates)
    own = {s.name: s for s in _parse_scenarios(scenario or [], estate_dir)}
    executor = f"ray:{ray}" if ray else (f"processes:{workers}" if workers else "processes")
    estate = load_estate(estate_dir)
    quiet = format == "json"
    rec = run_recommend(
        estate,
        sla,
        cost_model=cost_model,
        budget=budget,
        schedules=schedule or None,
        max_tiers=max_tiers,
        max_added_breach=max_added_breach,
        profile=profile,
        seed=seed,
        executor=executor,
        scenarios=own or None,
        progress=None if quiet else (lambda line: err_console.print(line, highlight=False)),
    )
    files = rec.write(out, estate, cost_model) if out is not None else {}
    if quiet:
        print_json(rec.to_dict())
        return
    for line in _lines(rec):
        console.print(line, highlight=False, markup=False)
    for label, path in files.items():
        console.print(f"{label}: {path}", highlight=False)


def _lines(rec: object) -> list[str]:
    """The recommendation as a few lines of text (baseline, recommended, tiers, frontier)."""
    d = rec.to_dict()  # type: ignore[attr-defined]

    def money(p: dict) -> str:
        return f"${(p['bill_usd'] if p['bill_usd'] is not None else p['cost_usd']):,.0f}"

    base, best = d["baseline"], d["recommended"]
    out = [
        f"baseline (what ran): {money(base)}, SLA breach {base['sla_breach_pct']:.2f}%",
        f"recommended: {money(best)}, SLA breach {best['sla_breach_pct']:.2f}% — {d['reason']}",
    ]
    if best.get("jobs"):
        out.append("jobs: " + "; ".join(f"{j['cron']} on {j['select']}" for j in best["jobs"]))
    for name, spec in (best.get("tiers") or {}).items():
        ba = spec.get("build_after")
        window = f"{ba['count']} {ba['period']} (updates_on {ba['updates_on']})" if ba else "none"
        out.append(f"  tier {name}: {spec.get('select', '(every other model)')} → {window}")
    out.append(
        f"frontier ({len(d['frontier'])} of {d['candidates_scored']} candidates): "
        + ", ".join(f"{money(p)}/{p['sla_breach_pct']:.2f}%" for p in d["frontier"][:8])
    )
    return out
