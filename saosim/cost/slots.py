"""BigQuery editions: autoscaled slot demand per second and its billed episodes.

Autoscaled slots are billed per second above the committed baseline, in 50-slot steps, each
episode at least a minute at its peak (cloud.google.com/bigquery/docs/slots-autoscaling-intro).
:func:`second_counts` turns query intervals into per-second demand changes;
:func:`autoscaled_slot_seconds` bills them.

>>> autoscaled_slot_seconds(*second_counts(np.array([0]), np.array([90_000_000])), 120, 0)[0]
13500.0
"""

from __future__ import annotations

import numpy as np
import polars as pl

from saosim._jit import jit_cached
from saosim.errors import ConfigError

__all__ = ["autoscaled_slot_seconds", "query_columns", "raw_second_counts", "second_counts"]

_US = 1_000_000
_AUTOSCALE_STEP = 50
_MIN_AUTOSCALE_S = 60.0


def second_counts(start_us: np.ndarray, end_us: np.ndarray) -> tuple[int, np.ndarray]:
    """Queries starting minus queries ending, per second from the first start.

    Autoscaled slots are billed per second, so demand is counted per second: a query holds its
    slots from the second nearest its start to the second nearest its end (rounding to the
    nearest second, so that short queries are neither lost nor inflated on average).

    >>> first, count = second_counts(np.array([0, 10_000_000]), np.array([30_000_000] * 2))
    >>> first, count[[0, 10, 30]].tolist()
    (0, [1, 1, -2])
    """
    if start_us.size == 0:
        return 0, np.zeros(1, dtype=np.int64)
    first = (int(start_us.min()) + _US // 2) // _US
    begin = (start_us + _US // 2) // _US - first
    stop = np.maximum((end_us + _US // 2) // _US - first, begin)
    seconds = _check_seconds(int(stop.max()) + 1)
    return first, np.bincount(begin, minlength=seconds) - np.bincount(stop, minlength=seconds)


def _check_seconds(seconds: int) -> int:
    if seconds > 500_000_000:  # over ~15 years of seconds: too many to count one by one
        raise ConfigError(
            f"the replay spans {seconds / 3.15e7:.0f} years; bigquery_editions prices at most 15",
            field="rates.billing",
        )
    return seconds


def query_columns(
    raw: pl.DataFrame, extra: tuple[str, ...] = ()
) -> tuple[pl.Series, pl.Series, pl.Series, np.ndarray] | None:
    """A decision log's ``action``, ``started_at``, ``finished_at`` and which action codes are
    queries (``build``, ``run``), read from its own arrays; None when the log lacks a column
    (``runtime_s``, ``extra``) or its types do not allow it (the caller then filters).
    """
    need = ("action", "runtime_s", "started_at", "finished_at", *extra)
    if raw.height == 0 or any(c not in raw.columns for c in need):
        return None
    action, start, end = raw.get_column("action"), raw["started_at"], raw["finished_at"]
    if not isinstance(action.dtype, pl.Enum) or action.null_count():
        return None
    if any(c.dtype != pl.Datetime("us", "UTC") or c.null_count() for c in (start, end)):
        return None
    cats = action.dtype.categories.to_list()
    wanted = np.array([c in ("build", "run") for c in cats], dtype=np.bool_)
    return action, start, end, wanted


def raw_second_counts(raw: pl.DataFrame) -> tuple[int, np.ndarray, float] | None:
    """:func:`second_counts` straight from a decision log's columns (None if it lacks them)."""
    columns = query_columns(raw)
    if columns is None:
        return None
    action, start, end, wanted = columns
    first = (int(start.to_physical().min()) + _US // 2) // _US
    last = (int(end.to_physical().max()) + _US // 2) // _US
    count = np.zeros(_check_seconds(last - first + 2), dtype=np.int64)
    busy = _count_raw(
        action.to_physical().to_numpy(),
        wanted,
        raw.get_column("runtime_s").fill_null(0.0).to_numpy(),
        start.to_physical().to_numpy(),
        end.to_physical().to_numpy(),
        first,
        count,
    )
    return first, count, busy


@jit_cached()
def _count_raw(action, wanted, runtime, start, end, first, count):  # pragma: no cover
    busy = 0.0
    for i in range(start.shape[0]):
        if not wanted[action[i]] or not runtime[i] > 0:
            continue
        b = (start[i] + 500_000) // 1_000_000 - first
        e = (end[i] + 500_000) // 1_000_000 - first
        if e < b:
            e = b
        count[b] += 1
        count[e] -= 1
        busy += runtime[i]
    return busy


def autoscaled_slot_seconds(
    first: int, count: np.ndarray, slots: float, baseline: float
) -> tuple[float, dict[int, float]]:
    """Autoscaled slot-seconds above ``baseline`` (50-slot steps, 60 s minimum per episode),
    in total and per UTC day of each episode's start, from :func:`second_counts`.

    >>> autoscaled_slot_seconds(*second_counts(np.array([0]), np.array([30_000_000])),
    ...                          100, 0)[0]   # 30 s at 100 slots, billed as one minute
    6000.0
    """
    if count.size == 0:
        return 0.0, {}
    demand = np.cumsum(count) * float(slots)
    begin_s, billed = _episodes_per_second(demand, float(baseline))
    if begin_s.size == 0:
        return 0.0, {}
    days = np.floor_divide(begin_s + first, 86_400)
    per_day: dict[int, float] = {}
    for d, v in zip(days.tolist(), billed.tolist(), strict=True):
        per_day[d] = per_day.get(d, 0.0) + v
    return float(billed.sum()), per_day


@jit_cached()
def _episodes_per_second(demand, baseline):  # pragma: no cover - compiled
    """One pass over per-second demand: each autoscaled episode's first second and billed
    slot-seconds (at least 60 s at its peak)."""
    begin = np.empty(demand.shape[0], np.int64)
    billed = np.empty(demand.shape[0], np.float64)
    n = 0
    area = length = peak = 0.0
    for i in range(demand.shape[0]):
        above = demand[i] - baseline
        excess = np.ceil(above / _AUTOSCALE_STEP - 1e-9) * _AUTOSCALE_STEP if above > 0 else 0.0
        if excess > 0:
            if length == 0.0:
                begin[n] = i
            area += excess
            length += 1.0
            peak = max(peak, excess)
        elif length > 0.0:
            billed[n] = area + max(_MIN_AUTOSCALE_S - length, 0.0) * peak
            n += 1
            area = length = peak = 0.0
    if length > 0.0:
        billed[n] = area + max(_MIN_AUTOSCALE_S - length, 0.0) * peak
        n += 1
    return begin[:n], billed[:n]
