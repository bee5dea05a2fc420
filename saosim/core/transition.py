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
from saosim.core.facts import source_version, view_data_version

__all__ = ["Snapshots", "snapshots"]


class Snapshots(NamedTuple):
    """A run's state changes: per node (``stamp[n] == r``: changed in run r) and edge."""

    stamp: np.ndarray
    built: np.ndarray
    fp: np.ndarray
    dv: np.ndarray
    tf: np.ndarray
    seen: np.ndarray
    nodes: np.ndarray  # uint32: the changed nodes, in order (unsigned: no wraparound code)


@jit_cached(nogil=True)
def snapshots(r, nodes, act, status, fp, fin_t, looks_through_views, direct, g, st, ck,
              ok_stamp, ok_fin, astamp, amemo, stack, snap):  # fmt: skip
    """Run ``r``'s state changes: into ``snap`` (returns how many nodes changed, listed in
    ``snap.nodes``), or with ``direct`` straight into ``st`` (returns 0).

    ``nodes`` are the run's decided nodes in topological order; ``act``, ``status``, ``fp``
    (the fingerprint it ran with) and ``fin_t`` (when it finished) are indexed by node; a
    source's version is read at the t the run's :class:`~saosim.core.facts.Clock` judged the
    node at (``ck.read``).
    Writing in place is safe while the run's own nodes are walked: a node reads a parent's
    state only when that parent was not built ok in this run (``ok_stamp``), and then the
    parent's state has not changed.
    """
    # arrays out of their records once (a reference count per use inside a loop)
    flags, _w, _t, eptr, eidx, _dp, _di, _de, _rp, _ri, _rt = g
    has, built, fps, dv, tf, exists, seen = st
    src_ptr, src_times, src_next, read = ck.src_ptr, ck.src_times, ck.src_next, ck.read
    s_stamp, s_built, s_fp, s_dv, s_tf, s_seen, s_nodes = snap
    n_snap = 0
    for i in range(len(nodes)):
        n = nodes[i]
        a = act[n]
        if a != BUILD and a != RUN:
            continue
        built_ok = a == BUILD and status[n] == S_SUCCESS
        if built_ok:
            # topological order: a child below reads its parent's finish from here
            ok_stamp[n] = r
            ok_fin[n] = fin_t[n]
        elif a != RUN:
            continue
        best = NONE
        if direct and not looks_through_views:
            # written in place, a parent built ok earlier in this run already has its finish
            # as its data version (and a source its arrival): one read per parent
            t = read[n]
            for e in range(eptr[n], eptr[n + 1]):
                p = eidx[e]
                if (flags[p] & F_SOURCE) != 0 and t != NONE:
                    seen[e] = source_version(p, t, dv, src_ptr, src_times, src_next)
                else:
                    seen[e] = dv[p]
            e_end = eptr[n]  # nothing left for the general walk below
        else:
            e_end = eptr[n + 1]
        for e in range(eptr[n], e_end):
            p = eidx[e]
            if ok_stamp[p] == r:
                v = ok_fin[p]
            elif flags[p] & F_SOURCE:
                v = dv[p] if read[n] == NONE else source_version(
                    p, read[n], dv, src_ptr, src_times, src_next
                )  # fmt: skip
            elif not has[p]:
                v = NONE
            elif looks_through_views and (flags[p] & F_VIEW) != 0:
                if astamp[p] == r:
                    v = amemo[p]
                else:
                    v = view_data_version(p, r, -1, flags, eptr, eidx, has, built, dv, ok_stamp,
                                          ok_fin, astamp, amemo, stack)  # fmt: skip
            else:
                v = dv[p]
            if direct:
                seen[e] = v
            else:
                s_seen[e] = v
            if v > best:
                best = v
        version = fin_t[n]
        if built_ok and looks_through_views and (flags[n] & F_VIEW) != 0 and best > version:
            # dbt_state: a built view's data version is the latest of its parents'
            version = best
        if direct:
            has[n] = True
            built[n] = fin_t[n]
            fps[n] = fp[n]
            dv[n] = version
            tf[n] = False
            exists[n] = True
        else:
            s_stamp[n] = r
            s_built[n] = fin_t[n]
            s_fp[n] = fp[n]
            s_dv[n] = version
            s_tf[n] = False
            s_nodes[n_snap] = n
            n_snap += 1
        if a == RUN and status[n] in (S_FAIL, S_ERROR) and (flags[n] & F_WARN) == 0:
            # a failed error-severity test flags the nodes it tests
            for e in range(eptr[n], eptr[n + 1]):
                p = eidx[e]
                if flags[p] & F_SOURCE:
                    continue
                if direct:
                    if has[p]:
                        tf[p] = True
                elif s_stamp[p] == r:
                    s_tf[p] = True
                elif has[p]:
                    s_stamp[p] = r
                    s_built[p] = built[p]
                    s_fp[p] = fps[p]
                    s_dv[p] = dv[p]
                    s_tf[p] = True
                    for e2 in range(eptr[p], eptr[p + 1]):
                        s_seen[e2] = seen[e2]
                    s_nodes[n_snap] = p
                    n_snap += 1
    return n_snap
