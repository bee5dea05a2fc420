"""Small compiled helpers of the replay loop: exact timedelta rounding and growing arrays.

>>> int(timedelta_us(1.5))
1500000
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["grow", "ring_grow", "timedelta_us"]


@njit(cache=True, inline="always")
def _c_round(x):
    """C's round(): halves away from zero."""
    r = np.trunc(x)
    if abs(x - r) >= 0.5:
        r += 1.0 if x > 0 else -1.0
    return r


@njit(cache=True, inline="always")
def timedelta_us(seconds):
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
def grow(a, size):
    """A copy of ``a`` with room for ``size`` items."""
    out = np.empty(size, dtype=a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True)
def ring_grow(a, lo, hi, size):
    """A ring of ``size`` items (a power of two) holding items ``lo:hi`` of the ring ``a``
    (item ``i`` sits at ``i & (len - 1)`` in both)."""
    out = np.empty(size, dtype=a.dtype)
    old = len(a) - 1
    new = size - 1
    for i in range(lo, hi):
        out[i & new] = a[i & old]
    return out
