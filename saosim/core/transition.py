"""The state after a run: which nodes' state changes, and to what.

Only a successful build sets a node's ``built_at``, fingerprint, seen versions and data
version (SAO-SEMANTICS "A reuse does not touch N's state"; a dbt_state view's data version is
the latest of its parents'); a data test that ran records its own run; a failed
error-severity test flags the nodes it tests. Each change is a snapshot of a node's whole
state computed from the state the run was planned with. :meth:`saosim.core.planner.Plan.apply`
turns the snapshots into a new :class:`~saosim.core.state.State`; the compiled replay writes
them into its arrays at once, or when the build finishes (dbt_state, which has no guard).

>>> Snapshots._fields
('stamp', 'built', 'fp', 'dv', 'tf', 'seen', 'nodes')
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from saosim._jit import jit_cached
from saosim.core.codes import BUILD, F_SOURCE, F_VIEW, F_WARN, NONE, RUN, S_ERROR, S_FAIL, S_SUCCESS
from saosim.core.facts import view_data_version

__all__ = ["Snapshots", "commit", "snapshots"]


class Snapshots(NamedTuple):
    """A run's state changes: per node (``stamp[n] == r``: changed in run r) and edge."""

    stamp: np.ndarray
    built: np.ndarray
    fp: np.ndarray
    dv: np.ndarray
    tf: np.ndarray
    seen: np.ndarray
    nodes: np.ndarray  # the changed nodes, in order


@jit_cached(nogil=True)
def snapshots(r, nodes, act, status, fp, fin_t, looks_through_views, g, st, ok_stamp, ok_fin,
              astamp, amemo, stack, snap):  # fmt: skip
    """Fill ``snap`` with run ``r``'s state changes; returns how many nodes changed.

    ``nodes`` are the run's decided nodes; ``act``, ``status``, ``fp`` (the fingerprint it
    ran with) and ``fin_t`` (when it finished) are indexed by node.
    """
    for i in range(len(nodes)):
        n = nodes[i]
        if act[n] == BUILD and status[n] == S_SUCCESS:
            ok_stamp[n] = r
            ok_fin[n] = fin_t[n]
    n_snap = 0
    for i in range(len(nodes)):
        n = nodes[i]
        a = act[n]
        if not ((a == BUILD and status[n] == S_SUCCESS) or a == RUN):
            continue
        best = NONE
        for e in range(g.eptr[n], g.eptr[n + 1]):
            p = g.eidx[e]
            if ok_stamp[p] == r:
                v = ok_fin[p]
            elif g.flags[p] & F_SOURCE:
                v = st.dv[p]
            elif not st.has[p]:
                v = NONE
            elif looks_through_views and (g.flags[p] & F_VIEW) != 0:
                if astamp[p] == r:
                    v = amemo[p]
                else:
                    v = view_data_version(p, r, -1, g, st, ok_stamp, ok_fin, astamp, amemo, stack)
            else:
                v = st.dv[p]
            snap.seen[e] = v
            if v > best:
                best = v
        dv = fin_t[n]
        if a == BUILD and looks_through_views and (g.flags[n] & F_VIEW) != 0 and best > dv:
            # dbt_state: a built view's data version is the latest of its parents'
            dv = best
        snap.stamp[n] = r
        snap.built[n] = fin_t[n]
        snap.fp[n] = fp[n]
        snap.dv[n] = dv
        snap.tf[n] = False
        snap.nodes[n_snap] = n
        n_snap += 1
        if a == RUN and status[n] in (S_FAIL, S_ERROR) and (g.flags[n] & F_WARN) == 0:
            # a failed error-severity test flags the nodes it tests
            for e in range(g.eptr[n], g.eptr[n + 1]):
                p = g.eidx[e]
                if g.flags[p] & F_SOURCE:
                    continue
                if snap.stamp[p] == r:
                    snap.tf[p] = True
                elif st.has[p]:
                    snap.stamp[p] = r
                    snap.built[p] = st.built[p]
                    snap.fp[p] = st.fp[p]
                    snap.dv[p] = st.dv[p]
                    snap.tf[p] = True
                    for e2 in range(g.eptr[p], g.eptr[p + 1]):
                        snap.seen[e2] = st.seen[e2]
                    snap.nodes[n_snap] = p
                    n_snap += 1
    return n_snap


@jit_cached(nogil=True)
def commit(n_snap, g, st, snap):
    """Write the first ``n_snap`` snapshots into the state arrays; a node built (or a test
    run) in the run has its relation; one only flagged by a failed test keeps what it had."""
    for k in range(n_snap):
        x = snap.nodes[k]
        if not st.has[x] or snap.built[x] != st.built[x]:
            st.exists[x] = True
        st.has[x] = True
        st.built[x] = snap.built[x]
        st.fp[x] = snap.fp[x]
        st.dv[x] = snap.dv[x]
        st.tf[x] = snap.tf[x]
        for e in range(g.eptr[x], g.eptr[x + 1]):
            st.seen[e] = snap.seen[e]
