"""Fold one run's outcome into the state: :meth:`saosim.core.planner.Plan.apply`.

Only a successful build sets a node's ``built_at``, fingerprint and ``seen_versions``
(SAO-SEMANTICS "A reuse does not touch N's state"); a failed build leaves the node as it was;
a data test that ran records its own run and flags the nodes it tests when it failed. The
transition itself is :func:`saosim.core.transition.snapshots`, the one the compiled replay runs.

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

import numpy as np

from saosim.core import codes
from saosim.core.decision import Action, Profile
from saosim.core.facts import stamped_pair
from saosim.core.state import NodeState, State
from saosim.core.times import from_us, to_us
from saosim.core.transition import Snapshots, snapshots
from saosim.errors import ConfigError

if TYPE_CHECKING:
    from saosim.core.planner import Plan

__all__ = ["apply_plan"]

_BUILD_OK = frozenset({"success", "pass"})
_TEST_STATUS = {"pass": codes.S_PASS, "fail": codes.S_FAIL, "error": codes.S_ERROR}


def apply_plan(
    plan: Plan,
    outcome: Mapping[str, str] | None,
    finished_at: datetime | Mapping[str, datetime],
) -> State:
    """The state after ``plan`` ran with ``outcome`` (see :meth:`Plan.apply`)."""
    inputs = plan._inputs
    if inputs is None:
        raise ValueError("this plan carries no inputs; make it with saosim.core.planner.plan")
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

    project, graph = inputs.project, inputs.graph
    order, pos = project.order, project.position
    n = len(order)
    # what ran, column by column (Python lists: a numpy item assignment costs more)
    ran: list[int] = []
    acts: list[int] = []
    statuses: list[int] = []
    ends: list[datetime | None] = []  # None: a failed build (no end recorded)
    failing = plan.failing
    for d in plan.decisions:
        action = d.action
        uid = d.node_id
        if action is Action.BUILD:
            value = outcome.get(uid) or ("error" if uid in failing else "success")
            ok = value in _BUILD_OK
            statuses.append(codes.S_SUCCESS if ok else codes.S_ERROR)
            ends.append(fin(uid) if ok else None)
            acts.append(codes.BUILD)
        elif action is Action.RUN:
            value = outcome.get(uid) or ("fail" if uid in failing else "pass")
            if value == "skipped":
                continue
            statuses.append(_TEST_STATUS.get(value, codes.S_PASS))
            ends.append(fin(uid))
            acts.append(codes.RUN)
        else:
            continue
        ran.append(pos[uid])
    if not any(a == codes.RUN or s == codes.S_SUCCESS for a, s in zip(acts, statuses, strict=True)):
        return inputs.state
    us = {t: to_us(t) for t in {*ends} - {None}}
    us[None] = 0
    act = np.full(n, -1, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    fin_t = np.zeros(n, dtype=np.int64)
    act[ran] = acts
    status[ran] = statuses
    fin_t[ran] = [us[t] for t in ends]
    nodes = np.asarray(ran, dtype=np.int64)
    snap = Snapshots(
        np.full(n, -1, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
        np.full(len(graph.eidx), codes.NONE, dtype=np.int64),
        np.zeros(n, dtype=np.uint32),  # as the replay's loop makes it (one compiled layout)
    )
    # ok_stamp and ok_fin interleaved, as the replay's loop passes them (one compiled layout)
    scratch = [*stamped_pair(n, 0), np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    count = snapshots(0, nodes, act, status, np.zeros(n, dtype=np.int64), fin_t,
                      plan.profile is Profile.DBT_STATE, False, graph, inputs.states,
                      inputs.clock, *scratch,
                      np.zeros(n + 1, dtype=np.int64), snap)  # fmt: skip
    old = inputs.state.nodes
    new = dict(old)
    # Python lists: indexing one is ~5x faster than a numpy array item
    eptr, _ = inputs.index.lists()
    names = inputs.index.edge_names()
    seen_us, built_us, dv_us, tf = (a.tolist() for a in (snap.seen, snap.built, snap.dv, snap.tf))
    # each distinct time once (a run has a few: its ends and the versions its nodes saw)
    times = {v: from_us(v) for v in {*seen_us, *built_us, *dv_us} - {codes.NONE}}
    ran_ok = ((act == codes.RUN) | (status == codes.S_SUCCESS)).tolist()
    fingerprints = inputs.current_fingerprints
    for x in snap.nodes[:count].tolist():
        uid = order[x]
        if not ran_ok[x]:
            # only flagged by a failed test: its last build stands
            new[uid] = replace(new[uid], tests_failed=True)
            continue
        seen = {
            names[e]: times[seen_us[e]]
            for e in range(eptr[x], eptr[x + 1])
            if seen_us[e] != codes.NONE
        }
        new[uid] = NodeState(
            times[built_us[x]], fingerprints.get(uid), seen, times[dv_us[x]], True, tf[x]
        )
    return State(new)
