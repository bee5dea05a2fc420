"""saosim: replay a dbt project's history through a state-aware planner.

The public API is imported lazily, so ``import saosim`` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Project": "saosim.graph",
    "Node": "saosim.graph",
    "Estate": "saosim.estate",
    "load_estate": "saosim.estate",
    "SaosimError": "saosim.errors",
    "SaosimInputError": "saosim.errors",
    "SaosimWarning": "saosim.errors",
    "BuildAfter": "saosim.freshness",
    "NodeFreshness": "saosim.freshness",
    "FreshnessConfig": "saosim.freshness",
    "plan": "saosim.planner",
    "Plan": "saosim.planner",
    "Decision": "saosim.decision",
    "Action": "saosim.decision",
    "Reason": "saosim.decision",
    "Profile": "saosim.decision",
    "ProfileOptions": "saosim.decision",
    "NodeState": "saosim.state",
    "State": "saosim.state",
    "load_project": "saosim.artifacts.ingest",
    "ingest": "saosim.artifacts.ingest",
    "read_manifest": "saosim.artifacts.manifest",
    "read_project_freshness": "saosim.freshness_yaml",
    "Tier": "saosim.tiers",
    "Tiers": "saosim.tiers",
    "load_tiers": "saosim.tiers",
    "tiers_to_dbt_yaml": "saosim.tiers",
    "fingerprint_sql": "saosim.fingerprint",
    "fingerprint_node": "saosim.fingerprint",
    "fingerprint_project": "saosim.fingerprint",
    "FingerprintReport": "saosim.fingerprint",
    "compare_fingerprints": "saosim.fingerprint",
    "source_versions": "saosim.live.metadata",
    "dbt_parse": "saosim.live.dbt_runner",
    "dbt_build": "saosim.live.dbt_runner",
    "StateStore": "saosim.live.store",
    "CostModel": "saosim.rates",
    "RuntimeModel": "saosim.cost",
    "BuildCosts": "saosim.cost",
    "fit_costs": "saosim.cost",
    "history_cost": "saosim.cost",
    "staleness": "saosim.staleness",
    "StalenessResult": "saosim.staleness",
    "summarize": "saosim.metrics",
    "per_model": "saosim.metrics",
    "per_tier": "saosim.metrics",
    "per_day": "saosim.metrics",
    "synthetic_estate": "saosim.synth",
    "synthetic_history": "saosim.synth",
    "synthetic_project": "saosim.synth",
    "SynthJob": "saosim.synth",
    "write_artifacts": "saosim.artifacts.write",
    "ScenarioFile": "saosim.scenario",
    "load_scenario_file": "saosim.scenario",
    "replay_scenario": "saosim.scenario",
    "Scenario": "saosim.simulate",
    "simulate": "saosim.simulate",
    "load_scenario": "saosim.simconfig",
    "Job": "saosim.timeline",
    "compare": "saosim.tuning",
    "Comparison": "saosim.comparison",
    "scenario_from_dict": "saosim.simconfig",
    "bundled_example": "saosim.demo",
    "demo_scenarios": "saosim.demo",
    "TUNED_TIERS": "saosim.demo",
    "state_at": "saosim.replay_state",
    "Tuner": "saosim.tuning",
    "sweep": "saosim.tuning",
    "TierTuner": "saosim.widgets",
    "figures": "saosim.report",
    "write_report": "saosim.report",
    "live": "saosim.live",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'saosim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if name not in _SHADOWED:
        globals()[name] = value
    return value


#: Public functions named like the module that defines them (``saosim.simulate`` the function
#: lives in ``saosim/simulate.py``). Importing such a module binds its name on the package, so the
#: package resolves these names itself, every time, instead of caching them.
_SHADOWED = frozenset(n for n, m in _EXPORTS.items() if m == f"{__name__}.{n}")


class _Package(types.ModuleType):
    def __getattribute__(self, name: str) -> Any:
        if name in _SHADOWED:
            return getattr(importlib.import_module(_EXPORTS[name]), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
