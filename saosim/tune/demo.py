"""The demo: baseline vs SAO on vs tuned tiers vs dbt Labs' own pattern, on the bundled example.

What ``make demo`` and ``saosim demo`` run; the notebooks start from the same scenarios. Every
scenario is scored against the same SLAs (the tuned tiers' ``sla:`` keys: 26 h by default, 2 h
for the hourly-tagged models), and the summary recommends the cheapest scenario that breaches
them no more than the baseline does.

The tuned windows sit just under the jobs' intervals (23 h for the daily job, 55 minutes for the
hourly one): a 1-day window on a daily job makes a model rebuild every second day, which saves
money by letting the data go stale (see :mod:`saosim.replay.cadence`).

>>> [s.name for s in demo_scenarios()]
['baseline', 'sao', 'tuned', 'dbt-labs-pattern']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from saosim.inputs.estate import load_estate
from saosim.project.tiers import Tiers
from saosim.replay.comparison import Comparison
from saosim.replay.engine import Scenario, simulate
from saosim.replay.scenario_config import load_scenario
from saosim.report import write_report

__all__ = ["DemoResult", "bundled_example", "demo_scenarios", "run_demo", "scenario_files"]

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
#: dbt Labs' own pattern (one hourly job on every model plus a weekend job, a daily default
#: tier and an hourly tier), shipped as a scenario file a reader can replay on their history
DBT_LABS_PATTERN = "dbt-labs-pattern"


def bundled_example() -> Path:
    """The folder of the bundled example estate (``data/example`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "data" / "example"


def scenario_files() -> Path:
    """The folder of the shipped scenario files (``examples/scenarios`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def demo_scenarios() -> list[Scenario]:
    """Baseline, SAO on with the project's own settings, SAO with tuned tiers, and dbt Labs'
    pattern (``examples/scenarios/dbt-labs-pattern.yml``, when the repository is at hand)."""
    out = [
        Scenario("baseline", "baseline"),
        Scenario("sao", "sao"),
        Scenario("tuned", "sao", tiers=Tiers.from_dict(TUNED_TIERS)),
    ]
    pattern = scenario_files() / f"{DBT_LABS_PATTERN}.yml"
    if pattern.is_file():
        out.append(load_scenario(pattern, DBT_LABS_PATTERN))
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
    comparison = simulate(estate, demo_scenarios())
    out.mkdir(parents=True, exist_ok=True)
    files = {"decision log": comparison.write_decisions(out / "decisions.parquet")}
    files["report"] = write_report(comparison, out / "savings.html")
    start, end = comparison.start, comparison.end
    title = (
        f"saosim demo — {estate.project.name}: {len(estate.project.buildable):,} models, "
        f"{start:%Y-%m-%d} → {end:%Y-%m-%d}"
    )
    return DemoResult(comparison, title, files)
