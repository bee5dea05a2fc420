r"""One human sentence per decision: why a node was built, reused, skipped or not run.

Rendered from the same :class:`~saosim.core.decision.Decision` objects the planner returns, plus the
state and source versions the plan was made from (:meth:`saosim.core.planner.Plan.explain`).

>>> from datetime import datetime, timezone
>>> from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
>>> from saosim.project.graph import Project
>>> from saosim.core.planner import plan
>>> from saosim.core.state import NodeState, State
>>> p = Project.from_spec({"raw.orders": [], "fct": ["raw.orders"]})
>>> t = lambda h, m=0: datetime(2025, 1, 1, h, m, tzinfo=timezone.utc)
>>> cfg = FreshnessConfig({"model.demo.fct": NodeFreshness(BuildAfter(6, "hour"))})
>>> state = State({"model.demo.fct": NodeState.built(t(1), None, {"source.demo.raw.orders": t(0)})})
>>> arrivals = {"source.demo.raw.orders": t(2, 10)}
>>> run = plan(p, state, at=t(3), source_versions=arrivals, freshness=cfg)
>>> print(*run.explain("fct").split("; "), sep=";\n")
reused: built 2h ago, build_after 6h not yet passed (until 07:00);
new data landed in raw.orders at 02:10 since
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from saosim.core.decision import Decision, Reason, format_duration

if TYPE_CHECKING:
    from saosim.core.planner import Plan

__all__ = ["explain_decision"]


def _when(t: datetime, ref: datetime) -> str:
    return t.strftime("%H:%M") if t.date() == ref.date() else t.strftime("%Y-%m-%d %H:%M")


def _ago(seconds: float) -> str:
    # minutes are enough for a sentence; seconds only when under a minute
    return format_duration(seconds if seconds < 60 else round(seconds / 60) * 60)


def explain_decision(plan: Plan, d: Decision) -> str:
    """The sentence for one decision of ``plan``."""
    inputs = plan._inputs
    assert inputs is not None
    project, state, at = inputs.project, inputs.state, plan.at
    ns = state.get(d.node_id)

    def label(uid: str) -> str:
        node = project.nodes[uid]
        return node.source_name if node.resource_type == "source" else node.name

    built_now = {x.node_id for x in plan.decisions if x.action.value == "build"}

    def parent_news(parents: tuple[str, ...], since: str = "") -> str:
        parts = []
        for p in parents:
            if p in built_now:
                parts.append(f"{label(p)} was built in this run")
            elif p in inputs.index.sources:
                v = inputs.source_versions.get(p)
                if v is None:
                    parts.append(f"{label(p)} has no arrival data (counted as new)")
                else:
                    parts.append(f"new data landed in {label(p)} at {_when(v, at)}{since}")
            else:
                ps = state.get(p)
                when = f" at {_when(ps.data_version, at)}" if ps is not None else ""
                parts.append(f"{label(p)} was rebuilt{when}{since}")
        return ", ".join(parts)

    built_ago = ""
    if ns is not None:
        built_ago = f"built {_ago((at - ns.built_at).total_seconds())} ago"
    news = parent_news(d.fresh_parents)
    r = d.reason
    if r is Reason.WITHIN_BUILD_AFTER:
        window = format_duration(d.window_s)
        until = f" (until {_when(d.window_ends_at, at)})" if d.window_ends_at else ""
        text = f"reused: {built_ago}, build_after {window} not yet passed{until}"
        news = parent_news(d.fresh_parents, " since")
        if news:
            text += f"; {news}"
        if d.code_changed:
            text += "; its code changed too, held back by the window"
        return text
    if r is Reason.WITHIN_LAG_TOLERANCE:
        until = f" (until {_when(d.window_ends_at, at)})" if d.window_ends_at else ""
        text = f"reused: {built_ago}, within lag tolerance{until} [{d.detail}]"
        news = parent_news(d.fresh_parents, " since")
        return text + (f"; {news}" if news else "")
    if r is Reason.NO_NEW_DATA:
        if d.view_passthrough:
            return f"reused: {d.detail}" + (f"; {news}" if news else "")
        stamp = f" ({_when(ns.built_at, at)})" if ns is not None else ""
        return f"reused: nothing changed since its last build {_ago_text(ns, at)}{stamp}"
    if r is Reason.WAITING_FOR_ALL_UPSTREAMS:
        waiting = [
            label(p) for p in inputs.index.infos[d.node_id].parents if p not in d.fresh_parents
        ]
        text = "reused: updates_on all waits for every parent; "
        text += f"no new data yet in {', '.join(waiting)}"
        return text + (f"; {news}" if news else "")
    if r is Reason.UPSTREAM_FAILED:
        failed = ", ".join(d.failed_parents)
        if d.failed_tests:
            tests = ", ".join(d.failed_tests)
            return f"skipped: a data test of its parent failed in this run ({tests} on {failed})"
        return f"skipped: an upstream node failed or was skipped in this run ({failed})"
    if r is Reason.EPHEMERAL:
        return "no-op: ephemeral, inlined into its children"
    if r is Reason.TESTED_NODE_REUSED:
        return "not run: the nodes it tests were reused, so its last result stands"
    if r is Reason.IN_FLIGHT_ELSEWHERE:
        return f"reused: {d.detail}"
    verb = "ran" if d.action.value == "run" else "built"
    why = {
        Reason.STATELESS: "dbt without state builds every selected node",
        Reason.FULL_REFRESH: "full refresh",
        Reason.PYTHON_MODEL: "a Python model, which SAO does not support",
        Reason.NEVER_BUILT: "never built before",
        Reason.TABLE_MISSING: "its table is missing from the warehouse",
        Reason.PREVIOUS_TEST_FAILED: "a data test on it failed after its last build",
        Reason.CODE_CHANGED: "its code changed since the last build",
        Reason.UPSTREAM_CODE_CHANGED: "an upstream model's code changed",
        Reason.NEW_UPSTREAM_DATA: "new upstream data",
        Reason.TESTED_NODE_BUILT: "a node it tests was built",
        Reason.TEST_CODE_CHANGED: "its code changed",
        Reason.ALWAYS_BUILDS: "this profile always builds it",
    }[r]
    text = f"{verb}: {why}"
    if ns is not None and r in (Reason.CODE_CHANGED, Reason.NEW_UPSTREAM_DATA):
        text += f" ({built_ago})"
    if news and r is not Reason.TESTED_NODE_BUILT:
        text += f"; {news}"
    if d.detail:
        text += f" [{d.detail}]"
    return text


def _ago_text(ns: object, at: datetime) -> str:
    if ns is None:
        return ""
    return f"{_ago((at - ns.built_at).total_seconds())} ago"  # type: ignore[attr-defined]
