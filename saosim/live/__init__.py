"""The real planner against a live dbt project.

- :func:`plan` (:mod:`saosim.live.runner`): parse, fingerprint, read source data versions and
  state, and plan; ``plan(...).execute()`` builds the plan with dbt and records the outcome;
  ``plan(...).shadow()`` runs a full build and records what the planner would have reused.
- :func:`estate`: the recorded live runs as an :class:`~saosim.inputs.estate.Estate` to replay.
- :func:`example_project`: a copy of the example dbt project to try it on (draw a plan with
  :func:`saosim.report.plan_figure`).
- :func:`shadow_report` (:mod:`saosim.live.shadow`): shadow predictions against what changed.
- :mod:`saosim.live.metadata`: source data versions from the warehouse (SQL per dialect,
  built with sqlglot), run through dbt's own adapter connection (:mod:`saosim.live.adapter`).
- :mod:`saosim.live.arrivals`: ``saosim arrivals`` — past arrivals from loader audit columns,
  ``loaded_at_field`` or warehouse metadata.
- :mod:`saosim.live.locks`: crash-safe build locks (host, pid, heartbeat; dead holders released).
- :mod:`saosim.live.dbt_runner`: ``dbt parse`` and ``dbt build --select …`` in-process.
- :mod:`saosim.live.store`: the DuckDB state store (state, plans, decisions, runs, source
  arrivals, code changes, fingerprint cache, shadow rows, build locks, plan statuses).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

_EXPORTS = {
    "plan": "saosim.live.runner",
    "estate": "saosim.live.runner",
    "LivePlan": "saosim.live.runner",
    "ExecuteResult": "saosim.live.runner",
    "shadow_report": "saosim.live.shadow",
    "ShadowReport": "saosim.live.shadow",
    "ShadowResult": "saosim.live.shadow",
    "StateStore": "saosim.live.store",
    "example_project": "saosim.live.example",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "live":
        # `saosim.live` after a plain `import saosim` (saosim's lazy map resolves it here)
        return sys.modules[__name__]
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'saosim.live' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
