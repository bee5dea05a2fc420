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
    runs = pl.Series(run_idx)
    return {
        "scenario": lambda: (
            pl.Series([scenario], dtype=pl.Categorical).new_from_index(0, n)
            if n
            else pl.Series([], dtype=pl.Categorical)
        ),
        "run_id": lambda: _categorical(k.run_ids, runs),
        "job_id": lambda: _categorical(k.job_ids, runs),
        "run_at": lambda: _times(k.run_at).gather(runs),
        "unique_id": lambda: _categorical(k.node_ids, node_idx),
        "action": lambda: _enum_codes(act, ACTIONS, nullable=False),
        "reason": lambda: _enum_codes(rsn, REASONS, nullable=False),
        "status": lambda: _enum_codes(st, STATUSES, nullable=True),
    }


def row_columns(
    k: KernelInputs, scenario: str, codes: tuple[np.ndarray, ...], *, threads: bool = False
) -> dict[str, pl.Series]:
    """The columns gathered per row (identifiers and codes) of some rows of the loop's
    arrays, in this thread or (``threads``) a small pool:
    :func:`saosim.replay.kernel.fast.replay_fast`
    builds them chunk by chunk while the loop still runs."""
    makers = _makers(k, scenario, *codes[:3], codes[7], codes[8])
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
