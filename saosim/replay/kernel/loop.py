"""The compiled run loop of the fast replay: every run, every selected node, one pass.

It mirrors ``saosim.replay.engine._PlainReplay``: each node's decision (the rules of
:mod:`saosim.core.rules` in order, written out here; orchestra's in ``kernel_rules``), its start and
finish (after this run's parents; guarded profiles also after a build of it in flight
elsewhere), runtime, price, and the state after the run (:func:`saosim.core.apply.apply_plan`).
Guarded profiles (baseline, sao, orchestra) see that state at once; dbt_state sees a build
once it finished (snapshots wait in push order; the latest finish wins).

>>> run_loop.__name__
'run_loop'
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from saosim.replay.kernel.apply import snapshots
from saosim.replay.kernel.compile import (
    F_CHANGES,
    F_CUSTOM,
    F_EPHEMERAL,
    F_FAILS,
    F_FIXED,
    F_INCREMENTAL,
    F_PYTHON,
    F_SOURCE,
    F_TEST,
    F_UNBILLED,
    F_UPDATES_ALL,
    F_VIEW,
    F_WARN,
    NONE,
)
from saosim.replay.kernel.rules import (
    BUILD,
    NO_OP,
    P_BASELINE,
    P_DBT_STATE,
    P_ORCHESTRA,
    R_ALWAYS_BUILDS,
    R_CODE_CHANGED,
    R_EPHEMERAL,
    R_FULL_REFRESH,
    R_NEVER_BUILT,
    R_NEW_UPSTREAM_DATA,
    R_NO_NEW_DATA,
    R_PREVIOUS_TEST_FAILED,
    R_PYTHON_MODEL,
    R_STATELESS,
    R_TEST_CODE_CHANGED,
    R_TESTED_NODE_BUILT,
    R_TESTED_NODE_REUSED,
    R_UPSTREAM_CODE_CHANGED,
    R_UPSTREAM_FAILED,
    R_WAITING,
    R_WITHIN_BUILD_AFTER,
    R_WITHIN_LAG_TOLERANCE,
    REUSE,
    RUN,
    S_ERROR,
    S_FAIL,
    S_NULL,
    S_PASS,
    S_SKIPPED,
    S_SUCCESS,
    SKIP,
    _decide_orchestra,
    _grow,
    _timedelta_us,
    _view_dv,
)

__all__ = ["run_loop"]


@njit(cache=True, nogil=True)
def run_loop(flags, window_s, tol_s, eptr, eidx, dptr, didx, d2e, decided, rptr, ridx, cptr,
             ctimes, aptr, atimes, fptr, ftimes, sources, run_at, run_full_refresh, run_sel_start,
             run_sel_end, sel_node,
             sel_failing, sel_test_status, sel_known, sel_rt, sel_gap, sel_bytes, sel_cost,
             rt_a, rt_b, rt_typ, use_a, use_b, use_typ, fix_rt, fix_cost, fix_us, iparams,
             fparams, builds_only,
             o_act, o_rsn, o_st, o_start, o_end, o_rt, o_cost, o_run, o_node,
             progress):  # fmt: skip
    """Replay every run; returns the decision-log code arrays (see module docstring).

    With ``builds_only`` only build and test-run rows are written, with their run and node.
    ``progress`` (int64[1]) receives the number of runs done, for a progress bar. The
    ``o_*`` arrays receive the rows (their initial content does not matter; the returned
    slices hold exactly the rows written).
    """
    prof = iparams[0]
    lag_mode = iparams[1]
    basis = iparams[2]
    ccow = iparams[3] != 0
    meta_fresh = iparams[4] != 0
    sso = iparams[5] != 0
    guarded = prof != P_DBT_STATE
    orch = prof == P_ORCHESTRA
    dbt = prof == P_DBT_STATE
    n_nodes = len(flags)
    n_edges = len(eidx)
    # shared state
    st_has = np.zeros(n_nodes, dtype=np.bool_)
    st_built = np.full(n_nodes, NONE, dtype=np.int64)
    st_fp = np.zeros(n_nodes, dtype=np.int64)
    st_dv = np.full(n_nodes, NONE, dtype=np.int64)
    st_tf = np.zeros(n_nodes, dtype=np.bool_)
    st_seen = np.full(n_edges, NONE, dtype=np.int64)
    # per-run stamps and values
    built_stamp = np.full(n_nodes, -1, dtype=np.int64)
    built_t = np.zeros(n_nodes, dtype=np.int64)
    failed_stamp = np.full(n_nodes, -1, dtype=np.int64)
    code_stamp = np.full(n_nodes, -1, dtype=np.int64)
    fin_stamp = np.full(n_nodes, -1, dtype=np.int64)
    fin_t = np.zeros(n_nodes, dtype=np.int64)
    vstamp = np.full(n_nodes, -1, dtype=np.int64)
    vmemo = np.zeros(n_nodes, dtype=np.int64)
    ok_stamp = np.full(n_nodes, -1, dtype=np.int64)
    ok_fin = np.zeros(n_nodes, dtype=np.int64)
    astamp = np.full(n_nodes, -1, dtype=np.int64)
    amemo = np.zeros(n_nodes, dtype=np.int64)
    snap_stamp = np.full(n_nodes, -1, dtype=np.int64)
    snap_built = np.zeros(n_nodes, dtype=np.int64)
    snap_fp = np.zeros(n_nodes, dtype=np.int64)
    snap_dv = np.zeros(n_nodes, dtype=np.int64)
    snap_tf = np.zeros(n_nodes, dtype=np.bool_)
    snap_seen = np.zeros(n_edges, dtype=np.int64)
    snap_list = np.zeros(n_nodes, dtype=np.int64)
    cur_fp = np.zeros(n_nodes, dtype=np.int64)
    dirty_stamp = np.full(n_nodes, -1, dtype=np.int64)
    sel_mark = np.full(n_nodes, -1, dtype=np.int64)
    sel_pos = np.zeros(n_nodes, dtype=np.int64)
    cur_act = np.zeros(n_nodes, dtype=np.uint8)
    cur_st = np.zeros(n_nodes, dtype=np.uint8)
    stack = np.zeros(n_nodes + 1, dtype=np.int64)
    # replay-wide
    fpcur = cptr[:-1].copy()
    fcur = fptr[:-1].copy()
    acur = aptr[:-1].copy()
    sv = np.full(n_nodes, NONE, dtype=np.int64)
    inflight = np.full(n_nodes, NONE, dtype=np.int64)
    last_start = np.full(n_nodes, NONE, dtype=np.int64)
    # dbt_state: builds become visible once finished. Pending snapshots stay in push order;
    # at each run start the finished ones are written, the latest (finish time, push order)
    # per node winning, as the plain replay's heap pops them
    cap = 1024
    p_time = np.zeros(cap, dtype=np.int64)
    p_node = np.zeros(cap, dtype=np.int64)
    p_built = np.zeros(cap, dtype=np.int64)
    p_fp = np.zeros(cap, dtype=np.int64)
    p_dv = np.zeros(cap, dtype=np.int64)
    p_tf = np.zeros(cap, dtype=np.bool_)
    p_off = np.zeros(cap, dtype=np.int64)
    n_pending = 0
    pool = np.zeros(4096, dtype=np.int64)
    pool_top = 0
    b_stamp = np.full(n_nodes, -1, dtype=np.int64)
    b_time = np.zeros(n_nodes, dtype=np.int64)
    # outputs: allocated by the caller (kernel.out_buffers), grown here when short
    o = 0
    for r in range(len(run_at)):
        at = run_at[r]
        if not guarded:
            kept = 0
            top = 0
            for j in range(n_pending):
                x = p_node[j]
                d = eptr[x + 1] - eptr[x]
                if p_time[j] <= at:
                    if b_stamp[x] == r and p_time[j] < b_time[x]:
                        continue
                    b_stamp[x] = r
                    b_time[x] = p_time[j]
                    st_has[x] = True
                    st_built[x] = p_built[j]
                    st_fp[x] = p_fp[j]
                    st_dv[x] = p_dv[j]
                    st_tf[x] = p_tf[j]
                    for q in range(d):
                        st_seen[eptr[x] + q] = pool[p_off[j] + q]
                    continue
                # still running: keep, in order (moving down never overwrites unread data)
                p_time[kept] = p_time[j]
                p_node[kept] = x
                p_built[kept] = p_built[j]
                p_fp[kept] = p_fp[j]
                p_dv[kept] = p_dv[j]
                p_tf[kept] = p_tf[j]
                for q in range(d):
                    pool[top + q] = pool[p_off[j] + q]
                p_off[kept] = top
                top += d
                kept += 1
            n_pending = kept
            pool_top = top
        for s in sources:
            c = acur[s]
            while c < aptr[s + 1] and atimes[c] <= at:
                c += 1
            acur[s] = c
            sv[s] = atimes[c - 1] if c > aptr[s] else NONE
            # a source's data version, also where a node keeps its own: one read per parent
            # in the scan and the apply below
            st_dv[s] = sv[s]
        full_refresh = run_full_refresh[r]
        any_failed = False
        s0 = run_sel_start[r]
        s1 = run_sel_end[r]
        if o + (s1 - s0) > len(o_act):
            # grown here, outside the node loop: rebinding an array inside it costs ~40 ns
            # per decision (reference counting at every iteration)
            size = 2 * len(o_act) + (s1 - s0)
            o_act = _grow(o_act, size)
            o_rsn = _grow(o_rsn, size)
            o_st = _grow(o_st, size)
            o_start = _grow(o_start, size)
            o_end = _grow(o_end, size)
            o_rt = _grow(o_rt, size)
            o_cost = _grow(o_cost, size)
            o_run = _grow(o_run, size)
            o_node = _grow(o_node, size)
        # -- plan and lay out, node by node in topological order ----------------------------
        # dbt-orchestra decides every node, selected or not: an unselected parent that would
        # build is dirty, so new data for its selected children
        walk_all = orch and (s1 - s0) != len(decided)
        if walk_all:
            for i in range(s0, s1):
                sel_mark[sel_node[i]] = r
                sel_pos[sel_node[i]] = i
        for j in range(len(decided) if walk_all else s1 - s0):
            if walk_all:
                n = decided[j]
                i = sel_pos[n]
                virtual = sel_mark[n] != r
                if virtual and (flags[n] & F_TEST) != 0:
                    continue
            else:
                i = s0 + j
                n = sel_node[i]
                virtual = False
            f = flags[n]
            fp = 0
            if f & F_CHANGES:
                c = fpcur[n]
                while c < cptr[n + 1] and ctimes[c] <= at:
                    c += 1
                fpcur[n] = c
                fp = c - cptr[n]
            if not guarded:
                cur_fp[n] = fp
            has = st_has[n]
            fpch = has and st_fp[n] != fp
            failed = False
            if any_failed:
                for e in range(eptr[n], eptr[n + 1]):
                    if failed_stamp[eidx[e]] == r:
                        failed = True
                        break
            if not orch:
                # the profile's rules in order, first match wins (saosim.core.rules); written out
                # here rather than called: a call passing this many arrays costs more than
                # the decision (measured ~57 ns per call)
                act = -1
                rsn = 0
                scan = False
                early = True
                if f & F_TEST:
                    if failed:
                        act, rsn = SKIP, R_UPSTREAM_FAILED
                    else:
                        for e in range(eptr[n], eptr[n + 1]):
                            if built_stamp[eidx[e]] == r:
                                act, rsn = RUN, R_TESTED_NODE_BUILT
                                break
                        scan = act < 0 and has and prof != P_BASELINE
                elif f & F_EPHEMERAL:
                    act, rsn = NO_OP, R_EPHEMERAL
                elif failed:
                    act, rsn = SKIP, R_UPSTREAM_FAILED
                elif full_refresh:
                    act, rsn = BUILD, R_FULL_REFRESH
                elif prof == P_BASELINE:
                    act, rsn = BUILD, R_STATELESS
                elif not dbt and (f & F_PYTHON):
                    act, rsn = BUILD, R_PYTHON_MODEL
                elif dbt and (f & (F_PYTHON | F_CUSTOM)):
                    act, rsn = BUILD, R_ALWAYS_BUILDS
                elif not has:
                    act, rsn = BUILD, R_NEVER_BUILT
                elif st_tf[n]:
                    act, rsn = BUILD, R_PREVIOUS_TEST_FAILED
                elif dbt and fpch:
                    code_stamp[n] = r
                    act, rsn = BUILD, R_CODE_CHANGED
                else:
                    if dbt:
                        for e in range(eptr[n], eptr[n + 1]):
                            if code_stamp[eidx[e]] == r:
                                code_stamp[n] = r
                                act, rsn = BUILD, R_UPSTREAM_CODE_CHANGED
                                break
                        if act < 0 and (f & F_VIEW) != 0:
                            act, rsn = REUSE, R_NO_NEW_DATA
                    scan = act < 0
                    early = not (dbt or (f & F_UPDATES_ALL) != 0)
                nfresh = 0
                stale = False
                lnow = NONE
                lseen = NONE
                if scan:
                    # N's parents: fresh (built in this run, or newer than N saw) or not
                    for e in range(eptr[n], eptr[n + 1]):
                        p = eidx[e]
                        if built_stamp[p] == r:
                            nfresh += 1
                            if dbt:
                                lnow = at
                            if early:
                                break
                            continue
                        # a source's version or a node's own (NONE: no data / no state)
                        v = st_dv[p]
                        if v == NONE:
                            if (flags[p] & F_SOURCE) != 0 and meta_fresh:
                                nfresh += 1
                                if dbt:
                                    # always fresh: as if its data landed at t
                                    lnow = at
                                if early:
                                    break
                            else:
                                stale = True
                            continue
                        if dbt and (flags[p] & F_VIEW) != 0:
                            if vstamp[p] == r:
                                v = vmemo[p]
                            else:
                                v = _view_dv(p, r, at, eptr, eidx, flags, st_has, st_built,
                                             st_dv, sv, built_stamp, built_t, vstamp, vmemo,
                                             stack)  # fmt: skip
                        if dbt and (lnow == NONE or v > lnow):
                            lnow = v
                        seen = st_seen[e]
                        if seen == NONE or v > seen:
                            nfresh += 1
                            if early:
                                break
                        else:
                            stale = True
                    if dbt:
                        for e in range(eptr[n], eptr[n + 1]):
                            if st_seen[e] > lseen:
                                lseen = st_seen[e]
                if act >= 0:
                    pass
                elif f & F_TEST:
                    if nfresh > 0:
                        act, rsn = RUN, R_TESTED_NODE_BUILT
                    elif not has:
                        act, rsn = RUN, R_NEVER_BUILT
                    elif fpch:
                        act, rsn = RUN, R_TEST_CODE_CHANGED
                    else:
                        act, rsn = REUSE, R_TESTED_NODE_REUSED
                elif not fpch and nfresh == 0:
                    act, rsn = REUSE, R_NO_NEW_DATA
                elif (f & F_UPDATES_ALL) != 0 and not fpch and stale:
                    act, rsn = REUSE, R_WAITING
                elif dbt:
                    # dbt_state rule 8: the tolerance test in the lag_mode's reading
                    tol = tol_s[n]
                    built = st_built[n]
                    if lag_mode == 0:
                        build = (at - built) / 1e6 > tol
                    elif lag_mode == 1:
                        build = lnow != NONE and (lseen == NONE or (lnow - lseen) / 1e6 > tol)
                    else:
                        build = lnow != NONE and (lnow - built) / 1e6 >= tol
                    if build:
                        act, rsn = BUILD, R_NEW_UPSTREAM_DATA
                    else:
                        act, rsn = REUSE, R_WITHIN_LAG_TOLERANCE
                elif ccow and fpch:
                    act, rsn = BUILD, R_CODE_CHANGED
                elif window_s[n] != 0 and (at - st_built[n]) / 1e6 < window_s[n]:
                    act, rsn = REUSE, R_WITHIN_BUILD_AFTER
                elif fpch:
                    act, rsn = BUILD, R_CODE_CHANGED
                else:
                    act, rsn = BUILD, R_NEW_UPSTREAM_DATA
            elif f & F_TEST:
                # dbt-orchestra does not plan tests: dbt runs those of the nodes it builds
                act, rsn = REUSE, R_TESTED_NODE_REUSED
                if failed:
                    act, rsn = SKIP, R_UPSTREAM_FAILED
                else:
                    for e in range(eptr[n], eptr[n + 1]):
                        if built_stamp[eidx[e]] == r:
                            act, rsn = RUN, R_TESTED_NODE_BUILT
                            break
            else:
                act, rsn = _decide_orchestra(n, r, at, f, sso, full_refresh, has, fpch,
                                             window_s[n], dptr, didx, d2e, flags, st_has,
                                             st_built, st_seen, sv, dirty_stamp)  # fmt: skip
                if act == BUILD:
                    dirty_stamp[n] = r
                    if failed:
                        # dbt skips a chosen build below a failed parent
                        act, rsn = SKIP, R_UPSTREAM_FAILED
            if virtual:
                continue
            failing = sel_failing[i]
            if not failing and (f & F_FAILS) != 0:
                c = fcur[n]
                failing = c < fptr[n + 1] and ftimes[c] <= at
            if act == BUILD:
                built_stamp[n] = r
                if failing:
                    failed_stamp[n] = r
                    any_failed = True
            elif act == SKIP:
                failed_stamp[n] = r
                any_failed = True
            # simulated start: after this run's parents, and (guarded) after a build of the
            # same node in flight in another run
            ready = at
            for e in range(rptr[n], rptr[n + 1]):
                q = ridx[e]
                if fin_stamp[q] == r and fin_t[q] > ready:
                    ready = fin_t[q]
            if guarded and act in (BUILD, REUSE):
                busy = inflight[n]
                if busy != NONE and busy > ready:
                    ready = busy
            runtime = 0.0
            cost = 0.0
            dur = 0
            status = S_NULL
            if act in (BUILD, RUN) and (f & F_FIXED) != 0 and not sel_known[i]:
                # gap-independent runtime and price, computed once in the compile step
                runtime = fix_rt[n]
                cost = fix_cost[n]
                dur = fix_us[n]
            elif act in (BUILD, RUN):
                gap = math.nan
                if act == BUILD and last_start[n] != NONE:
                    gap = (ready - last_start[n]) / 1e6
                # runtime: the history's own at a history run (an incremental model shifted
                # by its catch-up rate for the gap difference), else the fitted model
                if sel_known[i] and not math.isnan(sel_rt[i]):
                    runtime = sel_rt[i]
                    if (f & F_INCREMENTAL) and not math.isnan(gap) and not math.isnan(sel_gap[i]):
                        runtime = max(
                            runtime + rt_b[n] * (gap - sel_gap[i]) / 3600.0, 0.05 * runtime
                        )
                else:
                    g = gap if not math.isnan(gap) else rt_typ[n]
                    if math.isnan(g):
                        g = 0.0
                    runtime = max(rt_a[n] + rt_b[n] * g / 3600.0, 0.0)
                # price, as _PlainReplay._price
                if f & F_UNBILLED:
                    cost = 0.0
                elif basis == 0:
                    cost = runtime / fparams[0] * fparams[1]
                else:
                    value = math.nan
                    if sel_known[i]:
                        value = sel_bytes[i] if basis == 1 else sel_cost[i]
                    if math.isnan(value):
                        g = gap if not math.isnan(gap) else use_typ[n]
                        if math.isnan(g):
                            g = 0.0
                        value = max(use_a[n] + use_b[n] * g / 3600.0, 0.0)
                    cost = value / fparams[3] * fparams[2] if basis == 1 else value
                dur = _timedelta_us(runtime)
            if act == BUILD:
                status = S_ERROR if failing else S_SUCCESS
                if not failing:
                    last_start[n] = ready
                if failing and (f & F_FAILS) != 0:
                    c = fcur[n]
                    while c < fptr[n + 1] and ftimes[c] <= at:
                        c += 1
                    fcur[n] = c
            elif act == RUN:
                status = sel_test_status[i]
                if status == S_NULL:
                    status = S_PASS
                if failing and status == S_PASS:
                    status = S_FAIL
            elif act == SKIP:
                status = S_SKIPPED
            end = ready + dur
            fin_stamp[n] = r
            fin_t[n] = end
            if not guarded:
                cur_act[n] = act
                cur_st[n] = status
            if act == BUILD:
                inflight[n] = end
                if status == S_SUCCESS:
                    ok_stamp[n] = r
                    ok_fin[n] = end
            if guarded and (status == S_SUCCESS or act == RUN):
                # apply_plan, written in place: later nodes of this run read a parent's state
                # only when it was not built in this run, so they cannot tell the difference
                # (a parent built ok in this run already has its finish as st_dv, a source
                # its version, a node without state NONE)
                for e in range(eptr[n], eptr[n + 1]):
                    st_seen[e] = st_dv[eidx[e]]
                st_has[n] = True
                st_built[n] = end
                st_fp[n] = fp
                st_dv[n] = end
                st_tf[n] = False
                if act == RUN and status in (S_FAIL, S_ERROR) and (f & F_WARN) == 0:
                    # a failed error-severity test flags the nodes it tests
                    for e in range(eptr[n], eptr[n + 1]):
                        p = eidx[e]
                        if (flags[p] & F_SOURCE) == 0 and st_has[p]:
                            st_tf[p] = True
            if builds_only and act != BUILD and act != RUN:
                continue
            o_act[o] = act
            o_rsn[o] = rsn
            o_st[o] = status
            o_start[o] = ready
            o_end[o] = end
            o_rt[o] = runtime
            o_cost[o] = cost
            o_run[o] = r
            o_node[o] = n
            o += 1
        progress[0] = r + 1
        # -- apply: the state after this run (saosim.core.apply.apply_plan) ----------------------
        if guarded:
            continue
        n_snap = snapshots(r, s0, s1, guarded, sel_node, cur_act, cur_st, cur_fp, fin_t, eptr,
                           eidx, flags, sv, st_has, st_built, st_fp, st_dv, st_seen, ok_stamp,
                           ok_fin, astamp, amemo, stack, snap_stamp, snap_built, snap_fp, snap_dv,
                           snap_tf, snap_seen, snap_list)  # fmt: skip
        for k in range(n_snap):
            x = snap_list[k]
            if n_pending == cap:
                cap *= 2
                p_time = _grow(p_time, cap)
                p_node = _grow(p_node, cap)
                p_built = _grow(p_built, cap)
                p_fp = _grow(p_fp, cap)
                p_dv = _grow(p_dv, cap)
                p_tf = _grow(p_tf, cap)
                p_off = _grow(p_off, cap)
            deg = eptr[x + 1] - eptr[x]
            if pool_top + deg > len(pool):
                pool = _grow(pool, 2 * (pool_top + deg))
            for q in range(deg):
                pool[pool_top + q] = snap_seen[eptr[x] + q]
            p_off[n_pending] = pool_top
            pool_top += deg
            p_time[n_pending] = fin_t[x] if fin_stamp[x] == r else at
            p_node[n_pending] = x
            p_built[n_pending] = snap_built[x]
            p_fp[n_pending] = snap_fp[x]
            p_dv[n_pending] = snap_dv[x]
            p_tf[n_pending] = snap_tf[x]
            n_pending += 1
    return (
        o_act[:o],
        o_rsn[:o],
        o_st[:o],
        o_start[:o],
        o_end[:o],
        o_rt[:o],
        o_cost[:o],
        o_run[:o],
        o_node[:o],
    )
