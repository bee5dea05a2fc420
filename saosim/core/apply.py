"""Fold one run's outcome into the state: :meth:`saosim.core.planner.Plan.apply`.

Only a successful build sets a node's ``built_at``, fingerprint and ``seen_versions``
(SAO-SEMANTICS "A reuse does not touch N's state"); a failed build leaves the node as it was;
a data test that ran records its own run and flags the nodes it tests when it failed.

>>> from datetime import datetime, timezone
>>> from saosim.project.graph import Project
>>> from saosim.core.planner import plan
>>> from saosim.core.state import State
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> run = plan(p, State.empty(), at=t, source_versions={"source.demo.raw.a": t})
>>> run.apply({"model.demo.m": "error"}, finished_at=t).get("model.demo.m") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from saosim.core.decision import Action, Profile
from saosim.core.state import NodeState, State
from saosim.errors import ConfigError

if TYPE_CHECKING:
    from saosim.core.planner import Plan

__all__ = ["apply_plan"]

_BUILD_OK = frozenset({"success", "pass"})
_TEST_FAILED = frozenset({"fail", "error"})


def apply_plan(
    plan: Plan,
    outcome: Mapping[str, str] | None,
    finished_at: datetime | Mapping[str, datetime],
) -> State:
    """The state after ``plan`` ran with ``outcome`` (see :meth:`Plan.apply`)."""
    inputs = plan._inputs
    if inputs is None:
        raise ValueError("this plan carries no inputs; make it with saosim.core.planner.plan")
    infos = inputs.compiled.infos
    sources = inputs.compiled.sources
    old = inputs.state.nodes
    sv = inputs.source_versions
    fps = inputs.fingerprints
    outcome = outcome or {}
    one_time = finished_at if isinstance(finished_at, datetime) else None
    if one_time is not None and one_time.tzinfo is None:
        raise ConfigError(f"{one_time.isoformat()} has no time zone", field="finished_at")

    def fin(uid: str) -> datetime:
        if one_time is not None:
            return one_time
        try:
            return finished_at[uid]  # type: ignore[index]
        except KeyError:
            raise ConfigError(
                "no finish time for a node that ran", field="finished_at", node_id=uid
            ) from None

    ok: dict[str, datetime] = {}
    tests: list[tuple[str, str]] = []
    for d in plan.decisions:
        uid = d.node_id
        if d.action is Action.BUILD:
            status = outcome.get(uid) or ("error" if uid in plan.failing else "success")
            if status in _BUILD_OK:
                ok[uid] = fin(uid)
        elif d.action is Action.RUN:
            status = outcome.get(uid) or ("fail" if uid in plan.failing else "pass")
            if status != "skipped":
                tests.append((uid, status))
    if not ok and not tests:
        return inputs.state

    looks_through_views = plan.profile is Profile.DBT_STATE
    memo: dict[str, datetime | None] = {}

    def dv_after(p: str) -> datetime | None:
        if p in ok:
            return ok[p]
        if p in sources:
            return sv.get(p)
        if p in memo:
            return memo[p]
        ns = old.get(p)
        value = None if ns is None else ns.data_version
        if ns is not None and looks_through_views and infos[p].materialization == "view":
            # dbt_state: a reused view's data version is the latest of its parents'
            value = ns.built_at
            for q in infos[p].parents:
                v = dv_after(q)
                if v is not None and v > value:
                    value = v
        memo[p] = value
        return value

    def seen_of(uid: str) -> dict[str, datetime]:
        seen = {}
        for p in infos[uid].parents:
            v = dv_after(p)
            if v is not None:
                seen[p] = v
        return seen

    def fingerprint(uid: str) -> str | None:
        default = infos[uid].fingerprint
        return default if fps is None else fps.get(uid, default)

    new = dict(old)
    for uid, at in ok.items():
        seen = seen_of(uid)
        data_version = at
        if looks_through_views and infos[uid].materialization == "view" and seen:
            data_version = max(at, *seen.values())
        new[uid] = NodeState(at, fingerprint(uid), seen, data_version)
    for uid, status in tests:
        at = fin(uid)
        new[uid] = NodeState(at, fingerprint(uid), seen_of(uid), at)
        if status in _TEST_FAILED and (infos[uid].severity or "error").lower() != "warn":
            for p in infos[uid].parents:
                if p in new and p not in sources:
                    new[p] = replace(new[p], tests_failed=True)
    return State(new)
