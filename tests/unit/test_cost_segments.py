"""The cost fit's per-node statistics: segment medians and the one-key (node, time) sort."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.cost.segments import argsort_pairs, segment_median, sort_by_node_time


def _lexsort_median(code: np.ndarray, v: np.ndarray, m: int) -> np.ndarray:
    """The fit's former group median: one lexsort of every observation."""
    order = np.lexsort((v, code))
    counts = np.bincount(code, None, m).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sv = v[order]
    last = len(sv) - 1  # an empty group's index is meaningless: keep it in bounds
    lo = sv[np.clip(starts + (counts - 1) // 2, 0, last)]
    return (lo + sv[np.clip(starts + counts // 2, 0, last)]) / 2


_groups = st.lists(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(_groups)
def test_segment_median_is_numpy_median_per_group(groups: list[list[float]]) -> None:
    code = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    v = np.array([x for g in groups for x in g], dtype=np.float64)
    got = segment_median(code, v, len(groups))
    want = np.array([np.median(g) for g in groups])
    assert np.array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.one_of(st.floats(0, 1e4), st.just(np.nan), st.sampled_from([0.0, 1.0, 2.0])),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_segment_median_equals_the_former_lexsort(rows: list[tuple[int, float]]) -> None:
    # NaNs, repeats, empty groups (NaN now), and codes in any order
    code = np.array([c for c, _ in rows], dtype=np.int64)
    v = np.array([x for _, x in rows], dtype=np.float64)
    m = 7
    got = segment_median(code, v, m)
    present = np.bincount(code, None, m) > 0
    assert np.array_equal(got[present], _lexsort_median(code, v, m)[present], equal_nan=True)
    assert np.isnan(got[~present]).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 10**9), st.floats(0, 100)),
        min_size=0,
        max_size=60,
    ),
    st.booleans(),
)
def test_sort_by_node_time_is_the_two_column_sort(
    rows: list[tuple[int, int, float]], with_null: bool
) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    times = [t0 + timedelta(microseconds=us) for _, us, _ in rows]
    if with_null and rows:
        times[0] = None  # type: ignore[call-overload]
    frame = pl.DataFrame(
        {
            "node": pl.Series([n for n, _, _ in rows], dtype=pl.Int64),
            "t": pl.Series(times, dtype=pl.Datetime("us", "UTC")),
            "y": pl.Series([y for _, _, y in rows], dtype=pl.Float64),
        }
    )
    got = sort_by_node_time(frame)
    want = frame.sort("node", "t", nulls_last=True)
    assert got.schema == frame.schema
    # ties in (node, t) may come in any order; the keys must not
    assert got.select("node", "t").equals(want.select("node", "t"))
    assert sorted(got["y"].to_list()) == sorted(frame["y"].to_list())
    if not frame.select("node", "t").is_duplicated().any():
        assert got.equals(want)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 40), st.integers(-(10**6), 10**16)), max_size=80),
    wide=st.booleans(),
)
def test_argsort_pairs_is_lexsorts_order(rows: list[tuple[int, int]], wide: bool) -> None:
    """Both paths (16-bit majors: a stable sort then a counting sort; wider: one combined key)
    sort by (major, minor) exactly, minors of any sign and up to µs since the epoch; with a
    tie, polars' two-column sort decides (checked on distinct pairs)."""
    rows = list(dict.fromkeys(rows))  # distinct pairs: the order is then unique
    major = np.array([r[0] for r in rows], dtype=np.int64) + (70_000 if wide else 0)
    minor = np.array([r[1] for r in rows], dtype=np.int64)
    assert np.array_equal(argsort_pairs(major, minor), np.lexsort((minor, major)))
