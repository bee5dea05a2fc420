"""The node runs of an estate's history as numbers, computed once per estate.

A year of a 10,000-model project is 25 M node runs whose ids repeat; the cost fit and the
compiled replay both start from the same three numbers per node run — which node (its position
in ``project.order``), which run (its row in ``runs``) and when it started — and sorting or
joining on the string ids would dominate both. :func:`history_rows` makes them once and keeps
them with the estate while its tables are the same objects (:attr:`Estate.history_identity`).

>>> from saosim.synth.estate import synthetic_estate
>>> estate = synthetic_estate(n_models=20, days=1, seed=1)
>>> rows = history_rows(estate)
>>> rows.node.dtype, rows.run_row.dtype, rows.start_us.dtype, history_rows(estate) is rows
(dtype('int32'), dtype('int32'), dtype('int64'), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from saosim.core.codes import NONE
from saosim.inputs.estate import Estate

__all__ = ["HistoryRows", "history_rows"]


@dataclass(frozen=True, eq=False)
class HistoryRows:
    """Per node run, in the ``node_runs`` table's row order (read-only arrays)."""

    node: np.ndarray  # int32: the node's position in project.order
    run_row: np.ndarray  # int32: the run's row in estate.runs
    start_us: np.ndarray  # int64: its own start, else its run's, in µs (NONE: neither known)


def history_rows(estate: Estate) -> HistoryRows:
    """The node runs of ``estate`` as numbers (see the module docstring), made on first use."""
    identity = estate.history_identity
    kept = estate._memo.get("history_rows")
    if kept is not None and all(a is b for a, b in zip(kept[0], identity, strict=True)):
        return kept[1]
    runs = estate.runs
    # the estate has checked that every id is a project node and every run id a run
    run_enum = pl.Enum(runs["run_id"].cast(pl.String))
    run_row = estate.node_runs_column("run_id").cast(run_enum).to_physical().to_numpy()
    run_row = run_row.astype(np.int32, copy=False)
    ids = estate.node_runs_column("unique_id").cast(pl.Categorical)
    codes = ids.to_physical().to_numpy()
    # the global string cache gives a string one code per process while any categorical
    # column lives (polars numbers them afresh once none does): code -> position, with the
    # ids' own column kept alive until the project's ids are coded beside them
    order_codes = pl.Series(estate.project.order).cast(pl.Categorical).to_physical().to_numpy()
    del ids
    to_position = np.zeros(max(int(order_codes.max(initial=0)), int(codes.max(initial=0))) + 1,
                           dtype=np.int32)  # fmt: skip
    to_position[order_codes] = np.arange(len(order_codes), dtype=np.int32)
    node = to_position[codes]
    del codes
    rows = HistoryRows(node, run_row, _starts(estate, run_row))
    for array in (rows.node, rows.run_row, rows.start_us):
        array.setflags(write=False)
    estate._memo["history_rows"] = (identity, rows)
    return rows


def _starts(estate: Estate, run_row: np.ndarray) -> np.ndarray:
    # one int64 array; only the missing starts are looked up
    started = _micros(estate.node_runs_column("started_at"))
    if not started.null_count():
        return started.to_numpy()
    missing = np.flatnonzero(started.is_null().to_numpy())
    us = np.array(started.fill_null(NONE).to_numpy())
    run_us = _micros(estate.runs["started_at"]).fill_null(NONE).to_numpy()
    us[missing] = run_us[run_row[missing]]
    return us


def _micros(t: pl.Series) -> pl.Series:
    """A datetime column as µs since the epoch (its physical value once in µs)."""
    if getattr(t.dtype, "time_unit", "us") != "us":
        t = t.dt.cast_time_unit("us")
    return t.to_physical()
