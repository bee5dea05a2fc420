"""Sorting by (node, time) once, and per-node statistics without sorting again.

The runtime fit keeps every observation sorted by (node, time), so each node's rows are one
segment and a per-node statistic needs no sort of the whole array: the robust fit takes a
median of every node's residuals at each of its iterations, over tens of millions of rows.
:func:`argsort_pairs` is the one sort, of two integer columns as one key (the replay's
history uses it for its (run, node) and (node, run) orders too).

>>> import numpy as np
>>> code = np.array([0, 0, 0, 1, 1])
>>> segment_median(code, np.array([3.0, 1.0, 2.0, 5.0, 4.0]), 2)
array([2. , 4.5])
"""

from __future__ import annotations

import numpy as np
import polars as pl

from saosim._jit import jit_cached

__all__ = ["argsort_pairs", "node_time_order", "segment_median", "sort_by_node_time"]


def segment_median(code: np.ndarray, v: np.ndarray, m: int) -> np.ndarray:
    """The median of ``v`` within each group ``0..m-1`` of ``code``; NaN for an empty group.
    Rows grouped already (``code`` non-decreasing, as the fit keeps them) are not moved.

    The value is exactly the former global sort's: ``(lo + hi) / 2`` of the two middle
    elements, NaNs ordered last (so a NaN changes a median only when it reaches the middle).

    >>> segment_median(np.array([0, 0, 2]), np.array([1.0, 4.0, 7.0]), 3)
    array([2.5, nan, 7. ])
    """
    code = np.asarray(code)
    counts = np.bincount(code, None, m).astype(np.int64)
    if code.size > 1 and (np.diff(code) < 0).any():
        # not grouped: bring each group together (stable, so equal values keep their order)
        order = np.argsort(code, kind="stable")
        code, v = code[order], np.asarray(v)[order]
    starts = np.zeros(m, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return _segment_median(np.ascontiguousarray(v, dtype=np.float64), starts, counts)


@jit_cached(nogil=True)
def _segment_median(v, starts, counts):  # pragma: no cover - compiled
    out = np.empty(starts.shape[0])
    for g in range(starts.shape[0]):
        c = counts[g]
        if c == 0:
            out[g] = np.nan
            continue
        s = starts[g]
        lo_k = (c - 1) // 2
        hi_k = c // 2
        # a selection, not a sort: linear in the segment; np.partition orders NaNs last as
        # the former np.lexsort did, and returns the order statistics exactly
        part = np.partition(v[s : s + c], hi_k)
        hi = part[hi_k]
        if lo_k == hi_k:
            lo = hi
        else:
            # the largest element left of hi_k (every one of them is <= hi; NaNs sit right)
            lo = part[0]
            for j in range(1, hi_k):
                if part[j] > lo:
                    lo = part[j]
        out[g] = (lo + hi) / 2
    return out


def argsort_pairs(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """The row order that sorts rows by (``major``, ``minor``): integers, ``major``
    non-negative.

    A major below 2**16 (a node's position): a counting sort by ``major`` (stable), then each
    major's rows stably sorted by ``minor`` where they are not in order already (a history in
    run order has each node's runs in time order: no sort at all); one index array, not three
    (tens of millions of rows, 8 bytes a row each). Else one int64 key (``major`` in the high
    digits) and numpy's stable sort. Both are several times faster than polars' sort on two
    columns (and no string column rides along). Rows that share a pair are ordered by polars'
    two-column sort, as before this function: which of two equal rows comes first is then
    polars' choice.

    >>> argsort_pairs(np.array([1, 0, 0]), np.array([5, 9, 2])).tolist()
    [2, 1, 0]
    """
    major = np.asarray(major, dtype=np.int64)
    minor = np.asarray(minor, dtype=np.int64)
    if major.size == 0:
        return np.zeros(0, dtype=np.int64)
    if major.min() < 0:
        return _polars_argsort(major, minor)
    lowest = int(minor.min())
    span = int(minor.max()) - lowest + 1
    if major.max() < 2**16:
        order = _by_major_then_minor(major, minor, int(major.max()) + 1)
        tied = _any_tie(major, minor, order)
    elif (int(major.max()) + 1) * span < 2**63:
        key = major * span + (minor - lowest)
        order = np.argsort(key, kind="stable")
        tied = _any_tie(key, key, order)
        del key
    else:
        return _polars_argsort(major, minor)
    if tied:
        return _polars_argsort(major, minor)
    return order


@jit_cached(nogil=True)
def _by_major_then_minor(major, minor, n_major):  # pragma: no cover - compiled
    """Rows by ``major`` (small non-negative ints; a counting sort, stable), each major's
    rows then stably by ``minor`` — sorted only where they are out of order."""
    start = np.zeros(n_major + 1, dtype=np.int64)
    for i in range(len(major)):
        start[major[i] + 1] += 1
    for m in range(n_major):
        start[m + 1] += start[m]
    out = np.empty(len(major), dtype=np.int64)
    fill = start[:-1].copy()
    for i in range(len(major)):
        out[fill[major[i]]] = i
        fill[major[i]] += 1
    for m in range(n_major):
        lo, hi = start[m], start[m + 1]
        for k in range(lo + 1, hi):
            if minor[out[k]] < minor[out[k - 1]]:
                rows = out[lo:hi].copy()
                out[lo:hi] = rows[np.argsort(minor[rows], kind="mergesort")]
                break
    return out


@jit_cached(nogil=True)
def _any_tie(major, minor, order):  # pragma: no cover - compiled
    """Whether two consecutive rows of ``order`` share (``major``, ``minor``)."""
    for k in range(1, len(order)):
        i, j = order[k - 1], order[k]
        if major[i] == major[j] and minor[i] == minor[j]:
            return True
    return False


def _polars_argsort(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    pairs = pl.DataFrame({"major": major, "minor": minor})
    return pairs.select(pl.arg_sort_by("major", "minor")).to_series().to_numpy().astype(np.int64)


def sort_by_node_time(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (int ``node``, datetime ``t`` and any other columns) sorted by node then time,
    nulls of ``t`` last (the order of :func:`node_time_order`).

    >>> from datetime import datetime
    >>> f = pl.DataFrame({"node": [1, 0, 0], "t": [datetime(2025, 1, 1), datetime(2025, 1, 3),
    ...                   datetime(2025, 1, 2)], "y": [1.0, 2.0, 3.0]})
    >>> sort_by_node_time(f)["y"].to_list()
    [3.0, 2.0, 1.0]
    """
    return frame.select(pl.all().gather(node_time_order(frame)))


def node_time_order(frame: pl.DataFrame) -> pl.Series:
    """The rows of ``frame`` (int ``node``, datetime ``t``) in node then time order, nulls of
    ``t`` last: :func:`argsort_pairs` of node and the times' microseconds (a
    frame with null times takes polars' own stable sort)."""
    t = frame.get_column("t")
    if frame.height < 2 or t.null_count():
        order = frame.select(pl.arg_sort_by("node", "t", nulls_last=True, maintain_order=True))
        return order.to_series()
    return pl.Series(argsort_pairs(frame.get_column("node").to_numpy(), t.to_physical().to_numpy()))
