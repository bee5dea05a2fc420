"""The demo: baseline vs SAO on vs two tuned tiers on the bundled example estate.

What ``make demo`` and ``saosim demo`` run; the notebooks start from the same scenarios.

>>> [s.name for s in demo_scenarios()]
['baseline', 'sao', 'tuned']
>>> from saosim.project.graph import Project
>>> list(tuned_tiers(Project.from_spec({"raw.a": [], "m": ["raw.a"]})))  # no tag:hourly here
['default']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from saosim.inputs.estate import load_estate
from saosim.project.graph import Project
from saosim.project.tiers import Tiers
from saosim.replay.comparison import Comparison
from saosim.replay.engine import Scenario, simulate
from saosim.report import write_report

__all__ = ["DemoResult", "bundled_example", "demo_scenarios", "run_demo", "tuned_tiers"]

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


def tuned_tiers(project: Project | None = None) -> dict[str, dict]:
    """:data:`TUNED_TIERS` for a project with ``tag:hourly`` models (or no project given);
    for any other project only its ``default`` tier, so the same notebook runs on every project.
    """
    if project is None:
        return dict(TUNED_TIERS)
    hourly = any("hourly" in n.tags for n in project.nodes.values() if n.is_buildable)
    return dict(TUNED_TIERS) if hourly else {"default": TUNED_TIERS["default"]}


def demo_scenarios(project: Project | None = None) -> list[Scenario]:
    """Baseline, SAO on with the project's own settings, and SAO with the tuned tiers
    (:func:`tuned_tiers` of ``project``: two tiers, or one on a project without hourly tags)."""

    return [
        Scenario("baseline", "baseline"),
        Scenario("sao", "sao"),
        Scenario("tuned", "sao", tiers=Tiers.from_dict(tuned_tiers(project))),
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
