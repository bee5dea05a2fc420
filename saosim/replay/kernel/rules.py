"""The fast replay's per-node pieces: codes, the rules of each profile, runtimes and prices.

It mirrors, line for line, :func:`saosim.core.planner.plan` (the rules of :mod:`saosim.core.rules`,
in
each profile's order), :func:`saosim.core.apply.apply_plan` (how state moves forward) and
``saosim.replay.engine._PlainReplay`` (shared state, the concurrency rule, failures, runtimes,
prices, start and finish times). It writes one small integer code per action, reason and status
into arrays; :mod:`saosim.replay.kernel.log` turns them into the decision log.

State is kept per node (built_at, fingerprint version, data version, tests_failed) and per
effective parent edge (the parent's data version the node saw), as int64 microseconds with
:data:`NONE` for "absent". Per-run sets (built in this run, failed in this run, …) are stamp
arrays holding the run number, so nothing is cleared between runs.

>>> from saosim.core.decision import Action, Reason
>>> ACTIONS == tuple(a.value for a in Action) and REASONS == tuple(r.value for r in Reason)
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from saosim.replay.kernel.compile import (
    F_EPHEMERAL,
    F_FOREIGN_ROOT,
    F_SEED,
    F_SNAPSHOT,
    F_SOURCE,
    F_UPDATES_ALL,
    F_VIEW,
    NONE,
)

__all__ = ["ACTIONS", "REASONS"]

ACTIONS = ("build", "run", "reuse", "skip", "no_op")
REASONS = (
    "stateless",
    "full_refresh",
    "ephemeral",
    "python_model",
    "never_built",
    "table_missing",
    "previous_test_failed",
    "upstream_failed",
    "no_new_data",
    "waiting_for_all_upstreams",
    "within_build_after",
    "within_lag_tolerance",
    "code_changed",
    "upstream_code_changed",
    "new_upstream_data",
    "tested_node_built",
    "tested_node_reused",
    "test_code_changed",
    "in_flight_elsewhere",
    "always_builds",
)
BUILD, RUN, REUSE, SKIP, NO_OP = 0, 1, 2, 3, 4
(
    R_STATELESS,
    R_FULL_REFRESH,
    R_EPHEMERAL,
    R_PYTHON_MODEL,
    R_NEVER_BUILT,
    R_TABLE_MISSING,
    R_PREVIOUS_TEST_FAILED,
    R_UPSTREAM_FAILED,
    R_NO_NEW_DATA,
    R_WAITING,
    R_WITHIN_BUILD_AFTER,
    R_WITHIN_LAG_TOLERANCE,
    R_CODE_CHANGED,
    R_UPSTREAM_CODE_CHANGED,
    R_NEW_UPSTREAM_DATA,
    R_TESTED_NODE_BUILT,
    R_TESTED_NODE_REUSED,
    R_TEST_CODE_CHANGED,
    R_IN_FLIGHT,
    R_ALWAYS_BUILDS,
) = range(20)
# status codes: as saosim.replay.kernel.compile.STATUSES
S_NULL, S_SUCCESS, S_ERROR, S_SKIPPED, S_PASS, S_FAIL, S_WARN = range(7)
P_BASELINE, P_SAO, P_DBT_STATE, P_ORCHESTRA = range(4)


@njit(cache=True, inline="always")
def _c_round(x):
    """C's round(): halves away from zero."""
    r = np.trunc(x)
    if abs(x - r) >= 0.5:
        r += 1.0 if x > 0 else -1.0
    return r


@njit(cache=True, inline="always")
def _timedelta_us(seconds):
    """Microseconds of ``datetime.timedelta(seconds=seconds)``, rounded exactly as CPython
    does (whole seconds, then whole microseconds, then the leftover half-to-even), so finish
    times match the plain replay to the microsecond."""
    ip = np.trunc(seconds)
    frac = seconds - ip
    total = np.int64(ip) * 1_000_000
    if frac == 0.0:
        return total
    d = frac * 1e6
    ip2 = np.trunc(d)
    left = d - ip2
    total += np.int64(ip2)
    if left == 0.0:
        return total
    whole = _c_round(left)
    if abs(whole - left) == 0.5:
        odd = total & 1
        whole = 2.0 * _c_round((left + odd) * 0.5) - odd
    return total + np.int64(whole)


@njit(cache=True)
def _view_dv(p, r, at, eptr, eidx, flags, st_has, st_built, st_dv, sv, hit, hit_t, mstamp, memo,
             stack):  # fmt: skip
    """dbt_state: a view's data version is the latest of its own build and its parents'
    (looking through views recursively). ``hit``/``hit_t`` give the parents that count with
    a fixed time in this pass (built now → ``at`` when planning; built ok → its finish when
    applying, ``at`` < 0 selects the latter)."""
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
                and st_has[q]
                and (flags[q] & F_VIEW) != 0
                and mstamp[q] != r
            ):
                stack[top] = q
                top += 1
                pushed = True
                break
        if pushed:
            continue
        best = st_built[x]
        for e in range(eptr[x], eptr[x + 1]):
            q = eidx[e]
            if hit[q] == r:
                v = at if at >= 0 else hit_t[q]
            elif flags[q] & F_SOURCE:
                v = sv[q]
            elif not st_has[q]:
                v = NONE
            elif flags[q] & F_VIEW:
                v = memo[q]
            else:
                v = st_dv[q]
            if v != NONE and v > best:
                best = v
        memo[x] = best
        mstamp[x] = r
        top -= 1
    return memo[p]


@njit(cache=True)
def _grow(a, size):
    out = np.empty(size, dtype=a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True, inline="always")
def _fresh_orchestra(n, r, dptr, didx, d2e, flags, st_has, st_built, st_seen, sv, dirty_stamp,
                     early):  # fmt: skip
    """dbt-orchestra's scan of N's direct parents (ephemerals not looked through): a source
    is new when it has no freshness information or landed after N saw it; a node when it is
    dirty in this run, has no state, or was built after N."""
    nfresh = 0
    stale = False
    built_n = st_built[n]
    for d in range(dptr[n], dptr[n + 1]):
        p = didx[d]
        if flags[p] & F_SOURCE:
            v = sv[p]
            s = st_seen[d2e[d]] if d2e[d] >= 0 else NONE
            new = v == NONE or s == NONE or v > s
        else:
            new = dirty_stamp[p] == r or not st_has[p] or st_built[p] > built_n
        if new:
            nfresh += 1
            if early:
                break
        else:
            stale = True
    return nfresh, stale


@njit(cache=True, inline="always")
def _decide_orchestra(n, r, at, f, sso, full_refresh, has, fpch, window, dptr, didx, d2e,
                      flags, st_has, st_built, st_seen, sv, dirty_stamp):  # fmt: skip
    """orchestra's rules for a model, seed or snapshot, before dbt's upstream-failure skip
    (the caller marks a BUILD dirty, then turns it into a skip below a failed parent)."""
    if f & F_EPHEMERAL:
        return NO_OP, R_EPHEMERAL
    if full_refresh:
        return BUILD, R_FULL_REFRESH
    if f & (F_SNAPSHOT | F_FOREIGN_ROOT):
        return BUILD, R_ALWAYS_BUILDS
    if (f & F_SEED) and not sso:
        return BUILD, R_ALWAYS_BUILDS
    if not has:
        return BUILD, R_NEVER_BUILT
    if fpch:
        return BUILD, R_CODE_CHANGED
    ua = (f & F_UPDATES_ALL) != 0
    nfresh, stale = _fresh_orchestra(n, r, dptr, didx, d2e, flags, st_has, st_built, st_seen, sv,
                                     dirty_stamp, not ua)  # fmt: skip
    if nfresh == 0:
        return REUSE, R_NO_NEW_DATA
    if ua and stale:
        return REUSE, R_WAITING
    # the window in whole minutes (minutes since the build, rounded down)
    window_min = int(window // 60)
    if window_min != 0 and int((at - st_built[n]) / 1e6 / 60) < window_min:
        return REUSE, R_WITHIN_BUILD_AFTER
    return BUILD, R_NEW_UPSTREAM_DATA
