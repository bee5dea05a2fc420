"""saosim: replay a dbt project's history through a state-aware planner.

The public API is imported lazily, so ``import saosim`` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Project": "saosim.project.graph",
    "Node": "saosim.project.graph",
    "Estate": "saosim.inputs.estate",
    "load_estate": "saosim.inputs.estate",
    "SaosimError": "saosim.errors",
    "SaosimInputError": "saosim.errors",
    "SaosimWarning": "saosim.errors",
    "BuildAfter": "saosim.project.freshness",
    "NodeFreshness": "saosim.project.freshness",
    "FreshnessConfig": "saosim.project.freshness",
    "plan": "saosim.core.planner",
    "Plan": "saosim.core.planner",
    "Decision": "saosim.core.decision",
    "Action": "saosim.core.decision",
    "Reason": "saosim.core.decision",
    "Profile": "saosim.core.decision",
    "ProfileOptions": "saosim.core.decision",
    "NodeState": "saosim.core.state",
    "State": "saosim.core.state",
    "load_project": "saosim.inputs.ingest",
    "ingest": "saosim.inputs.ingest",
    "read_manifest": "saosim.inputs.manifest",
    "read_project_freshness": "saosim.project.freshness_yaml",
    "Tier": "saosim.project.tiers",
    "Tiers": "saosim.project.tiers",
    "load_tiers": "saosim.project.tiers",
    "tiers_to_dbt_yaml": "saosim.project.tiers",
    "fingerprint_sql": "saosim.project.fingerprint",
    "fingerprint_node": "saosim.project.fingerprint",
    "fingerprint_project": "saosim.project.fingerprint",
    "FingerprintReport": "saosim.project.fingerprint",
    "compare_fingerprints": "saosim.project.fingerprint",
    "source_versions": "saosim.live.metadata",
    "dbt_parse": "saosim.live.dbt_runner",
    "dbt_build": "saosim.live.dbt_runner",
    "StateStore": "saosim.live.store",
    "CostModel": "saosim.cost.rates",
    "RuntimeModel": "saosim.cost.runtime",
    "BuildCosts": "saosim.cost.runtime",
    "fit_costs": "saosim.cost.runtime",
    "history_cost": "saosim.cost.runtime",
    "staleness": "saosim.metrics.staleness",
    "StalenessResult": "saosim.metrics.staleness",
    "summarize": "saosim.metrics.tables",
    "per_model": "saosim.metrics.tables",
    "per_tier": "saosim.metrics.tables",
    "per_day": "saosim.metrics.tables",
    "synthetic_estate": "saosim.synth.estate",
    "synthetic_history": "saosim.synth.estate",
    "synthetic_project": "saosim.synth.estate",
    "SynthJob": "saosim.synth.estate",
    "write_artifacts": "saosim.inputs.write",
    "ScenarioFile": "saosim.replay.scenario_file",
    "load_scenario_file": "saosim.replay.scenario_file",
    "replay_scenario": "saosim.replay.scenario_file",
    "Scenario": "saosim.replay.engine",
    "simulate": "saosim.replay.engine",
    "load_scenario": "saosim.replay.scenario_config",
    "Job": "saosim.replay.timeline",
    "compare": "saosim.tune.tuner",
    "Comparison": "saosim.replay.comparison",
    "scenario_from_dict": "saosim.replay.scenario_config",
    "bundled_example": "saosim.tune.demo",
    "demo_scenarios": "saosim.tune.demo",
    "TUNED_TIERS": "saosim.tune.demo",
    "tuned_tiers": "saosim.tune.demo",
    "TUNED_JOBS": "saosim.tune.demo",
    "tuned_jobs": "saosim.tune.demo",
    "tuned_scenario": "saosim.tune.demo",
    "state_at": "saosim.replay.replayed_state",
    "Tuner": "saosim.tune.tuner",
    "sweep": "saosim.tune.tuner",
    "recommend": "saosim.tune.recommend",
    "Recommendation": "saosim.tune.recommend_result",
    "TierTuner": "saosim.tune.widgets",
    "figures": "saosim.report",
    "write_report": "saosim.report",
    "notebook_renderer": "saosim.report.notebook",
    "plan_figure": "saosim.report",
    "live": "saosim.live",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'saosim' has no attribute {name!r}")
    value = importlib.import_module(module) if module == f"{__name__}.{name}" else None
    if value is None:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
