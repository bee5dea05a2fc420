"""The facts step: what the rules may know about one node at one run, as one flat record.

The planner's state lives in arrays (:class:`NodeStates`: per node, and per effective parent
edge for the versions a node saw), the project in :class:`Graph`, and what happened earlier in
the same run in :class:`RunMarks` — stamp arrays holding the run number, so nothing is cleared
between runs. The facts step reads them into a :class:`Facts` record of plain numbers;
the rules (:mod:`saosim.core.rules`) are functions of that record and the profile's
:class:`Options` alone. The planner (:func:`saosim.core.planner.plan`) and the compiled replay
call this same step: it is the first half of each node's turn in
:func:`saosim.core.run_pass.decide_run`.

>>> Facts._fields[:4]
('flags', 'at', 'built_at', 'has_state')
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from saosim._jit import jit_cached
from saosim.core.codes import (
    F_SOURCE,
    F_VIEW,
    NONE,
)

__all__ = [
    "EDGE_FRESH",
    "EDGE_NO_METADATA",
    "EDGE_STALE",
    "Clock",
    "Facts",
    "Graph",
    "NodeStates",
    "Options",
    "RunMarks",
    "new_clock",
    "stamped_pair",
    "view_data_version",
]

# what the facts step found for one parent edge (recorded for a plan's evidence)
EDGE_STALE, EDGE_FRESH, EDGE_NO_METADATA = 1, 2, 3


class Graph(NamedTuple):
    """The project as the rules see it, indexed by position in ``project.order``.

    CSR offsets are uint64 and node indices uint32: numba indexes with unsigned integers (and
    a loop variable over an unsigned range) without its negative-index wraparound code.
    """

    flags: np.ndarray  # int32 bit mask (saosim.core.codes.F_*)
    window_s: np.ndarray  # float64 build_after window (orchestra: after inheritance)
    tol_s: np.ndarray  # float64 dbt_state lag tolerance
    eptr: np.ndarray  # effective data parents (ephemerals replaced), sorted by id, CSR
    eidx: np.ndarray
    dptr: np.ndarray  # direct data parents as dbt lists them (orchestra), CSR
    didx: np.ndarray
    d2e: np.ndarray  # the effective edge of the same parent (-1: none)
    rptr: np.ndarray  # what a run finishes before it reaches a node: its decided direct
    ridx: np.ndarray  # parents and their data tests (Project.run_parents), CSR
    rtest: np.ndarray  # where a node's parents' data tests start in ridx (parents come first)


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
    test_failed: np.ndarray  # an error-severity data test on it failed (children skip)
    code: np.ndarray  # dbt_state: built for its own or an upstream code change
    dirty: np.ndarray  # orchestra: would build (selected or not)
    vstamp: np.ndarray  # dbt_state: the view data version memo is valid in this run
    vmemo: np.ndarray  # the memo
    stack: np.ndarray  # scratch for the view walk (n + 1)


class Clock(NamedTuple):
    """The in-run schedule (SAO-SEMANTICS "t"): when a job run reaches each node.

    A node is reached once the run has finished what :attr:`Graph.rptr` lists for it (its
    parents and their data tests). A node the history ran is reached at its recorded start,
    earlier by the least time the replay saved on those parents; any other node waits for one
    of ``threads`` to be free (0: no limit), taking the thread free latest at or before it is
    ready, else the one free first, in the run's order (dbt's priority; a thread idle before a
    later node starts is not back-filled). A build or test then takes ``dur``; a reuse, skip
    or no-op takes no time. Guarded profiles wait for the same node's build in another run
    (``busy``) before building or reusing it.
    """

    at_node: bool  # the rules' t is the reach time (False: the run's start, clock: run_start)
    threads: int  # dbt threads (0: as many as the run needs)
    guarded: bool  # waits for a build of the same node in flight in another run
    dur: np.ndarray  # int64 µs per node: what a build or test run takes (set for the run's nodes)
    rec: np.ndarray  # int64 µs per node: its recorded start in this history run, else NONE
    rec_dur: np.ndarray  # int64 µs: its recorded duration, NONE when unknown
    busy: np.ndarray  # int64 µs: until when another run is building it (NONE: none)
    # done and fin are read together by a random parent index: :func:`stamped_pair` views
    done: np.ndarray  # stamp: scheduled in run r (the three arrays below are valid)
    reach: np.ndarray  # int64 µs: when the run reached it
    start: np.ndarray  # int64 µs: when its build or test started (after waiting)
    fin: np.ndarray  # int64 µs: when it ended
    free: np.ndarray  # int64 µs per thread: when it is free (scratch)
    # data that lands while the run goes counts for a node reached after it (SAO-SEMANTICS
    # "t"): per source, its arrival times (CSR) and the first one after the run's start
    src_ptr: np.ndarray  # int64, n_nodes + 1
    src_times: np.ndarray  # int64 µs, sorted per source
    src_next: np.ndarray  # int64 per node: index of its first arrival after the run's start
    read: np.ndarray  # int64 µs per node: the t it was judged at (its sources read then)


def new_clock(
    n_nodes: int, *, at_node: bool = True, threads: int = 0, guarded: bool = False
) -> Clock:
    """A :class:`Clock` for ``n_nodes`` with nothing scheduled yet (durations 0).

    >>> new_clock(3, threads=2).free.shape
    (2,)
    """

    def times() -> np.ndarray:
        return np.full(n_nodes, NONE, dtype=np.int64)

    done, fin = stamped_pair(n_nodes, NONE)
    return Clock(
        at_node, threads, guarded, np.zeros(n_nodes, dtype=np.int64), times(), times(), times(),
        done, times(), times(), fin,
        np.zeros(max(threads, 1), dtype=np.int64), np.zeros(n_nodes + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int64), np.zeros(n_nodes, dtype=np.int64), times(),
    )  # fmt: skip


@jit_cached(nogil=True)
def stamped_pair(n, fill):
    """A run stamp (-1: no run) and an int64 value (``fill``) per node, interleaved in one
    (n, 2) block and returned as its two column views. Loops read both at a random parent
    index (the clock's done/fin, the transition's ok_stamp/ok_fin): one cache line, not two
    (per-node arrays are L3-sized: a miss each). Every creator uses it, so the compiled code
    sees one array layout.

    >>> stamp, value = stamped_pair(2, 7)
    >>> stamp.tolist(), value.tolist(), stamp.strides
    ([-1, -1], [7, 7], (16,))
    """
    block = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        block[i, 0] = -1
        block[i, 1] = fill
    return block[:, 0], block[:, 1]


@jit_cached(nogil=True)
def source_version(p, t, dv, src_ptr, src_times, src_next):
    """Source ``p``'s data version as read at ``t``: its last arrival at or before ``t``
    (``dv[p]`` holds the last one at or before the run's start).

    >>> import numpy as np
    >>> ptr, times, nxt = np.array([0, 2]), np.array([10, 20]), np.array([1])
    >>> int(source_version(0, 25, np.array([10]), ptr, times, nxt))
    20
    """
    v = dv[p]
    k = src_next[p]
    while k < src_ptr[p + 1] and src_times[k] <= t:
        v = src_times[k]
        k += 1
    return v


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
    n_built_parents: int  # data tests: effective parents built in this run (else 0)
    n_fresh: int  # fresh parents (at least this many; exact when recorded)
    has_stale: bool  # some direct parent has nothing new (read with updates_on: all)
    n_upstream_code: int  # dbt_state: parents built for a code change in this run
    window_s: float
    tol_s: float
    latest_now: int  # dbt_state: latest parent data version now (NONE: none)
    latest_seen: int  # dbt_state: latest parent data version at its last build


@jit_cached(nogil=True)
def view_data_version(p, r, at, flags, eptr, eidx, has, built, dv, hit, hit_t, mstamp, memo,
                      stack):  # fmt: skip
    """dbt_state looks through views: a view's data version is the latest of its own build
    and its parents' (through views, recursively). ``hit`` stamps the parents that count with
    a fixed time in this pass: built now → ``at`` when planning with the clock at the run's
    start; their end ``hit_t`` when ``at`` < 0 (planning with the clock at the node, and
    applying), so the memo is the same whichever node asks first. Arrays come one by one, not
    in their records: taking an array out of a record inside a loop costs a reference count
    each time (measured 10x slower)."""
    top = 1
    stack[0] = p
    while top > 0:
        x = stack[top - 1]
        pushed = False
        for e in range(eptr[x], eptr[x + 1]):
            q = eidx[e]
            if (
                hit[q] != r
                and (flags[q] & F_SOURCE) == 0
                and has[q]
                and (flags[q] & F_VIEW) != 0
                and mstamp[q] != r
            ):
                stack[top] = q
                top += 1
                pushed = True
                break
        if pushed:
            continue
        best = built[x]
        for e in range(eptr[x], eptr[x + 1]):
            q = eidx[e]
            if hit[q] == r:
                v = at if at >= 0 else hit_t[q]
            elif flags[q] & F_SOURCE:
                v = dv[q]
            elif not has[q]:
                v = NONE
            elif flags[q] & F_VIEW:
                v = memo[q]
            else:
                v = dv[q]
            if v != NONE and v > best:
                best = v
        memo[x] = best
        mstamp[x] = r
        top -= 1
    return memo[p]
