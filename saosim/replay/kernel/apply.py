"""The state after one run of the fast replay, as :func:`saosim.core.apply.apply_plan` computes it.

Only a successful build sets a node's built_at, fingerprint, seen versions and data version
(a dbt_state view's: the latest of its parents'); a data test that ran records its own run; a
failed error-severity test flags the nodes it tests. Each change is a snapshot of the node's
whole state, computed from the state the run was planned with; the run loop writes the
snapshots at once (guarded profiles) or when the build finishes (dbt_state).

>>> snapshots.__name__
'snapshots'
"""

from __future__ import annotations

from numba import njit

from saosim.replay.kernel.compile import F_SOURCE, F_VIEW, F_WARN, NONE
from saosim.replay.kernel.rules import BUILD, RUN, S_ERROR, S_FAIL, S_SUCCESS, _view_dv

__all__ = ["snapshots"]


@njit(cache=True)
def snapshots(r, s0, s1, guarded, sel_node, cur_act, cur_st, cur_fp, fin_t, eptr, eidx, flags, sv,
              st_has, st_built, st_fp, st_dv, st_seen, ok_stamp, ok_fin, astamp, amemo, stack,
              snap_stamp, snap_built, snap_fp, snap_dv, snap_tf, snap_seen, snap_list):  # fmt: skip
    """Fill the ``snap_*`` arrays with run ``r``'s state changes; returns how many nodes
    changed (listed in ``snap_list``)."""
    n_snap = 0
    for i in range(s0, s1):
        n = sel_node[i]
        act = cur_act[n]
        if not ((act == BUILD and cur_st[n] == S_SUCCESS) or act == RUN):
            continue
        fin = fin_t[n]
        best = NONE
        for e in range(eptr[n], eptr[n + 1]):
            p = eidx[e]
            if ok_stamp[p] == r:
                v = ok_fin[p]
            elif flags[p] & F_SOURCE:
                v = sv[p]
            elif not st_has[p]:
                v = NONE
            elif not guarded and (flags[p] & F_VIEW) != 0:
                if astamp[p] == r:
                    v = amemo[p]
                else:
                    v = _view_dv(p, r, -1, eptr, eidx, flags, st_has, st_built, st_dv, sv,
                                 ok_stamp, ok_fin, astamp, amemo, stack)  # fmt: skip
            else:
                v = st_dv[p]
            snap_seen[e] = v
            if v > best:
                best = v
        dv = fin
        if act == BUILD and not guarded and (flags[n] & F_VIEW) != 0 and best > dv:
            # dbt_state: a built view's data version is the latest of its parents'
            dv = best
        snap_stamp[n] = r
        snap_built[n] = fin
        snap_fp[n] = cur_fp[n]
        snap_dv[n] = dv
        snap_tf[n] = False
        snap_list[n_snap] = n
        n_snap += 1
        st = cur_st[n]
        if act == RUN and st in (S_FAIL, S_ERROR) and (flags[n] & F_WARN) == 0:
            # a failed error-severity test flags the nodes it tests
            for e in range(eptr[n], eptr[n + 1]):
                p = eidx[e]
                if flags[p] & F_SOURCE:
                    continue
                if snap_stamp[p] == r:
                    snap_tf[p] = True
                elif st_has[p]:
                    snap_stamp[p] = r
                    snap_built[p] = st_built[p]
                    snap_fp[p] = st_fp[p]
                    snap_dv[p] = st_dv[p]
                    snap_tf[p] = True
                    for e2 in range(eptr[p], eptr[p + 1]):
                        snap_seen[e2] = st_seen[e2]
                    snap_list[n_snap] = p
                    n_snap += 1
    return n_snap
