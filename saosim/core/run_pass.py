"""One job run's decision pass: every node the run reaches, in topological order, decided.

:func:`decide_run` is the planner's loop. :func:`saosim.core.planner.plan` calls it once for
one run; the compiled replay (:mod:`saosim.replay.kernel.loop`) calls it for every run of a
timeline. Each node's turn has two halves: the facts step (what its parents are in this run
and what the state says, into one :class:`~saosim.core.facts.Facts` record of numbers), then
the profile's decision (:func:`saosim.core.rules.decide`); what later nodes of the same run
must see is stamped: built, failed or skipped, built for a code change (dbt_state), dirty
(orchestra).

The facts step is written in this loop, not called: numba counts a reference for every array
handed to an inlined function, per node (measured: the loop 10x slower), while the rules get
only the record of numbers. dbt-orchestra decides every node, selected or not: an unselected
parent that would build is new data for its selected children, so its walk covers every node
and only selected nodes get a decision.

>>> decide_run.__name__
'decide_run'
"""

from __future__ import annotations

from saosim._jit import jit_cached
from saosim.core.codes import (
    BUILD,
    F_SOURCE,
    F_TEST,
    F_UPDATES_ALL,
    F_VIEW,
    F_WARN,
    NONE,
    P_BASELINE,
    P_DBT_STATE,
    P_ORCHESTRA,
    R_CODE_CHANGED,
    R_UPSTREAM_CODE_CHANGED,
    REUSE,
    RUN,
    SKIP,
)
from saosim.core.facts import (
    EDGE_FRESH,
    EDGE_NO_METADATA,
    EDGE_STALE,
    Facts,
    source_version,
    view_data_version,
)
from saosim.core.rules import decide, finish_orchestra

__all__ = ["decide_run"]


@jit_cached(nogil=True)
def decide_run(r, at, walk, walk_all, full_refresh, g, st, mk, o, ck, act_out, rsn_out, record,
               edge_mark):  # fmt: skip
    """Decide run ``r`` (time ``at``): write ``act_out[n]`` / ``rsn_out[n]`` for every
    selected node of ``walk`` (node indices in topological order; with ``walk_all``, the walk
    covers unselected nodes too and ``mk.selected[n] == r`` marks the selected ones). With
    ``record``, every parent edge is scanned and what it was
    (:data:`~saosim.core.facts.EDGE_FRESH` …) goes to ``edge_mark`` (orchestra: by direct
    edge, else by effective edge) for a plan's evidence; otherwise the scan stops at the first
    fresh parent when no rule needs more. ``ck`` is the run's
    :class:`~saosim.core.facts.Clock`: each node's reach, start and finish are written there,
    and with ``ck.at_node`` the rules judge a node at its reach time (else at ``at``).
    Returns whether any node failed or was skipped.
    """
    # arrays out of their records once (a reference count per use inside the loop)
    flags, window_s, tol_s, eptr, eidx, dptr, didx, d2e, rptr, ridx, rtest = g
    (
        at_node,
        threads,
        guarded,
        c_dur,
        c_rec,
        c_rdur,
        c_busy,
        c_done,
        c_reach,
        c_start,
        c_fin,
        free,
        src_ptr,
        src_times,
        src_next,
        c_read,
    ) = ck
    for k in range(threads):
        free[k] = at
    has_state, built, _fp, dv, tf, exists, seen = st
    (
        selected,
        changed,
        failing,
        in_flight,
        m_built,
        m_failed,
        m_tfail,
        m_code,
        m_dirty,
        vstamp,
        vmemo,
        stack,
    ) = mk
    prof = o.profile
    orch = prof == P_ORCHESTRA
    dbt = prof == P_DBT_STATE
    scans = prof != P_BASELINE and not orch
    # SAO's concurrency guard: a state-aware job waits for a build of the same node in flight
    # in another run (a job without state does not look)
    waits = guarded and prof != P_BASELINE
    any_failed = False
    # dbt_state: whether a node was built for a code change yet in this run (until one is, no
    # parent can count as one, and the pass over the parents is left out)
    any_code = False
    # a run that runs no data test waits for parents only: the tests listed after them in
    # ridx (from rtest on) are never done in it
    tests_run = False
    for j in range(len(walk)):
        n = walk[j]
        if (flags[n] & F_TEST) != 0 and (not walk_all or selected[n] == r):
            tests_run = True
            break
    for j in range(len(walk)):
        n = walk[j]
        f = flags[n]
        virtual = walk_all and selected[n] != r
        if virtual and (f & F_TEST) != 0:
            continue
        # -- the clock: when the run reaches n (saosim.core.facts.Clock)
        ready = at
        r_end = rptr[n + 1] if tests_run else rtest[n]
        for e in range(rptr[n], r_end):
            q = ridx[e]
            if c_done[q] == r and c_fin[q] > ready:
                ready = c_fin[q]
        thread = -1
        if c_rec[n] != NONE:
            # the history's start, earlier by the least time saved on what n waited for
            slack = NONE
            for e in range(rptr[n], r_end):
                q = ridx[e]
                if c_done[q] == r and c_rec[q] != NONE and c_rdur[q] != NONE:
                    saved = c_rec[q] + c_rdur[q] - c_fin[q]
                    if slack == NONE or saved < slack:
                        slack = saved
            reach = c_rec[n] - slack if slack > 0 else c_rec[n]
            if reach < ready:
                reach = ready
        elif threads > 0:
            # the thread free latest at or before ready, else the one free first (the first
            # of equals), in one pass of selects (no branch on the times; no measured gain
            # alone, kept as the shorter form)
            latest = NONE
            first = 0
            first_at = free[0]
            for k in range(threads):
                fk = free[k]
                take = (fk <= ready) & ((thread < 0) | (fk > latest))
                thread = k if take else thread
                latest = fk if take else latest
                low = fk < first_at
                first = k if low else first
                first_at = fk if low else first_at
            if thread < 0:
                thread = first
                latest = first_at
            reach = ready if latest <= ready else latest
        else:
            reach = ready
        t = reach if at_node else at
        c_read[n] = t
        has = has_state[n]
        # -- the facts step: a parent is fresh when it was built earlier in this run or its
        # data version is newer than what n saw (SAO-SEMANTICS "fresh parent"); a source
        # without arrival data is fresh or not as no_metadata_source says
        n_failed = 0
        n_built = 0
        n_code = 0
        if any_failed or any_code or (f & F_TEST) != 0:
            # parents that failed, were built (counted for data tests) or were built for a
            # code change (dbt_state) earlier in this run
            is_test = (f & F_TEST) != 0
            for e in range(eptr[n], eptr[n + 1]):
                p = eidx[e]
                # a failed test of p skips p's children, not p's other tests
                if any_failed and (m_failed[p] == r or (m_tfail[p] == r and not is_test)):
                    n_failed += 1
                if m_built[p] == r:
                    n_built += 1
                if any_code and m_code[p] == r:
                    n_code += 1
        n_fresh = 0
        stale = False
        lnow = NONE
        lseen = NONE
        if has and orch and (f & F_TEST) == 0:
            # dbt-orchestra's scan: direct parents (ephemerals not looked through); a node is new
            # when dirty in this run, never built, or built after n
            early = not record and (f & F_UPDATES_ALL) == 0
            for d in range(dptr[n], dptr[n + 1]):
                p = didx[d]
                mark = EDGE_STALE
                if flags[p] & F_SOURCE:
                    v = source_version(p, t, dv, src_ptr, src_times, src_next)
                    s = seen[d2e[d]] if d2e[d] >= 0 else NONE
                    if v == NONE:
                        mark = EDGE_NO_METADATA
                    elif s == NONE or v > s:
                        mark = EDGE_FRESH
                elif m_dirty[p] == r or not has_state[p] or built[p] > built[n]:
                    mark = EDGE_FRESH
                if record:
                    edge_mark[d] = mark
                if mark == EDGE_STALE:
                    stale = True
                else:
                    n_fresh += 1
                    if early:
                        break
        elif has and scans and (record or not (dbt and (f & F_VIEW) != 0)):
            # (a dbt_state view is reused while its logic is unchanged: no rule reads its
            # parents, so the replay skips the walk; a plan records it for the evidence)
            early = not record and not dbt and (f & F_UPDATES_ALL) == 0
            for e in range(eptr[n], eptr[n + 1]):
                p = eidx[e]
                if dbt and seen[e] > lseen:
                    # (dbt_state's scan covers every edge: the latest seen in the same pass)
                    lseen = seen[e]
                mark = EDGE_STALE
                if m_built[p] == r:
                    mark = EDGE_FRESH
                    if dbt:
                        # built in this run: its data version is its end (at the latest t)
                        v = c_fin[p] if at_node and c_done[p] == r else t
                        if lnow == NONE or v > lnow:
                            lnow = v
                else:
                    v = dv[p]
                    if (flags[p] & F_SOURCE) != 0:
                        v = source_version(p, t, dv, src_ptr, src_times, src_next)
                    if v == NONE:
                        if (flags[p] & F_SOURCE) != 0 and o.meta_fresh:
                            mark = EDGE_NO_METADATA
                            if dbt:
                                # always fresh: as if its data landed at t
                                lnow = t
                    else:
                        if dbt and (flags[p] & F_VIEW) != 0:
                            if vstamp[p] == r:
                                v = vmemo[p]
                            else:
                                # a parent built in this run counts from its end when the
                                # clock is at the node (as a direct parent does above), so the
                                # memo does not depend on which node asked first
                                v = view_data_version(
                                    p, r, -1 if at_node else t, flags, eptr, eidx, has_state,
                                    built, dv, m_built, c_fin, vstamp, vmemo, stack,
                                )  # fmt: skip
                        if dbt and (lnow == NONE or v > lnow):
                            lnow = v
                        saw = seen[e]
                        if saw == NONE or v > saw:
                            mark = EDGE_FRESH
                if record:
                    edge_mark[e] = mark
                if mark == EDGE_STALE:
                    stale = True
                else:
                    n_fresh += 1
                    if early:
                        break
        facts = Facts(
            f,
            t,
            built[n] if has else NONE,
            has,
            exists[n],
            tf[n],
            changed[n] == r,
            full_refresh,
            in_flight[n] == r,
            n_failed,
            n_built,
            n_fresh,
            stale,
            n_code,
            window_s[n],
            tol_s[n],
            lnow,
            lseen,
        )
        # -- the rules ----------------------------------------------------------------------
        act, rsn = decide(facts, o)
        if orch and (f & F_TEST) == 0:
            if act == BUILD:
                m_dirty[n] = r
            act, rsn = finish_orchestra(facts, act, rsn)
        if rsn in (R_CODE_CHANGED, R_UPSTREAM_CODE_CHANGED):
            m_code[n] = r
            any_code = dbt
        if virtual:
            continue
        act_out[n] = act
        rsn_out[n] = rsn
        start = reach
        if waits and act in (BUILD, REUSE) and c_busy[n] != NONE and c_busy[n] > start:
            start = c_busy[n]  # wait for the same node's build in another run, then decide
        end = start + c_dur[n] if act in (BUILD, RUN) else start
        if thread >= 0 and end > free[thread]:
            free[thread] = end
        c_done[n] = r
        c_reach[n] = reach
        c_start[n] = start
        c_fin[n] = end
        if act == BUILD:
            m_built[n] = r
            if failing[n] == r:
                m_failed[n] = r
                any_failed = True
        elif act == SKIP:
            m_failed[n] = r
            any_failed = True
        elif act == RUN and failing[n] == r and (f & F_WARN) == 0:
            # a failed error-severity data test: dbt build skips the tested nodes' children
            # (the order puts a node's tests before its children)
            for e in range(eptr[n], eptr[n + 1]):
                m_tfail[eidx[e]] = r
            any_failed = True
    return any_failed
