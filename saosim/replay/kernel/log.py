"""Decision-log assembly of the fast replay: code arrays in, a polars frame out, column-wise.

The loop writes each row's run and node number; every column is then one gather from a small
lookup Series (run ids, node ids, the vocabularies) or a zero-copy view of the loop's arrays,
never one Python object per decision (PERF-NOTES: strings per row would cost ~6× the memory).
Identifiers (scenario, run_id, job_id, unique_id) are ``Categorical`` and action/reason/status
are ``Enum`` with every value of the vocabulary, so logs of several scenarios concatenate.

>>> import numpy as np
>>> s = _enum_codes(np.array([0, 2], dtype=np.uint8), ("", "a", "b"), nullable=True)
>>> s.to_list()
[None, 'b']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from saosim.core.codes import ACTIONS, REASONS, STATUSES
from saosim.replay.kernel.compile import KernelInputs

__all__ = [
    "ACTION_ENUM",
    "COLUMNS",
    "REASON_ENUM",
    "STATUS_ENUM",
    "assemble_log",
    "frame",
    "full_log_ids",
    "row_columns",
]

ACTION_ENUM = pl.Enum(list(ACTIONS))
REASON_ENUM = pl.Enum(list(REASONS))
STATUS_ENUM = pl.Enum(list(STATUSES[1:]))
_UTC = pl.Datetime("us", "UTC")


def _enum_codes(codes: np.ndarray, values: tuple[str, ...], *, nullable: bool) -> pl.Series:
    """A Series of ``values[code]`` (code 0 → null when ``nullable``) as an Enum."""
    kept = list(values[1:]) if nullable else list(values)
    lookup = [None, *kept] if nullable else kept
    return pl.Series(lookup, dtype=pl.Enum(kept)).gather(pl.Series(codes))


def _categorical(values: tuple[str, ...] | list[str], idx: np.ndarray | pl.Series) -> pl.Series:
    return pl.Series(list(values), dtype=pl.Categorical).gather(pl.Series(idx))


def _constant(value: str, n: int) -> pl.Series:
    if not n:
        return pl.Series([], dtype=pl.Categorical)
    return pl.Series([value], dtype=pl.Categorical).new_from_index(0, n)


def _times(us: np.ndarray) -> pl.Series:
    # int64 microseconds → a zero-copy Datetime view
    return pl.Series(us).cast(_UTC)


def _makers(
    k: KernelInputs,
    scenario: str,
    act: np.ndarray,
    rsn: np.ndarray,
    st: np.ndarray,
    run_idx: np.ndarray,
    node_idx: np.ndarray,
) -> dict[str, Callable[[], pl.Series]]:
    n = len(act)
    # unsigned 32-bit row numbers: polars gathers by them without a cast
    runs = pl.Series(run_idx.astype(np.uint32, copy=False))
    nodes = pl.Series(node_idx.astype(np.uint32, copy=False))
    jobs = set(k.job_ids)
    return {
        "scenario": lambda: _constant(scenario, n),
        "run_id": lambda: _categorical(k.run_ids, runs),
        # (one job, as in most replays: the same id on every row, no gather)
        "job_id": lambda: (
            _constant(next(iter(jobs)), n) if len(jobs) == 1 else _categorical(k.job_ids, runs)
        ),
        "run_at": lambda: _times(k.run_at).gather(runs),
        "unique_id": lambda: _categorical(k.node_ids, nodes),
        "action": lambda: _enum_codes(act, ACTIONS, nullable=False),
        "reason": lambda: _enum_codes(rsn, REASONS, nullable=False),
        "status": lambda: _enum_codes(st, STATUSES, nullable=True),
    }


def full_log_ids(k: KernelInputs, first_row: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The run and node numbers of rows ``first_row:first_row + n`` of a full log, which the
    loop does not store: run r's rows start at ``k.run_out_start[r]`` and are its selection,
    ``k.sel_node[k.run_sel_start[r]:k.run_sel_end[r]]``, in order.

    >>> from types import SimpleNamespace
    >>> k = SimpleNamespace(run_out_start=np.array([0, 2, 2, 5]), sel_node=np.arange(3) + 10,
    ...                     run_sel_start=np.array([1, 0, 0]), run_sel_end=np.array([3, 0, 3]))
    >>> [a.tolist() for a in full_log_ids(k, 1, 3)]
    [[0, 2, 2], [12, 10, 11]]
    """
    last = first_row + n
    starts = k.run_out_start
    # the run holding first_row (the last of equal starts: runs before it selected nothing)
    r0 = int(np.searchsorted(starts, first_row, side="right")) - 1
    r1 = int(np.searchsorted(starts, last, side="left"))  # runs that start before the end
    if n == 0:
        return np.zeros(0, dtype=np.int32), k.sel_node[:0]
    counts = np.diff(np.concatenate(([first_row], starts[r0 + 1 : r1], [last])))
    runs = np.repeat(np.arange(r0, r1, dtype=np.int32), counts)
    # row i of run r is selection run_sel_start[r] + (i - run_out_start[r])
    shift = (k.run_sel_start[r0:r1] - starts[r0:r1]).astype(np.int64)
    selection = np.arange(first_row, last, dtype=np.int64) + np.repeat(shift, counts)
    return runs, k.sel_node[selection]


def row_columns(
    k: KernelInputs,
    scenario: str,
    codes: tuple[np.ndarray, ...],
    *,
    first_row: int = 0,
    threads: bool = False,
) -> dict[str, pl.Series]:
    """The columns gathered per row (identifiers and codes) of some rows of the loop's
    arrays (from log row ``first_row`` on), in this thread or (``threads``) a small pool:
    :func:`saosim.replay.kernel.fast.replay_fast`
    builds them chunk by chunk while the loop still runs."""
    run_idx, node_idx = codes[7], codes[8]
    if len(run_idx) != len(codes[0]):
        # a full log: the loop leaves the run and node numbers out (two of its ten stores)
        run_idx, node_idx = full_log_ids(k, first_row, len(codes[0]))
    makers = _makers(k, scenario, *codes[:3], run_idx, node_idx)
    if not threads:
        return {name: make() for name, make in makers.items()}
    # each gather is one pass over the rows; polars runs them without the GIL, so a small
    # pool builds the columns side by side
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(make) for name, make in makers.items()}
        return {name: f.result() for name, f in futures.items()}


def frame(gathered: dict[str, pl.Series], codes: tuple[np.ndarray, ...]) -> pl.DataFrame:
    """The decision log from the gathered columns and zero-copy views of the time and money
    arrays, in the ``decisions`` column order."""
    _, _, _, start, end, runtime, cost, _, _, reach = codes
    cols = {
        **gathered,
        "reached_at": _times(reach),
        "started_at": _times(start),
        "finished_at": _times(end),
        "runtime_s": pl.Series(runtime, dtype=pl.Float64),
        "cost_usd": pl.Series(cost, dtype=pl.Float64),
    }
    return pl.DataFrame([cols[name].alias(name) for name in COLUMNS])


#: Column order of the decision log.
COLUMNS = (
    "scenario",
    "run_id",
    "job_id",
    "run_at",
    "unique_id",
    "action",
    "reason",
    "reached_at",
    "started_at",
    "finished_at",
    "runtime_s",
    "cost_usd",
    "status",
)


def assemble_log(
    k: KernelInputs,
    scenario: str,
    codes: tuple[np.ndarray, ...],
) -> pl.DataFrame:
    """The decision log (``decisions`` table columns + ``status``) from the loop's arrays."""
    return frame(row_columns(k, scenario, codes, threads=True), codes)
