"""Warehouse uptime from query intervals: the union of the queries on each warehouse, split into
sessions where the warehouse suspended, each billed from resume to suspend.

A warehouse resumes at a query's start and stays up while queries run (concurrent queries share
the running time) and for ``auto_suspend_s`` after the last one ends; a query arriving inside
that idle tail keeps it running (any job on the same warehouse), one arriving later resumes it
again. A session is billed ``max(last end − first start + auto_suspend_s, min_resume_s)``
(Snowflake bills at least 60 s per resume). Everything is int64 microseconds: overlapping
neighbours in a run are first merged (:func:`run_blocks`, one compiled linear pass), then
one numpy pass over what remains finds every warehouse's sessions.

>>> import numpy as np
>>> s = sessions(np.array([0, 0]), np.array([0, 100_000_000]), np.array([30_000_000, 110_000_000]),
...              auto_suspend_s=60, min_resume_s=60)
>>> s.billed_s.tolist(), s.busy_s.tolist()   # the second query arrives after the tail: 2 resumes
([90.0, 70.0], [30.0, 10.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["BlockMerger", "Sessions", "run_blocks", "sessions", "split_by_day"]

_US = 1_000_000
DAY_US = 86_400 * _US


@dataclass(frozen=True, eq=False)
class Sessions:
    """One entry per session (resume → suspend), ordered by group then time.

    ``group``: the caller's warehouse code; ``start_us``: the resume; ``busy_end_us``: the last
    query's end; ``busy_s``: seconds with at least one query running; ``billed_s``: seconds
    billed (span + idle tail, at least the per-resume minimum); ``queries``: queries served.
    """

    group: np.ndarray
    start_us: np.ndarray
    busy_end_us: np.ndarray
    busy_s: np.ndarray
    billed_s: np.ndarray
    queries: np.ndarray


def sessions(
    group: np.ndarray,
    start_us: np.ndarray,
    end_us: np.ndarray,
    *,
    auto_suspend_s: float,
    min_resume_s: float,
    count: np.ndarray | None = None,
) -> Sessions:
    """Sessions of every warehouse from its query intervals (any order).

    Args:
        group: int code of the warehouse (and scenario) of each query.
        start_us, end_us: each query's start and end in integer microseconds (end ≥ start).
        auto_suspend_s: idle seconds billed after the last query before the warehouse suspends.
        min_resume_s: minimum seconds billed per resume.
        count: queries each interval stands for (:func:`run_blocks`; default one each).

    >>> s = sessions(np.array([0, 0, 1]), np.array([0, 50, 0]) * 1_000_000,
    ...              np.array([40, 55, 10]) * 1_000_000, auto_suspend_s=600, min_resume_s=60)
    >>> s.group.tolist(), s.billed_s.tolist()   # warehouse 0: 0–55 s + 600 s tail; warehouse 1
    ([0, 1], [655.0, 610.0])
    """
    group = np.asarray(group, dtype=np.int64)
    start = np.asarray(start_us, dtype=np.int64)
    end = np.maximum(np.asarray(end_us, dtype=np.int64), start)
    weights = None if count is None else np.asarray(count, dtype=np.int64)
    if start.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Sessions(empty, empty, empty, np.zeros(0), np.zeros(0), empty)
    gap_us = round(auto_suspend_s * _US)
    t0 = int(start.min())
    # each group lives in its own stretch of the axis, far enough apart that a group's last
    # query can never reach into the next group's first
    stretch = int(end.max()) - t0 + gap_us + 1
    offset = group * stretch - t0
    # Starts and ends sorted independently (two value sorts, no argsort): as every end is at
    # or after its start, the k queries that start first have all ended before the next start
    # exactly when the k-th smallest end is before it — so gaps are found without pairing
    # each end with its start, and a session's last end is the largest end at its position.
    ks = start + offset
    ks.sort()
    ke = end + offset
    ke.sort()
    head = np.empty(ks.size, dtype=bool)
    head[0] = True
    head[1:] = ks[1:] > ke[:-1] + gap_us
    heads = np.flatnonzero(head)
    lasts = np.append(heads[1:], ks.size) - 1
    block = np.empty(ks.size, dtype=bool)  # stretches of the union with no idle second
    block[0] = True
    block[1:] = ks[1:] > ke[:-1]
    blocks = np.flatnonzero(block)
    block_len = ke[np.append(blocks[1:], ks.size) - 1] - ks[blocks]
    block_session = np.searchsorted(heads, blocks, side="right") - 1
    busy_us = np.bincount(block_session, weights=block_len, minlength=heads.size)
    g = ks[heads] // stretch
    span_s = (ke[lasts] - ks[heads]) / _US
    billed = np.maximum(span_s + auto_suspend_s, min_resume_s)
    return Sessions(
        group=g,
        start_us=ks[heads] - g * stretch + t0,
        busy_end_us=ke[lasts] - g * stretch + t0,
        busy_s=busy_us / _US,
        billed_s=billed,
        queries=lasts - heads + 1
        if weights is None
        else _session_counts(group * stretch + start - t0, weights, ks[heads], ks.size),
    )


def _session_counts(key: np.ndarray, weights: np.ndarray, heads: np.ndarray, n: int) -> np.ndarray:
    """Sum of ``weights`` per session: an interval belongs to the session whose resume is the
    last at or before its start."""
    at = np.searchsorted(heads, key, side="right") - 1
    return np.bincount(at, weights=weights, minlength=heads.size).astype(np.int64)


def run_blocks(
    segment: np.ndarray, start_us: np.ndarray, end_us: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping neighbours, in the given order, within each segment: fewer intervals,
    the same union (and so the same bill).

    One linear pass, no sort: a query that overlaps (or touches) the stretch built so far from
    its segment's previous rows joins it; any other starts a new stretch. A run's log rows
    come parents first, and a run's queries mostly overlap their neighbours, so a year of
    millions of queries reaches :func:`sessions` as a small fraction of that.

    Args:
        segment: an id per row, equal for consecutive rows that may merge (one run: a run is
            on one warehouse).
        start_us, end_us: each query's interval.

    Returns ``(row, start_us, end_us, count)``: the first row of each stretch (for its
    warehouse), the stretch, and how many queries it holds.

    >>> row, s, e, n = run_blocks(np.array([0, 0, 0, 1]), np.array([0, 5, 20, 0]),
    ...                           np.array([10, 8, 30, 4]))
    >>> row.tolist(), s.tolist(), e.tolist(), n.tolist()
    ([0, 2, 3], [0, 20, 0], [10, 30, 4], [2, 1, 1])
    """
    seg = np.asarray(segment, dtype=np.int64)
    start = np.asarray(start_us, dtype=np.int64)
    end = np.maximum(np.asarray(end_us, dtype=np.int64), start)
    row, _, b_start, b_end, count = _merge_neighbours(seg, start, end, _NO_BLOCK)
    return row, b_start, b_end, count


class BlockMerger:
    """:func:`run_blocks` fed batch by batch, for a log read in pieces: the same stretches as
    one call over all the rows in order (the stretch open at a batch's end goes on into the
    next), each with its segment instead of its first row.

    >>> m = BlockMerger()
    >>> m.add(np.array([0, 0]), np.array([0, 5]), np.array([10, 8]))
    >>> m.add(np.array([0, 1]), np.array([20, 0]), np.array([30, 4]))
    >>> [a.tolist() for a in m.blocks()]
    [[0, 0, 1], [0, 20, 0], [10, 30, 4], [2, 1, 1]]
    """

    def __init__(self) -> None:
        self._closed: list[tuple[np.ndarray, ...]] = []
        self._open = _NO_BLOCK

    def add(self, segment: np.ndarray, start_us: np.ndarray, end_us: np.ndarray) -> None:
        """Merge the next rows (in order) into the stretches so far."""
        start = np.asarray(start_us, dtype=np.int64)
        if not start.size:
            return
        end = np.maximum(np.asarray(end_us, dtype=np.int64), start)
        _, seg, b_start, b_end, count = _merge_neighbours(
            np.asarray(segment, dtype=np.int64), start, end, self._open
        )
        # copies: the slices would keep a batch-sized buffer alive each
        self._closed.append(tuple(a[:-1].copy() for a in (seg, b_start, b_end, count)))
        self._open = np.array([seg[-1], b_start[-1], b_end[-1], count[-1]], dtype=np.int64)

    def blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(segment, start_us, end_us, count)`` of every stretch, in order."""
        parts = [*self._closed]
        if self._open[3] > 0:
            parts.append(tuple(self._open[i : i + 1] for i in range(4)))
        if not parts:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(4))  # type: ignore[return-value]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]


#: no stretch open yet: (segment, start, end, count)
_NO_BLOCK = np.zeros(4, dtype=np.int64)


@numba.njit(cache=True)
def _merge_neighbours(seg, start, end, carry):  # pragma: no cover - compiled
    """The stretches of rows in order, the first continuing ``carry`` (segment, start, end,
    count; count 0: none) when it has queries. Returns (first row, -1 for the carried one;
    segment, start, end, count)."""
    n = start.shape[0]
    out_row = np.empty(n + 1, np.int64)
    out_seg = np.empty(n + 1, np.int64)
    out_s = np.empty(n + 1, np.int64)
    out_e = np.empty(n + 1, np.int64)
    out_n = np.empty(n + 1, np.int64)
    k = -1
    if carry[3] > 0:
        k = 0
        out_row[0], out_seg[0], out_s[0], out_e[0], out_n[0] = (
            -1,
            carry[0],
            carry[1],
            carry[2],
            carry[3],
        )
    for i in range(n):
        s, e = start[i], end[i]
        if k >= 0 and seg[i] == out_seg[k] and s <= out_e[k] and e >= out_s[k]:
            if s < out_s[k]:
                out_s[k] = s
            if e > out_e[k]:
                out_e[k] = e
            out_n[k] += 1
        else:
            k += 1
            out_row[k] = i
            out_seg[k] = seg[i]
            out_s[k] = s
            out_e[k] = e
            out_n[k] = 1
    return out_row[: k + 1], out_seg[: k + 1], out_s[: k + 1], out_e[: k + 1], out_n[: k + 1]


def split_by_day(
    start_us: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split intervals ``[start, start + seconds)`` at UTC midnights.

    Returns ``(row, day, seconds)``: the interval each piece comes from, its UTC day (days since
    1970-01-01) and its length.

    >>> row, day, sec = split_by_day(np.array([86_300 * 1_000_000]), np.array([200.0]))
    >>> row.tolist(), day.tolist(), sec.tolist()
    ([0, 0], [0, 1], [100.0, 100.0])
    """
    start = np.asarray(start_us, dtype=np.int64)
    length_us = np.round(np.asarray(seconds, dtype=float) * _US).astype(np.int64)
    end = start + length_us
    first = np.floor_divide(start, DAY_US)
    last = np.floor_divide(np.maximum(end - 1, start), DAY_US)
    pieces = (last - first + 1).astype(np.int64)
    row = np.repeat(np.arange(start.size), pieces)
    offset = np.arange(row.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    day = first[row] + offset
    lo = np.maximum(start[row], day * DAY_US)
    hi = np.minimum(end[row], (day + 1) * DAY_US)
    return row, day, (hi - lo) / _US
