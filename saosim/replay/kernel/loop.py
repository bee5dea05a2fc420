"""The compiled run loop of the fast replay: every run of a timeline, in one pass.

For each run it does what ``saosim.replay.plain.PlainReplay`` does around the planner, with
the planner's own compiled pieces: the decisions come from the core's run pass
(:func:`saosim.core.run_pass.decide_run`, the rules of :mod:`saosim.core.rules`), the state
after the run from the core's transition (:func:`saosim.core.transition.snapshots`). What is
the replay's own: which nodes a run selects and which fail, each node's start and finish
(after this run's parents; guarded profiles also after a build of it in flight elsewhere),
runtime and price, and when a build becomes visible — at once for guarded profiles (baseline,
sao, orchestra), once it finished for dbt_state (each snapshot waits under the first run
that starts at or after its finish; there, in push order, the latest finish wins).

>>> run_loop.__name__
'run_loop'
"""

from __future__ import annotations

import math
import time
import warnings

import numba
import numpy as np

from saosim._jit import jit_cached
from saosim.core.codes import (
    BUILD,
    F_CHANGES,
    F_FAILS,
    F_FIXED,
    F_INCREMENTAL,
    F_TEST,
    F_UNBILLED,
    NONE,
    P_DBT_STATE,
    P_ORCHESTRA,
    RUN,
    S_ERROR,
    S_FAIL,
    S_NULL,
    S_PASS,
    S_SKIPPED,
    S_SUCCESS,
    SKIP,
)
from saosim.core.facts import Clock, NodeStates, Options, RunMarks, stamped_pair
from saosim.core.run_pass import decide_run
from saosim.core.transition import Snapshots, snapshots
from saosim.replay.kernel.timing import grow, ring_grow, timedelta_us

__all__ = ["run_loop"]

# the wait for a writer sleeps in object mode (with the GIL, by design): no parallel section
warnings.filterwarnings(
    "ignore", message="Code running in object mode", category=numba.NumbaWarning
)


@jit_cached(nogil=True)
def _stamps(n):
    return np.full(n, -1, dtype=np.int64)


@jit_cached(nogil=True)
def run_loop(g, o, st0, decided, cptr, ctimes, cvals, aptr, atimes, fptr, ftimes,
             xptr, xtimes, iptr, itimes, sources, run_at, run_profile, run_full_refresh,
             run_sel_start, run_sel_end, sel_node, sel_failing,
             sel_test_status, sel_known, sel_rt, sel_gap, sel_bytes, sel_cost, sel_start,
             threads, at_node, rt_a, rt_b,
             rt_typ, use_a, use_b, use_typ, fix_rt, fix_cost, fix_us, basis, fparams,
             builds_only, o_act, o_rsn, o_st, o_start, o_end, o_rt, o_cost, o_run, o_node,
             o_reach, progress):  # fmt: skip
    """Replay every run; returns the decision-log code arrays (see the module docstring).

    With ``builds_only`` only build and test-run rows are written, with their run and node
    (``o_run``, ``o_node``); a full log's row i is selection i, so its run and node are not
    stored (those two arrays may be empty).
    ``progress`` (int64[1]) receives the number of runs done, for a progress bar; an int64[3]
    also holds the rows a writer has taken ([1]) and how many rows the loop may be ahead of it
    ([2], 0: no limit) — the loop then waits for the writer after a run. An int64[4] makes the
    ``o_*`` arrays a ring: a run that does not fit after the last row starts again at row 0,
    and [3] is then the log row that ring row 0 holds (the returned slices start there); the
    caller makes the ring longer than the rows the loop may be ahead plus two runs, so what
    it overwrites is written already. Otherwise the
    ``o_*`` arrays receive the rows (their initial content does not matter; the returned
    slices hold exactly the rows written). The state starts as ``st0`` (copied); a run's
    profile is ``run_profile[r]`` (a job that is not state-aware still writes the state).
    """
    guarded = o.profile != P_DBT_STATE
    ahead = progress[2] if len(progress) > 2 else 0
    ring = len(progress) > 3
    base = 0  # the log row of o_*[0] (a ring starts again at 0 when full)
    n_nodes = len(g.flags)
    n_edges = len(g.eidx)
    st = NodeStates(
        st0.has.copy(),
        st0.built.copy(),
        st0.fp.copy(),
        st0.dv.copy(),
        st0.tf.copy(),
        st0.exists.copy(),
        st0.seen.copy(),
    )
    mk = RunMarks(
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        _stamps(n_nodes),
        np.zeros(n_nodes, dtype=np.int64),
        np.zeros(n_nodes + 1, dtype=np.int64),
    )
    snap = Snapshots(
        _stamps(n_nodes),
        np.zeros(n_nodes, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.bool_),
        np.zeros(n_edges, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.uint32),  # unsigned node indices: no wraparound code
    )
    # arrays out of their records once: taking one out inside a loop costs a reference count
    # each time (measured: the loop 10x slower)
    flags, _window, _tol, eptr, _eidx, _dptr, _didx, _d2e, _rptr, _ridx, _rtest = g
    st_has, st_built, st_fp, st_dv, st_tf, st_exists, st_seen = st
    m_selected, m_changed, m_failing, m_in_flight = (
        mk.selected,
        mk.changed,
        mk.failing,
        mk.in_flight,
    )
    sn_built, sn_fp, sn_dv, sn_tf, sn_seen, sn_nodes = (
        snap.built,
        snap.fp,
        snap.dv,
        snap.tf,
        snap.seen,
        snap.nodes,
    )
    ok_stamp, ok_fin = stamped_pair(n_nodes, 0)
    astamp = _stamps(n_nodes)
    amemo = np.zeros(n_nodes, dtype=np.int64)
    stack = np.zeros(n_nodes + 1, dtype=np.int64)
    cur_act = np.zeros(n_nodes, dtype=np.int64)
    cur_rsn = np.zeros(n_nodes, dtype=np.int64)
    cur_st = np.zeros(n_nodes, dtype=np.int64)
    cur_fp = np.zeros(n_nodes, dtype=np.int64)
    cur_fin = np.zeros(n_nodes, dtype=np.int64)  # c_fin, contiguous as other callers pass it
    sel_pos = np.zeros(n_nodes, dtype=np.int64)
    decided_untested = decided[(flags[decided] & F_TEST) == 0]  # orchestra's walk without tests
    acur = aptr[:-1].copy()  # per source: its first arrival after the run's start
    done, fin = stamped_pair(n_nodes, NONE)
    ck = Clock(
        at_node, threads, guarded, np.zeros(n_nodes, dtype=np.int64),
        np.full(n_nodes, NONE, dtype=np.int64), np.full(n_nodes, NONE, dtype=np.int64),
        np.full(n_nodes, NONE, dtype=np.int64), done,
        np.full(n_nodes, NONE, dtype=np.int64), np.full(n_nodes, NONE, dtype=np.int64),
        fin, np.zeros(max(threads, 1), dtype=np.int64),
        aptr, atimes, acur, np.full(n_nodes, NONE, dtype=np.int64),
    )  # fmt: skip
    c_dur, c_rec, c_rdur, c_busy, c_done, c_reach, c_start, c_fin = (
        ck.dur, ck.rec, ck.rec_dur, ck.busy, ck.done, ck.reach, ck.start, ck.fin,
    )  # fmt: skip
    c_rt = np.zeros(n_nodes, dtype=np.float64)
    c_gap = np.zeros(n_nodes, dtype=np.float64)
    no_marks = np.zeros(1, dtype=np.int8)
    # replay-wide cursors and times
    fpcur = cptr[:-1].copy()
    fcur = fptr[:-1].copy()
    xcur = xptr[:-1].copy()
    icur = iptr[:-1].copy()
    dropped = np.flatnonzero(np.diff(xptr) > 0)
    inflight = c_busy  # until when a build of the node (in some run) is in flight
    last_start = np.full(n_nodes, NONE, dtype=np.int64)
    # dbt_state: builds become visible once finished. A snapshot is filed under the first run
    # that starts at or after its finish (the due run: run_at is sorted); at each run start
    # the snapshots due are written in push order, the latest (finish time, push order) per
    # node winning, as the plain replay's heap pops them. Snapshots sit in a ring in push
    # order (seq & mask) with their parents' seen versions in a second ring, each written
    # once and read once: a build in flight for hours is never moved again
    n_runs = len(run_at)
    due_first = np.full(n_runs, -1, dtype=np.int64)  # per run: its first due snapshot (a seq)
    due_last = np.full(n_runs, -1, dtype=np.int64)
    cap = 1024  # a power of two
    p_time = np.zeros(cap, dtype=np.int64)
    p_node = np.zeros(cap, dtype=np.uint32)
    p_built = np.zeros(cap, dtype=np.int64)
    p_fp = np.zeros(cap, dtype=np.int64)
    p_dv = np.zeros(cap, dtype=np.int64)
    p_tf = np.zeros(cap, dtype=np.bool_)
    p_off = np.zeros(cap, dtype=np.int64)  # where its seen versions start in the pool
    p_next = np.zeros(cap, dtype=np.int64)  # the next snapshot due at the same run (or -1)
    p_live = np.zeros(cap, dtype=np.bool_)
    seq_end = 0  # snapshots pushed
    seq_live = 0  # the oldest snapshot not written yet (seq_end when none)
    pool = np.zeros(4096, dtype=np.int64)  # a power of two
    pool_end = 0  # seen versions pushed (an offset that only grows)
    b_stamp = _stamps(n_nodes)
    b_time = np.zeros(n_nodes, dtype=np.int64)
    row = 0
    for r in range(len(run_at)):
        at = run_at[r]
        if not guarded:
            mask = len(p_time) - 1
            pmask = len(pool) - 1
            j = due_first[r]
            while j >= 0:
                k = np.uint64(j & mask)  # unsigned: no wraparound code at each use
                j = p_next[k]
                p_live[k] = False
                x = p_node[k]
                if b_stamp[x] == r and p_time[k] < b_time[x]:
                    continue
                b_stamp[x] = r
                b_time[x] = p_time[k]
                if not st_has[x] or p_built[k] != st_built[x]:
                    st_exists[x] = True
                st_has[x] = True
                st_built[x] = p_built[k]
                st_fp[x] = p_fp[k]
                st_dv[x] = p_dv[k]
                st_tf[x] = p_tf[k]
                # signed here: the pool's offsets are int64 (uint64 with int64 is float64)
                e0 = np.int64(eptr[x])
                d = np.int64(eptr[x + 1]) - e0
                at_pool = p_off[k]
                for q in range(d):
                    st_seen[np.uint64(e0 + q)] = pool[np.uint64((at_pool + q) & pmask)]
            while seq_live < seq_end and not p_live[seq_live & mask]:
                seq_live += 1
        for s in sources:
            c = acur[s]
            while c < aptr[s + 1] and atimes[c] <= at:
                c += 1
            acur[s] = c
            # a source's data version sits where a node keeps its own
            st_dv[s] = atimes[c - 1] if c > aptr[s] else NONE
        for n in dropped:
            # the relation is gone from the warehouse (a node without state has none)
            c = xcur[n]
            while c < xptr[n + 1] and xtimes[c] <= at:
                c += 1
                if st_has[n]:
                    st_exists[n] = False
            xcur[n] = c
        ro = Options(run_profile[r], o.lag_mode, o.code_change_overrides_window, o.meta_fresh,
                     o.seed_state_orchestration, o.verify_relations_exist)  # fmt: skip
        orch = ro.profile == P_ORCHESTRA
        s0 = run_sel_start[r]
        s1 = run_sel_end[r]
        if ring and row > 0 and row + (s1 - s0) > len(o_act):
            # the ring is full: start again at row 0, whose rows the writer has taken (the
            # caller sizes the ring for that); its pages are reused, not faulted in afresh
            base += row
            row = 0
            progress[3] = base
        if row + (s1 - s0) > len(o_act):
            # grown here, outside the node loop: rebinding an array inside it costs ~40 ns
            # per decision (reference counting at every iteration)
            size = 2 * len(o_act) + (s1 - s0)
            o_act = grow(o_act, size)
            o_rsn = grow(o_rsn, size)
            o_st = grow(o_st, size)
            o_start = grow(o_start, size)
            o_end = grow(o_end, size)
            o_rt = grow(o_rt, size)
            o_cost = grow(o_cost, size)
            if builds_only:
                o_run = grow(o_run, size)
                o_node = grow(o_node, size)
            o_reach = grow(o_reach, size)
        # -- what the job selects, what fails, which code changed -----------------------------
        selection = sel_node[s0:s1]
        # dbt-orchestra decides every node, selected or not
        walk_all = orch and (s1 - s0) != len(decided)
        walk = decided if walk_all else selection
        if walk_all:
            selects_tests = False
            for i in range(s0, s1):
                m_selected[sel_node[i]] = r
                sel_pos[sel_node[i]] = i
                selects_tests |= (flags[sel_node[i]] & F_TEST) != 0
            if not selects_tests:
                # an unselected test is never decided: a run that selects none walks the rest
                walk = decided_untested
        for j in range(len(walk)):
            n = walk[j]
            f = flags[n]
            if not walk_all:
                i = s0 + j
            elif m_selected[n] == r:
                i = sel_pos[n]
            elif f & F_TEST:
                continue
            else:
                i = -1  # decided but not selected: what it would do counts for its children
            if i >= 0:
                i = np.uint64(i)  # unsigned from here: no wraparound code at each use
                failing = sel_failing[i]
                if not failing and (f & F_FAILS) != 0:
                    c = fcur[n]
                    failing = c < fptr[n + 1] and ftimes[c] <= at
                if failing:
                    m_failing[n] = r
                if iptr[n + 1] > iptr[n]:
                    # held in another job's build at the next run that selects it
                    c = icur[n]
                    if c < iptr[n + 1] and itimes[c] <= at:
                        m_in_flight[n] = r
                    while c < iptr[n + 1] and itimes[c] <= at:
                        c += 1
                    icur[n] = c
                # what a build or test run of n takes (the clock needs it before deciding):
                # the history's own at a history run (an incremental model shifted by its
                # catch-up rate for the gap difference), else the fitted model
                known = sel_known[i]
                rec = sel_start[i] if known else NONE
                c_rec[n] = rec
                c_rdur[n] = NONE
                if known and not math.isnan(sel_rt[i]):
                    c_rdur[n] = timedelta_us(sel_rt[i])
                gap = math.nan
                if (f & F_TEST) == 0 and last_start[n] != NONE:
                    gap = ((rec if rec != NONE else at) - last_start[n]) / 1e6
                c_gap[n] = gap
                if (f & F_FIXED) != 0 and not known:
                    runtime = fix_rt[n]  # gap-independent, computed once in the compile step
                    c_dur[n] = fix_us[n]
                else:
                    if known and not math.isnan(sel_rt[i]):
                        runtime = sel_rt[i]
                        if (
                            (f & F_INCREMENTAL)
                            and not math.isnan(gap)
                            and not math.isnan(sel_gap[i])
                        ):
                            runtime = max(
                                runtime + rt_b[n] * (gap - sel_gap[i]) / 3600.0, 0.05 * runtime
                            )
                    else:
                        gp = gap if not math.isnan(gap) else rt_typ[n]
                        if math.isnan(gp):
                            gp = 0.0
                        runtime = max(rt_a[n] + rt_b[n] * gp / 3600.0, 0.0)
                    c_dur[n] = timedelta_us(runtime)
                c_rt[n] = runtime
            fp = 0
            if f & F_CHANGES:
                c = fpcur[n]
                while c < cptr[n + 1] and ctimes[c] <= at:
                    c += 1
                fpcur[n] = c
                if c > cptr[n]:
                    fp = cvals[c - 1]
            cur_fp[n] = fp
            if st_has[n] and st_fp[n] != fp:
                m_changed[n] = r
        # -- the planner's decisions (and the run's clock) ------------------------------------
        decide_run(r, at, walk, walk_all, run_full_refresh[r], g, st, mk, ro, ck, cur_act,
                   cur_rsn, False, no_marks)  # fmt: skip
        # -- price, node by node in topological order -----------------------------------------
        for i in range(np.uint64(s0), np.uint64(s1)):  # unsigned: no wraparound code
            n = sel_node[i]
            f = flags[n]
            act = cur_act[n]
            failing = m_failing[n] == r
            ready = c_start[n]
            runtime = 0.0
            cost = 0.0
            status = S_NULL
            if (act in (BUILD, RUN)) and (f & F_FIXED) != 0 and not sel_known[i]:
                runtime = fix_rt[n]
                cost = fix_cost[n]
            elif act in (BUILD, RUN):
                runtime = c_rt[n]
                gap = c_gap[n] if act == BUILD else math.nan
                # price, as PlainReplay._price
                if f & F_UNBILLED:
                    cost = 0.0
                elif basis == 0:
                    cost = runtime / fparams[0] * fparams[1]
                else:
                    value = math.nan
                    # (an empty column: the history knows none)
                    if sel_known[i] and basis == 1 and len(sel_bytes):
                        value = sel_bytes[i]
                    elif sel_known[i] and basis != 1 and len(sel_cost):
                        value = sel_cost[i]
                    if math.isnan(value):
                        gp = gap if not math.isnan(gap) else use_typ[n]
                        if math.isnan(gp):
                            gp = 0.0
                        value = max(use_a[n] + use_b[n] * gp / 3600.0, 0.0)
                    cost = value / fparams[3] * fparams[2] if basis == 1 else value
            if failing and (f & F_FAILS) != 0 and act in (BUILD, RUN):
                # the failure struck this build or test run
                c = fcur[n]
                while c < fptr[n + 1] and ftimes[c] <= at:
                    c += 1
                fcur[n] = c
            if act == BUILD:
                status = S_ERROR if failing else S_SUCCESS
                if not failing:
                    last_start[n] = ready
            elif act == RUN:
                status = sel_test_status[i]
                if status == S_NULL:
                    status = S_PASS
                if failing and status == S_PASS:
                    status = S_FAIL
            elif act == SKIP:
                status = S_SKIPPED
            end = c_fin[n]
            cur_st[n] = status
            cur_fin[n] = end
            if act == BUILD:
                inflight[n] = end
            if builds_only and act != BUILD and act != RUN:
                continue
            # an unsigned index: no negative-index wraparound code for each of the ten stores
            w = np.uint64(row)
            o_act[w] = act
            o_rsn[w] = cur_rsn[n]
            o_st[w] = status
            o_start[w] = ready
            o_end[w] = end
            o_rt[w] = runtime
            o_cost[w] = cost
            o_reach[w] = c_reach[n]
            if builds_only:
                o_run[w] = r
                o_node[w] = n
            row += 1
        progress[0] = r + 1
        if ahead > 0:
            # a log written to disk as it goes: wait while this many rows are not written yet,
            # so its pages are given back before more are made (the call lets the writer's
            # count be read afresh)
            while base + row - progress[1] > ahead:
                with numba.objmode():
                    time.sleep(0.002)
        # -- the state after this run (saosim.core.transition) --------------------------------
        # (dbt_state looks through views; a baseline job beside it does not)
        looks = ro.profile == P_DBT_STATE
        n_snap = snapshots(r, selection, cur_act, cur_st, cur_fp, cur_fin, looks, guarded, g, st,
                           ck, ok_stamp, ok_fin, astamp, amemo, stack, snap)  # fmt: skip
        if guarded:
            continue
        # room for every snapshot first: an array rebound inside the loop below would be
        # reference-counted at each of its iterations (measured: ~12% of dbt_state's loop)
        if seq_end - seq_live + n_snap > len(p_time):
            size = len(p_time)
            while seq_end - seq_live + n_snap > size:
                size *= 2
            p_time = ring_grow(p_time, seq_live, seq_end, size)
            p_node = ring_grow(p_node, seq_live, seq_end, size)
            p_built = ring_grow(p_built, seq_live, seq_end, size)
            p_fp = ring_grow(p_fp, seq_live, seq_end, size)
            p_dv = ring_grow(p_dv, seq_live, seq_end, size)
            p_tf = ring_grow(p_tf, seq_live, seq_end, size)
            p_off = ring_grow(p_off, seq_live, seq_end, size)
            p_next = ring_grow(p_next, seq_live, seq_end, size)
            p_live = ring_grow(p_live, seq_live, seq_end, size)
        # (the pool from the oldest snapshot not written yet; n_edges bounds a run's pushes)
        pool_live = p_off[seq_live & (len(p_time) - 1)] if seq_live < seq_end else pool_end
        if pool_end - pool_live + n_edges > len(pool):
            size = len(pool)
            while pool_end - pool_live + n_edges > size:
                size *= 2
            pool = ring_grow(pool, pool_live, pool_end, size)
        mask = len(p_time) - 1
        pmask = len(pool) - 1
        for k in range(n_snap):
            x = sn_nodes[k]
            t_done = c_fin[x] if c_done[x] == r else at
            # the first run after this one that starts at or after the finish: a few runs on,
            # as a rule (a step at a time: a binary search per snapshot was ~10% of the loop)
            due = r + 1
            while due < n_runs and run_at[due] < t_done and due <= r + 16:
                due += 1
            if due == r + 17 and due < n_runs and run_at[due] < t_done:
                due = np.searchsorted(run_at, t_done)
            if due >= n_runs:
                continue  # visible after the last run only
            e0 = np.int64(eptr[x])
            deg = np.int64(eptr[x + 1]) - e0
            for q in range(deg):
                pool[np.uint64((pool_end + q) & pmask)] = sn_seen[np.uint64(e0 + q)]
            slot = np.uint64(seq_end & mask)
            p_off[slot] = pool_end
            pool_end += deg
            p_time[slot] = t_done
            p_node[slot] = x
            p_built[slot] = sn_built[x]
            p_fp[slot] = sn_fp[x]
            p_dv[slot] = sn_dv[x]
            p_tf[slot] = sn_tf[x]
            p_next[slot] = -1
            p_live[slot] = True
            if due_last[due] >= 0:
                p_next[np.uint64(due_last[due] & mask)] = seq_end
            else:
                due_first[due] = seq_end
            due_last[due] = seq_end
            seq_end += 1
    return (
        o_act[:row],
        o_rsn[:row],
        o_st[:row],
        o_start[:row],
        o_end[:row],
        o_rt[:row],
        o_cost[:row],
        o_run[:row],
        o_node[:row],
        o_reach[:row],
    )
