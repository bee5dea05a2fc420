"""The demo: baseline vs SAO on vs two tuned tiers on the bundled example estate.

What ``make demo`` and ``saosim demo`` run; the notebooks start from the same scenarios.

>>> [s.name for s in demo_scenarios()]
['baseline', 'sao', 'tuned']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from saosim.inputs.estate import load_estate
from saosim.project.tiers import Tiers
from saosim.replay.comparison import Comparison
from saosim.replay.engine import Scenario, simulate
from saosim.report import write_report

__all__ = ["DemoResult", "bundled_example", "demo_scenarios", "run_demo"]

#: The tuned configuration of the demo: daily by default, hourly for the hourly-tagged models.
TUNED_TIERS = {
    "default": {"build_after": {"count": 1, "period": "day"}, "sla": "26h"},
    "hourly": {
        "select": "tag:hourly",
        "build_after": {"count": 1, "period": "hour"},
        "sla": "2h",
    },
}


def bundled_example() -> Path:
    """The folder of the bundled example estate (``data/example`` in the repository)."""
    return Path(__file__).resolve().parents[2] / "data" / "example"


def demo_scenarios() -> list[Scenario]:
    """Baseline, SAO on with the project's own settings, and SAO with two tuned tiers."""

    return [
        Scenario("baseline", "baseline"),
        Scenario("sao", "sao"),
        Scenario("tuned", "sao", tiers=Tiers.from_dict(TUNED_TIERS)),
    ]


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
