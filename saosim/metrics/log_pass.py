"""One pass over a decision log's columns, batch by batch, into dense per-key accumulators.

:func:`saosim.metrics.log.prepare` reduces a log of tens of millions of rows to a few small
aggregates. Group-bys in polars hash every row once per aggregate (four scans of a 50 M-row
log took 12 s); here each batch's identifiers become small integers (their dictionary codes,
interned to dense indices the first time each is seen) and one compiled loop adds every row
into arrays indexed by (scenario, node, action), (scenario, run) and (scenario, day, node).

A batch costs two compiled passes: :func:`_intern` finds codes not seen before (their strings
are then read from the batch, a few thousand in a whole log), :func:`_accumulate` adds the
rows. Nothing here reads files: :class:`LogPass` is fed frames by the caller.

>>> import polars as pl
>>> ids = IdColumn()
>>> ids.intern(pl.Series(["b", "a", "b"], dtype=pl.Categorical))
(['b', 'a'], array([0, 1, 0], dtype=int32))
>>> ids.values
['b', 'a']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

__all__ = ["IdColumn", "LogPass", "Rates", "day_span"]

_US_PER_DAY = 86_400_000_000


def day_span(lo_us: int | None, hi_us: int | None) -> tuple[int, int]:
    """(first UTC day since the epoch, number of days) that µs times ``lo_us``..``hi_us``
    span; (0, 0) for an empty log.

    >>> day_span(0, 86_400_000_000)
    (0, 2)
    """
    if lo_us is None or hi_us is None:
        return 0, 0
    return lo_us // _US_PER_DAY, hi_us // _US_PER_DAY - lo_us // _US_PER_DAY + 1


@numba.njit(cache=True)
def _intern(codes, lookup, next_id, new_rows):
    """Give each code not in ``lookup`` (−1) the next dense index; write the rows where one
    was first seen into ``new_rows``; returns how many were new."""
    n_new = 0
    for i in range(codes.shape[0]):
        c = codes[i]
        if lookup[c] < 0:
            lookup[c] = next_id + n_new
            new_rows[n_new] = i
            n_new += 1
    return n_new


@numba.njit(cache=True)
def _gather(lookup, codes, out):
    for i in range(codes.shape[0]):
        out[i] = lookup[codes[i]]


@dataclass(eq=False)
class IdColumn:
    """A column of identifiers (Categorical, Enum or String) made dense indices in order of
    first appearance, across batches; ``values`` holds each index's string (None for null)."""

    values: list[str | None] = field(default_factory=list)
    _lookup: np.ndarray = field(default_factory=lambda: np.full(1, -1, dtype=np.int32))
    _anchor: pl.Series | None = None

    def intern(self, column: pl.Series) -> tuple[list[str | None], np.ndarray]:
        """(the strings first seen in this batch, the batch's dense indices)."""
        if column.dtype == pl.String or column.dtype == pl.Null:
            column = column.cast(pl.Categorical)
        if self._anchor is None:
            # codes are a dictionary's; polars drops a dictionary no column uses any more, and
            # the next batch's strings would then get other codes: keep an empty column of it
            self._anchor = column.clear()
        codes = column.to_physical()
        # a null is one more code, after every code the dictionary can hold
        null_code = self._null_code(int(codes.max() or 0))
        codes = codes.fill_null(null_code).cast(pl.UInt32).to_numpy()
        new_rows = np.empty(min(len(codes), len(self._lookup)), dtype=np.int64)
        n_new = _intern(codes, self._lookup, len(self.values), new_rows)
        new = column.gather(new_rows[:n_new]).cast(pl.String).to_list()
        self.values += new
        dense = np.empty(len(codes), dtype=np.int32)
        _gather(self._lookup, codes, dense)
        return new, dense

    def _null_code(self, max_code: int) -> int:
        # the lookup keeps its last slot for null; it grows (moving that slot) when a batch
        # brings a larger code
        size = len(self._lookup)
        if max_code + 2 > size:
            grown = np.full(max(max_code + 2, 2 * size), -1, dtype=np.int32)
            grown[: size - 1] = self._lookup[: size - 1]
            grown[-1] = self._lookup[-1]
            self._lookup = grown
        return len(self._lookup) - 1


@dataclass(frozen=True)
class Rates:
    """What the pass needs of the cost model: seconds billed per runtime second
    (1 / concurrency), dollars per billed second, and whether a missing ``cost_usd`` is
    priced from ``runtime_s`` (runtime basis)."""

    per_runtime_s: float
    usd_per_billed_s: float
    price_runtime: bool


@numba.njit(cache=True)
def _accumulate(
    scen, run, node, act, at_us, runtime, cost,
    kinds, billed_action, is_build, is_reuse, is_run, is_selected, unbilled_view,
    per_s, usd_per_s, price_runtime, day0, n_days,
    node_n, node_s, node_usd, node_missing,
    run_n, run_at, run_s, run_usd, run_builds, run_reuses, run_tests, day_flags,
):  # fmt: skip
    for i in range(scen.shape[0]):
        s, r, n, a = scen[i], run[i], node[i], act[i]
        k = kinds[n]
        billed = billed_action[a] and not (k == 2 and unbilled_view[s])
        secs = 0.0
        usd = 0.0
        if billed:
            rt = runtime[i]
            if rt == rt:
                secs = rt * per_s
            usd = cost[i]
            if usd != usd and price_runtime and rt == rt:
                usd = secs * usd_per_s
            if usd != usd:
                node_missing[s, n, a] += 1
                usd = 0.0
        node_n[s, n, a] += 1
        node_s[s, n, a] += secs
        node_usd[s, n, a] += usd
        t = at_us[i]
        if run_n[s, r] == 0 or t < run_at[s, r]:
            run_at[s, r] = t
        run_n[s, r] += 1
        run_s[s, r] += secs
        run_usd[s, r] += usd
        buildable = k == 1 or k == 2
        if buildable and is_build[a]:
            run_builds[s, r] += 1
        if buildable and is_reuse[a]:
            run_reuses[s, r] += 1
        if k == 3 and is_run[a]:
            run_tests[s, r] += 1
        d = t // _US_PER_DAY - day0
        if 0 <= d < n_days:
            if k == 1 and is_reuse[a]:
                day_flags[s, d, n] |= 1
            if buildable and is_selected[a]:
                day_flags[s, d, n] |= 2
                if is_build[a]:
                    day_flags[s, d, n] |= 4


def _grown(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` padded with zeros to at least ``shape`` (doubling, so growth is rare)."""
    if all(have >= want for have, want in zip(array.shape, shape, strict=True)):
        return array
    size = tuple(
        have if have >= want else max(want, 2 * have)
        for have, want in zip(array.shape, shape, strict=True)
    )
    out = np.zeros(size, dtype=array.dtype)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


@dataclass(eq=False)
class LogPass:
    """The accumulators of one pass; feed it batches with :meth:`add`.

    ``kinds``: each project node's kind (1 table, 2 view, 3 test, 0 other), by position.
    ``position``: node id → position. ``unbilled_view(scenario)``: true when the scenario's
    views are not billed. ``day0``/``n_days``: the UTC days the log's ``run_at`` spans.
    """

    kinds: np.ndarray
    position: dict[str, int]
    rates: Rates
    unbilled_view: object
    day0: int
    n_days: int
    scenarios: IdColumn = field(default_factory=IdColumn)
    runs: IdColumn = field(default_factory=IdColumn)
    nodes: IdColumn = field(default_factory=IdColumn)
    actions: IdColumn = field(default_factory=IdColumn)
    unknown_node: bool = False
    _node_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _acc: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, batch: pl.DataFrame) -> None:
        """Add a batch with columns scenario, run_id, unique_id, action (identifiers),
        run_at_us (int64), runtime_s and cost_usd (float64, NaN for missing)."""
        scen = self.scenarios.intern(batch.get_column("scenario"))[1]
        run = self.runs.intern(batch.get_column("run_id"))[1]
        new_nodes, node = self.nodes.intern(batch.get_column("unique_id"))
        act = self.actions.intern(batch.get_column("action"))[1]
        if new_nodes:
            found = [self.position.get(u, -1) if u is not None else -1 for u in new_nodes]
            self.unknown_node |= min(found) < 0
            self._node_pos = np.concatenate([self._node_pos, np.array(found, dtype=np.int32)])
        if self.unknown_node:
            return  # the caller reports the bad row; nothing more is worth adding
        positions = self._node_pos[node]
        self._ensure(len(self.scenarios.values), len(self.runs.values))
        a = self._acc
        flags = self._action_flags()
        _accumulate(
            scen, run, positions, act,
            batch.get_column("run_at_us").to_numpy(),
            batch.get_column("runtime_s").to_numpy(),
            batch.get_column("cost_usd").to_numpy(),
            self.kinds, *flags,
            np.array([self.unbilled_view(s) for s in self.scenarios.values], dtype=np.bool_),
            self.rates.per_runtime_s, self.rates.usd_per_billed_s, self.rates.price_runtime,
            self.day0, self.n_days,
            a["node_n"], a["node_s"], a["node_usd"], a["node_missing"],
            a["run_n"], a["run_at"], a["run_s"], a["run_usd"],
            a["run_builds"], a["run_reuses"], a["run_tests"], a["day_flags"],
        )  # fmt: skip

    def _action_flags(self) -> tuple[np.ndarray, ...]:
        names = self.actions.values
        return tuple(
            np.array([a in wanted for a in names], dtype=np.bool_)
            for wanted in (
                ("build", "run"),
                ("build",),
                ("reuse",),
                ("run",),
                ("build", "reuse", "skip"),
            )
        )

    def _ensure(self, n_scenarios: int, n_runs: int) -> None:
        n_nodes, n_actions = len(self.kinds), max(len(self.actions.values), 1)
        shapes = {
            "node_n": ((n_scenarios, n_nodes, n_actions), np.int64),
            "node_s": ((n_scenarios, n_nodes, n_actions), np.float64),
            "node_usd": ((n_scenarios, n_nodes, n_actions), np.float64),
            "node_missing": ((n_scenarios, n_nodes, n_actions), np.int64),
            "run_n": ((n_scenarios, n_runs), np.int64),
            "run_at": ((n_scenarios, n_runs), np.int64),
            "run_s": ((n_scenarios, n_runs), np.float64),
            "run_usd": ((n_scenarios, n_runs), np.float64),
            "run_builds": ((n_scenarios, n_runs), np.int64),
            "run_reuses": ((n_scenarios, n_runs), np.int64),
            "run_tests": ((n_scenarios, n_runs), np.int64),
            "day_flags": ((n_scenarios, self.n_days, n_nodes), np.uint8),
        }
        for name, (shape, dtype) in shapes.items():
            have = self._acc.get(name)
            self._acc[name] = np.zeros(shape, dtype) if have is None else _grown(have, shape)

    @property
    def missing(self) -> int:
        """Billed rows with neither ``cost_usd`` nor a price from ``runtime_s``."""
        return int(self._acc["node_missing"].sum()) if self._acc else 0

    def by_node(self) -> pl.DataFrame:
        """scenario, node, action, n, billed_s, cost_usd: one row per key seen."""
        if not self._acc:
            return _empty_by_node()
        a = self._acc
        s, n, k = np.nonzero(a["node_n"])
        return pl.DataFrame(
            {
                "scenario": _strings(self.scenarios.values, s),
                "node": n.astype(np.int64),
                "action": _strings(self.actions.values, k),
                "n": a["node_n"][s, n, k],
                "billed_s": a["node_s"][s, n, k],
                "cost_usd": a["node_usd"][s, n, k],
            }
        )

    def by_run(self) -> pl.DataFrame:
        """scenario, run_id, run_at_us, billed_s, cost_usd, node_builds, reuses, test_runs."""
        if not self._acc:
            return _empty_by_run()
        a = self._acc
        s, r = np.nonzero(a["run_n"])
        return pl.DataFrame(
            {
                "scenario": _strings(self.scenarios.values, s),
                "run_id": _strings(self.runs.values, r),
                "run_at_us": a["run_at"][s, r],
                "billed_s": a["run_s"][s, r],
                "cost_usd": a["run_usd"][s, r],
                "node_builds": a["run_builds"][s, r],
                "reuses": a["run_reuses"][s, r],
                "test_runs": a["run_tests"][s, r],
            }
        )

    def reused_tables(self) -> pl.DataFrame:
        """scenario, tables_reused_days: distinct (table, UTC day) with a reuse, where any."""
        counts = _count_flags(self._acc.get("day_flags"), 1, 1).sum(axis=1)
        keep = np.nonzero(counts)[0]
        return pl.DataFrame(
            {
                "scenario": _strings(self.scenarios.values, keep),
                "tables_reused_days": counts[keep].astype(np.int64),
            }
        )

    def by_day(self) -> pl.DataFrame:
        """scenario, day (UTC, as days since the epoch), models_selected, models_not_rebuilt:
        of the buildable nodes a run selected that day, how many and how many were not built."""
        flags = self._acc.get("day_flags")
        selected = _count_flags(flags, 2, 2)
        not_built = _count_flags(flags, 2 | 4, 2)
        s, d = np.nonzero(selected)
        return pl.DataFrame(
            {
                "scenario": _strings(self.scenarios.values, s),
                "day": (d + self.day0).astype(np.int64),
                "models_selected": selected[s, d].astype(np.int64),
                "models_not_rebuilt": not_built[s, d].astype(np.int64),
            }
        )


def _count_flags(flags: np.ndarray | None, mask: int, value: int) -> np.ndarray:
    """Per (scenario, day): the nodes whose ``flags & mask`` is ``value``, counted scenario
    by scenario (no temporary as big as the flags)."""
    if flags is None:
        return np.zeros((0, 0), dtype=np.int64)
    out = np.empty(flags.shape[:2], dtype=np.int64)
    for s in range(flags.shape[0]):
        out[s] = ((flags[s] & mask) == value).sum(axis=1)
    return out


def _strings(values: list[str | None], index: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(pl.Series(index, dtype=pl.UInt32))


def _empty_by_node() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "scenario": pl.String,
            "node": pl.Int64,
            "action": pl.String,
            "n": pl.Int64,
            "billed_s": pl.Float64,
            "cost_usd": pl.Float64,
        }
    )


def _empty_by_run() -> pl.DataFrame:
    schema = {"scenario": pl.String, "run_id": pl.String, "run_at_us": pl.Int64}
    schema |= dict.fromkeys(("billed_s", "cost_usd"), pl.Float64)
    schema |= dict.fromkeys(("node_builds", "reuses", "test_runs"), pl.Int64)
    return pl.DataFrame(schema=schema)
