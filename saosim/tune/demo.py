"""The demo: baseline vs SAO on vs tuned tiers vs dbt Labs' own pattern, on the bundled example.

What ``make demo`` and ``saosim demo`` run; the notebooks start from the same scenarios. Every
scenario is scored against the same SLAs (the tuned tiers' ``sla:`` keys: 26 h by default, 2 h
for the hourly-tagged models), and the summary recommends the cheapest scenario that breaches
them no more than the baseline does.

The tuned scenario is what a team switching SAO on would run: two tiers, and the history's
overlapping jobs consolidated into one state-aware job on every model (:data:`TUNED_JOBS`).
With SAO a job can run often on everything, because a run with nothing new to build reuses it;
the history's jobs, kept as they are, overlap, so the shared warehouse stays up as long and
reuses save little of the bill (see the README's demo section). The tuned windows sit just
under the intervals they serve (23 h for the daily tier, 55 minutes for the hourly one): a
1-day window on a daily cadence makes a model rebuild every second day, which saves money by
letting the data go stale (see :mod:`saosim.replay.cadence`).

>>> [s.name for s in demo_scenarios()]
['baseline', 'sao', 'tuned', 'dbt-labs-pattern']
>>> from saosim.project.graph import Project
>>> list(tuned_tiers(Project.from_spec({"raw.a": [], "m": ["raw.a"]})))  # no tag:hourly here
['default']
>>> [j["name"] for j in tuned_jobs(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))]
['working_hours', 'weekend_morning']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saosim.inputs.estate import load_estate
from saosim.project.graph import Project
from saosim.project.tiers import Tier, Tiers
from saosim.replay.comparison import Comparison
from saosim.replay.engine import Scenario, simulate
from saosim.replay.scenario_config import load_scenario, scenario_from_dict
from saosim.report import write_report

__all__ = [
    "TUNED_JOBS",
    "DemoResult",
    "bundled_example",
    "demo_scenarios",
    "run_demo",
    "scenario_files",
    "tuned_jobs",
    "tuned_scenario",
    "tuned_tiers",
]

#: The tuned configuration of the demo: at most daily by default, hourly for the hourly-tagged
#: models; each window just under its job's interval, so neither halves the job's cadence.
TUNED_TIERS = {
    "default": {"build_after": {"count": 23, "period": "hour"}, "sla": "26h"},
    "hourly": {
        "select": "tag:hourly",
        "build_after": {"count": 55, "period": "minute"},
        "sla": "2h",
    },
}
#: The tuned schedule (cron, UTC): every model hourly through the working day, a morning run of
#: everything at weekends, and the hourly-tagged models hourly by day at weekends too. It
#: replaces the history's four overlapping jobs (a daily and a midday run of everything, a
#: six-hourly run of one domain, an hourly run of the hourly models on working days).
TUNED_JOBS = (
    {"name": "working_hours", "cron": "15 6-20 * * 1-5", "select": "*"},
    {"name": "weekend_morning", "cron": "0 6 * * 0,6", "select": "*"},
    {"name": "weekend_hourly", "cron": "15 7-20 * * 0,6", "select": "tag:hourly"},
)
#: dbt Labs' own pattern (one hourly job on every model plus a weekend job, a daily default
#: tier and an hourly tier), shipped as a scenario file a reader can replay on their history
DBT_LABS_PATTERN = "dbt-labs-pattern"


def bundled_example() -> Path:
    """The folder of the bundled example estate (``data/example`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "data" / "example"


def tuned_tiers(project: Project | None = None) -> dict[str, dict]:
    """:data:`TUNED_TIERS` for a project with ``tag:hourly`` models (or no project given);
    for any other project only its ``default`` tier, so the same notebook runs on every project.
    """
    if project is None:
        return dict(TUNED_TIERS)
    hourly = any("hourly" in n.tags for n in project.nodes.values() if n.is_buildable)
    return dict(TUNED_TIERS) if hourly else {"default": TUNED_TIERS["default"]}


def tuned_jobs(project: Project | None = None) -> list[dict[str, str]]:
    """:data:`TUNED_JOBS` in the scenario-file form; on a project without hourly-tagged models
    the weekend hourly job is left out, since it would select nothing."""
    keep = "hourly" in tuned_tiers(project)
    return [dict(j) for j in TUNED_JOBS if keep or j["select"] != "tag:hourly"]


def tuned_scenario(project: Project | None = None) -> dict[str, Any]:
    """The demo's tuned scenario in the scenario-file form (:func:`tuned_tiers` on
    :func:`tuned_jobs`), for :func:`saosim.simulate`, ``compare`` and ``recommend``.

    >>> sorted(tuned_scenario())
    ['jobs', 'profile', 'tiers']
    """
    return {"profile": "sao", "tiers": tuned_tiers(project), "jobs": tuned_jobs(project)}


def _with_hourly_tier(scenario: Scenario, project: Project | None) -> Scenario:
    """dbt Labs' pattern with its hourly tier (no window, 2 h SLA) where the project has
    hourly-tagged models; the shipped file leaves that tier commented so it runs anywhere."""
    if "hourly" not in tuned_tiers(project) or scenario.tiers is None:
        return scenario
    hourly = Tier.from_dict("hourly", {"select": "tag:hourly", "sla": "2h"})
    tiers = Tiers((hourly, *scenario.tiers.tiers), scenario.tiers.path)
    return dataclasses.replace(scenario, tiers=tiers)


def scenario_files() -> Path:
    """The folder of the shipped scenario files (``examples/scenarios`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def demo_scenarios(project: Project | None = None) -> list[Scenario]:
    """Baseline, SAO on with the project's own settings, SAO with the tuned tiers
    (:func:`tuned_tiers` of ``project``: two tiers, or one on a project without hourly tags)
    on the tuned schedule (:func:`tuned_jobs`), and dbt Labs' pattern
    (``examples/scenarios/dbt-labs-pattern.yml``, when the repository is at hand)."""
    out = [
        Scenario("baseline", "baseline"),
        Scenario("sao", "sao"),
        scenario_from_dict(tuned_scenario(project), "tuned"),
    ]
    pattern = scenario_files() / f"{DBT_LABS_PATTERN}.yml"
    if pattern.is_file():
        out.append(_with_hourly_tier(load_scenario(pattern, DBT_LABS_PATTERN), project))
    return out


@dataclass
class DemoResult:
    comparison: Comparison
    title: str
    files: dict[str, Path] = field(default_factory=dict)


def run_demo(estate_dir: Path | None, out: Path) -> DemoResult:
    """Replay the demo scenarios and write the decision log (and the report) under ``out``."""
    folder = estate_dir or bundled_example()
    estate = load_estate(folder)
    comparison = simulate(estate, demo_scenarios(estate.project))
    out.mkdir(parents=True, exist_ok=True)
    files = {"decision log": comparison.write_decisions(out / "decisions.parquet")}
    files["report"] = write_report(comparison, out / "savings.html")
    start, end = comparison.start, comparison.end
    title = (
        f"saosim demo — {estate.project.name}: {len(estate.project.buildable):,} models, "
        f"{start:%Y-%m-%d} → {end:%Y-%m-%d}"
    )
    return DemoResult(comparison, title, files)
