"""One job run's decision pass: every node the run reaches, in topological order, decided.

:func:`decide_run` is the planner's loop. :func:`saosim.core.planner.plan` calls it once for
one run; the compiled replay (:mod:`saosim.replay.kernel.loop`) calls it for every run of a
timeline. For each node it takes the facts (:func:`saosim.core.facts.node_facts`), the profile's
decision (:func:`saosim.core.rules.decide`) and records what later nodes of the same run see:
built, failed or skipped, built for a code change (dbt_state), dirty (orchestra).

dbt-orchestra decides every node, selected or not: an unselected parent that would build is
new data for its selected children, so its walk covers every node and only selected nodes get
a decision.

>>> decide_run.__name__
'decide_run'
"""

from __future__ import annotations

from saosim._jit import jit_cached
from saosim.core.codes import (
    BUILD,
    F_TEST,
    P_ORCHESTRA,
    R_CODE_CHANGED,
    R_UPSTREAM_CODE_CHANGED,
    SKIP,
)
from saosim.core.facts import node_facts
from saosim.core.rules import decide, finish_orchestra

__all__ = ["decide_run"]


@jit_cached(nogil=True)
def decide_run(r, at, walk, full_refresh, g, st, mk, o, act_out, rsn_out, record, emark, dmark):
    """Decide run ``r`` (time ``at``): write ``act_out[n]`` / ``rsn_out[n]`` for every
    selected node of ``walk`` (node indices in topological order; ``mk.selected[n] == r``
    marks the selected ones). Returns whether any node failed or was skipped."""
    orch = o.profile == P_ORCHESTRA
    any_failed = False
    for j in range(len(walk)):
        n = walk[j]
        virtual = mk.selected[n] != r
        if virtual and (g.flags[n] & F_TEST) != 0:
            continue
        f = node_facts(n, r, at, g, st, mk, o, any_failed, full_refresh, record, emark, dmark)
        act, rsn = decide(f, o)
        if orch and (g.flags[n] & F_TEST) == 0:
            if act == BUILD:
                mk.dirty[n] = r
            act, rsn = finish_orchestra(f, act, rsn)
        if rsn in (R_CODE_CHANGED, R_UPSTREAM_CODE_CHANGED):
            mk.code[n] = r
        if virtual:
            continue
        act_out[n] = act
        rsn_out[n] = rsn
        if act == BUILD:
            mk.built[n] = r
            if mk.failing[n] == r:
                mk.failed[n] = r
                any_failed = True
        elif act == SKIP:
            mk.failed[n] = r
            any_failed = True
    return any_failed
