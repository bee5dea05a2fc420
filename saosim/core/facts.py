"""The facts step: what the rules may know about one node at one run, as one flat record.

The planner's state lives in arrays (:class:`NodeStates`: per node, and per effective parent
edge for the versions a node saw), the project in :class:`Graph`, and what happened earlier in
the same run in :class:`RunMarks` — stamp arrays holding the run number, so nothing is cleared
between runs. :func:`node_facts` reads them and returns a :class:`Facts` record of plain numbers;
the rules (:mod:`saosim.core.rules`) are functions of that record and the profile's
:class:`Options` alone. The planner (:func:`saosim.core.planner.plan`) and the compiled replay
call this same step (through :func:`saosim.core.run_pass.decide_run`).

>>> Facts._fields[:4]
('flags', 'at', 'built_at', 'has_state')
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from saosim._jit import jit_inline
from saosim.core.codes import (
    F_SOURCE,
    F_TEST,
    F_UPDATES_ALL,
    F_VIEW,
    NONE,
    P_BASELINE,
    P_DBT_STATE,
    P_ORCHESTRA,
)

__all__ = [
    "EDGE_FRESH",
    "EDGE_NO_METADATA",
    "EDGE_STALE",
    "Facts",
    "Graph",
    "NodeStates",
    "Options",
    "RunMarks",
    "node_facts",
    "view_data_version",
]

# what the facts step found for one parent edge (recorded for a plan's evidence)
EDGE_STALE, EDGE_FRESH, EDGE_NO_METADATA = 1, 2, 3


class Graph(NamedTuple):
    """The project as the rules see it, indexed by position in ``project.order``."""

    flags: np.ndarray  # int32 bit mask (saosim.core.codes.F_*)
    window_s: np.ndarray  # float64 build_after window (orchestra: after inheritance)
    tol_s: np.ndarray  # float64 dbt_state lag tolerance
    eptr: np.ndarray  # effective data parents (ephemerals replaced), sorted by id, CSR
    eidx: np.ndarray
    dptr: np.ndarray  # direct data parents as dbt lists them (orchestra), CSR
    didx: np.ndarray
    d2e: np.ndarray  # the effective edge of the same parent (-1: none)


class NodeStates(NamedTuple):
    """The shared state: what each node looked like at its last successful build."""

    has: np.ndarray  # bool: a state entry exists
    built: np.ndarray  # int64 µs: when the last successful build ended
    fp: np.ndarray  # int64: the fingerprint it was built with (an interned id)
    dv: np.ndarray  # int64 µs: its data version; a source's: when data last landed
    tf: np.ndarray  # bool: an error-severity test on it failed after that build
    exists: np.ndarray  # bool: its relation exists in the warehouse
    seen: np.ndarray  # int64 µs per effective edge: the parent's data version it saw


class RunMarks(NamedTuple):
    """Per-run stamps (``mark[n] == r``: true for node n in run r) and scratch arrays."""

    selected: np.ndarray  # the job selected it
    changed: np.ndarray  # its fingerprint differs from its state's
    failing: np.ndarray  # its build fails in this run
    in_flight: np.ndarray  # another job is building it
    built: np.ndarray  # decided build in this run
    failed: np.ndarray  # failed or skipped in this run
    code: np.ndarray  # dbt_state: built for its own or an upstream code change
    dirty: np.ndarray  # orchestra: would build (selected or not)
    vstamp: np.ndarray  # dbt_state: the view data version memo is valid in this run
    vmemo: np.ndarray  # the memo
    stack: np.ndarray  # scratch for the view walk (n + 1)


class Options(NamedTuple):
    """A profile and its options as numbers (:meth:`saosim.core.decision.ProfileOptions`)."""

    profile: int
    lag_mode: int
    code_change_overrides_window: bool
    meta_fresh: bool  # no_metadata_source: always_fresh
    seed_state_orchestration: bool
    verify_relations_exist: bool


class Facts(NamedTuple):
    """One node at one run: everything a rule may read."""

    flags: int
    at: int  # µs: the time the job reaches the node
    built_at: int  # µs: its last successful build (NONE: none)
    has_state: bool
    table_exists: bool
    tests_failed: bool
    code_changed: bool
    full_refresh: bool
    in_flight: bool
    n_failed: int  # effective parents failed or skipped in this run
    n_built_parents: int  # effective parents built in this run
    n_fresh: int  # fresh parents (at least this many; exact when recorded)
    has_stale: bool  # some direct parent has nothing new (read with updates_on: all)
    n_upstream_code: int  # dbt_state: parents built for a code change in this run
    window_s: float
    tol_s: float
    latest_now: int  # dbt_state: latest parent data version now (NONE: none)
    latest_seen: int  # dbt_state: latest parent data version at its last build


@jit_inline
def view_data_version(p, r, at, g, st, hit, hit_t, mstamp, memo, stack):
    """dbt_state looks through views: a view's data version is the latest of its own build
    and its parents' (through views, recursively). ``hit`` stamps the parents that count with
    a fixed time in this pass: built now → ``at`` when planning; built ok → ``hit_t`` when
    applying (``at`` < 0)."""
    top = 1
    stack[0] = p
    while top > 0:
        x = stack[top - 1]
        pushed = False
        for e in range(g.eptr[x], g.eptr[x + 1]):
            q = g.eidx[e]
            if (
                hit[q] != r
                and (g.flags[q] & F_SOURCE) == 0
                and st.has[q]
                and (g.flags[q] & F_VIEW) != 0
                and mstamp[q] != r
            ):
                stack[top] = q
                top += 1
                pushed = True
                break
        if pushed:
            continue
        best = st.built[x]
        for e in range(g.eptr[x], g.eptr[x + 1]):
            q = g.eidx[e]
            if hit[q] == r:
                v = at if at >= 0 else hit_t[q]
            elif g.flags[q] & F_SOURCE:
                v = st.dv[q]
            elif not st.has[q]:
                v = NONE
            elif g.flags[q] & F_VIEW:
                v = memo[q]
            else:
                v = st.dv[q]
            if v != NONE and v > best:
                best = v
        memo[x] = best
        mstamp[x] = r
        top -= 1
    return memo[p]


@jit_inline
def node_facts(n, r, at, g, st, mk, o, any_failed, full_refresh, record, emark, dmark):
    """The :class:`Facts` of node ``n`` at run ``r`` (time ``at``).

    A parent is fresh when it was built earlier in this run or its data version is newer than
    what ``n`` saw (SAO-SEMANTICS "fresh parent"); a source without arrival data is fresh or
    not as ``no_metadata_source`` says. With ``record``, every parent edge is scanned and what
    it was is written to ``emark`` (effective edges) or ``dmark`` (orchestra's direct edges);
    otherwise the scan stops at the first fresh parent when no rule needs more.
    """
    f = g.flags[n]
    prof = o.profile
    dbt = prof == P_DBT_STATE
    has = st.has[n]
    n_failed = 0
    n_built = 0
    n_code = 0
    for e in range(g.eptr[n], g.eptr[n + 1]):
        p = g.eidx[e]
        if any_failed and mk.failed[p] == r:
            n_failed += 1
        if mk.built[p] == r:
            n_built += 1
        if dbt and mk.code[p] == r:
            n_code += 1
    n_fresh = 0
    stale = False
    lnow = NONE
    lseen = NONE
    if has and prof == P_ORCHESTRA and (f & F_TEST) == 0:
        # dbt-orchestra's scan: direct parents (ephemerals not looked through); a node is new
        # when dirty in this run, never built, or built after n
        early = not record and (f & F_UPDATES_ALL) == 0
        for d in range(g.dptr[n], g.dptr[n + 1]):
            p = g.didx[d]
            mark = EDGE_STALE
            if g.flags[p] & F_SOURCE:
                v = st.dv[p]
                s = st.seen[g.d2e[d]] if g.d2e[d] >= 0 else NONE
                if v == NONE:
                    mark = EDGE_NO_METADATA
                elif s == NONE or v > s:
                    mark = EDGE_FRESH
            elif mk.dirty[p] == r or not st.has[p] or st.built[p] > st.built[n]:
                mark = EDGE_FRESH
            if record:
                dmark[d] = mark
            if mark == EDGE_STALE:
                stale = True
            else:
                n_fresh += 1
                if early:
                    break
    elif has and prof != P_BASELINE and prof != P_ORCHESTRA:
        early = not record and not dbt and (f & F_UPDATES_ALL) == 0
        for e in range(g.eptr[n], g.eptr[n + 1]):
            p = g.eidx[e]
            mark = EDGE_STALE
            if mk.built[p] == r:
                mark = EDGE_FRESH
                if dbt:
                    lnow = at
            else:
                v = st.dv[p]
                if v == NONE:
                    if (g.flags[p] & F_SOURCE) != 0 and o.meta_fresh:
                        mark = EDGE_NO_METADATA
                        if dbt:
                            # always fresh: as if its data landed at t
                            lnow = at
                else:
                    if dbt and (g.flags[p] & F_VIEW) != 0:
                        if mk.vstamp[p] == r:
                            v = mk.vmemo[p]
                        else:
                            v = view_data_version(
                                p, r, at, g, st, mk.built, mk.built, mk.vstamp, mk.vmemo, mk.stack
                            )
                    if dbt and (lnow == NONE or v > lnow):
                        lnow = v
                    seen = st.seen[e]
                    if seen == NONE or v > seen:
                        mark = EDGE_FRESH
            if record:
                emark[e] = mark
            if mark == EDGE_STALE:
                stale = True
            else:
                n_fresh += 1
                if early:
                    break
        if dbt:
            for e in range(g.eptr[n], g.eptr[n + 1]):
                if st.seen[e] > lseen:
                    lseen = st.seen[e]
    return Facts(
        f,
        at,
        st.built[n] if has else NONE,
        has,
        st.exists[n],
        st.tf[n],
        mk.changed[n] == r,
        full_refresh,
        mk.in_flight[n] == r,
        n_failed,
        n_built,
        n_fresh,
        stale,
        n_code,
        g.window_s[n],
        g.tol_s[n],
        lnow,
        lseen,
    )
