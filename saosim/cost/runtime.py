"""What a build takes and costs, fitted from the history, and what the history itself cost.

:class:`RuntimeModel` fits, per node, what one build uses (seconds by default; bytes or dollars
for the other cost bases) from the successful builds in ``node_runs`` (for data tests: every
executed run, pass, warn or fail):

- ``prediction(gap) = a + b × gap_hours``, clamped ≥ 0, where ``gap`` is the time from the start
  of the node's previous successful build to the start of this one. ``b`` is 0 except for
  incremental models, whose runtime grows with the data they catch up on: ``a`` and ``b`` come
  from a robust (Huber, IRLS) least-squares line over consecutive successful builds, fitted only
  when a node has at least ``min_gaps`` gaps that differ; ``b < 0`` is clamped to 0 (``a`` then
  the median), ``a < 0`` to 0 (``b`` refitted through the origin).
- ``center="mean"`` (default) then scales the line so that its predictions summed over the
  node's own history equal what the history used: cost adds up, so the mean (not the median) is
  what makes a replay of the history reproduce the history's total. ``center="median"`` keeps
  the robust fit (and the median for non-incremental nodes) as it is.
- A node with fewer than ``min_obs`` observations (none included) takes the median, across the
  project, of the nodes of its materialization that have any history (each node counted once:
  its fit at its typical gap, or the mean/median of its few observations). A materialization
  without any history takes :data:`DEFAULT_RUNTIME_S` (runtime), or the median of every node
  with history (bytes, dollars). Ephemeral models and sources cost 0.
- ``median_s`` and ``p90_s`` describe each node's observed distribution, for reports.

A gap of NaN (the node was never built) uses the node's typical (median) gap.

>>> import polars as pl
>>> from datetime import datetime, timedelta, UTC
>>> from saosim.inputs.estate import Estate
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> t0 = datetime(2025, 1, 1, tzinfo=UTC)
>>> runs = pl.DataFrame({"run_id": [f"r{i}" for i in range(4)],
...                      "started_at": [t0 + timedelta(hours=i) for i in range(4)]})
>>> node_runs = pl.DataFrame({"run_id": runs["run_id"], "unique_id": ["model.demo.m"] * 4,
...                           "status": ["success"] * 4, "execution_time_s": [10.0, 12, 14, 12]})
>>> model = RuntimeModel.fit(Estate(p, runs=runs, node_runs=node_runs))
>>> model.runtime_s("model.demo.m"), model.fitted_by[model.index(["model.demo.m"])[0]]
(12.0, 'node')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numba
import numpy as np
import polars as pl

from saosim.core.codes import NONE
from saosim.cost.rates import TIB, CostModel
from saosim.cost.segments import node_time_order, segment_median
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.inputs.history_rows import history_rows
from saosim.project.graph import Node, Project

__all__ = [
    "DEFAULT_RUNTIME_S",
    "BuildCosts",
    "HistoryCost",
    "RuntimeModel",
    "fit_costs",
    "history_cost",
]

#: Seconds per build when the project has no history for a materialization at all.
DEFAULT_RUNTIME_S = {
    "table": 60.0,
    "incremental": 60.0,
    "view": 2.0,
    "materialized_view": 60.0,
    "dynamic_table": 60.0,
    "seed": 5.0,
    "snapshot": 30.0,
    "test": 3.0,
    "other": 30.0,
}
#: Node-run statuses that executed a query (and so were billed).
EXECUTED = ("success", "error", "runtime error", "pass", "fail", "warn")
_TEST_OK = ("pass", "fail", "warn")
_HUBER_K = 1.345
_IRLS_STEPS = 12


def kind_key(node: Node) -> str | None:
    """The fallback group of a node: its materialization, ``seed``, ``snapshot``, ``test``.

    ``None`` for nodes that never run a query (sources, ephemeral models, exposures …).
    """
    if node.resource_type == "model":
        mat = node.materialization or "table"
        if mat == "ephemeral":
            return None
        return mat if mat in DEFAULT_RUNTIME_S else "other"
    if node.resource_type in ("seed", "snapshot", "test"):
        return node.resource_type
    return None


@dataclass(frozen=True, eq=False)
class RuntimeModel:
    """Per node (index = position in ``node_ids``, the project's topological order):
    ``a_s + b_s_per_hour × gap_hours``; see the module docstring."""

    node_ids: tuple[str, ...]
    quantity: str
    a_s: np.ndarray
    b_s_per_hour: np.ndarray
    typical_gap_s: np.ndarray
    median_s: np.ndarray
    p90_s: np.ndarray
    n_obs: np.ndarray
    fitted_by: tuple[str, ...]

    @classmethod
    def fit(
        cls,
        estate: Estate,
        *,
        quantity: str = "execution_time_s",
        center: Literal["mean", "median"] = "mean",
        min_obs: int = 3,
        min_gaps: int = 6,
    ) -> RuntimeModel:
        """Fit every node of ``estate.project`` from ``estate.node_runs``.

        Args:
            quantity: the ``node_runs`` column to model: ``execution_time_s``,
                ``bytes_processed`` or ``cost``.
            center: ``mean`` (totals reproduce the history) or ``median`` (robust).
            min_obs: fewer observations → the materialization's median.
            min_gaps: fewer gaps → no slope, even for an incremental model.
        """
        if quantity not in ("execution_time_s", "bytes_processed", "cost"):
            raise ConfigError(f"cannot model {quantity!r}", field="quantity")
        if center not in ("mean", "median"):
            raise ConfigError(f"{center!r} must be mean or median", field="center")
        project = estate.project
        order = project.order
        obs = _observations(estate, quantity)
        stats = _node_stats(obs)
        n = len(order)
        a = np.zeros(n)
        b = np.zeros(n)
        gap = np.full(n, np.nan)
        med = np.full(n, np.nan)
        p90 = np.full(n, np.nan)
        count = np.zeros(n, dtype=np.int64)
        by = ["none"] * n
        keys = [kind_key(project.nodes[u]) for u in order]
        slopes = _incremental_fits(obs, project, min_gaps=min_gaps, center=center)
        for r in stats.iter_rows(named=True):
            i = r["node"]
            count[i], med[i], p90[i] = r["n"], r["median"], r["p90"]
            gap[i] = r["gap_s"] if r["gap_s"] is not None else np.nan
            if keys[i] is None or r["n"] < min_obs:
                continue
            if i in slopes:
                a[i], b[i] = slopes[i]
                by[i] = "node_slope"
            else:
                a[i] = r["mean"] if center == "mean" else r["median"]
                by[i] = "node"
        # a node's own level: its fit, or (too few observations to fit) its own center
        own = np.where(count > 0, a + b * np.nan_to_num(gap) / 3600, np.nan)
        for r in stats.iter_rows(named=True):
            if by[r["node"]] == "none":
                own[r["node"]] = r["mean"] if center == "mean" else r["median"]
        for key in sorted({k for k in keys if k is not None}):
            members = [i for i, k in enumerate(keys) if k == key]
            observed = [i for i in members if count[i] > 0]
            if observed:
                fill, how = float(np.median(own[observed])), "materialization_median"
            else:
                fill, how = _default(quantity, key, own, count)
            for i in members:
                if by[i] == "none":
                    a[i], by[i] = fill, how
        return cls(order, quantity, a, b, gap, med, p90, count, tuple(by))

    @cached_property
    def _positions(self) -> dict[str, int]:
        # built once: the plain replay looks up one node per decision
        return {u: i for i, u in enumerate(self.node_ids)}

    def index(self, node_ids: Sequence[str] | pl.Series) -> np.ndarray:
        """Node indices (int32) for ids, for the array methods; unknown ids are an error."""
        lookup = self._positions
        try:
            return np.array([lookup[u] for u in node_ids], dtype=np.int32)
        except KeyError as exc:
            raise ConfigError("is not a node of the project", node_id=str(exc.args[0])) from None

    def runtime_s_array(
        self,
        idx: np.ndarray,
        gap_s: np.ndarray | float,
        *,
        scale: float = 1.0,
        zero: np.ndarray | None = None,
    ) -> np.ndarray:
        """Predictions for many builds: node indices and gaps in seconds (NaN: typical gap).

        One compiled pass (the simulator prices ~90 M decisions): ``scale`` multiplies every
        prediction and nodes where ``zero`` is true predict 0 (e.g. unbilled views).
        """
        idx = np.asarray(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.node_ids)):
            raise ConfigError(
                f"node indices must be in 0..{len(self.node_ids) - 1}; use .index(ids)",
                field="idx",
            )
        gap = np.broadcast_to(np.asarray(gap_s, dtype=np.float64), idx.shape)
        if zero is None:
            zero = np.zeros(len(self.node_ids), dtype=np.bool_)
        return _predict(
            idx.ravel(),
            gap.ravel(),
            self.a_s,
            self.b_s_per_hour,
            self.typical_gap_s,
            float(scale),
            zero,
        ).reshape(idx.shape)

    def runtime_s(self, node_id: str, gap_s: float | None = None) -> float:
        """One prediction (seconds for the runtime model).

        >>> m = RuntimeModel(("m",), "execution_time_s", np.array([10.0]), np.array([2.0]),
        ...     np.array([3600.0]), np.array([12.0]), np.array([14.0]), np.array([9]), ("node",))
        >>> m.runtime_s("m", 7200), m.runtime_s("m")
        (14.0, 12.0)
        """
        gap = np.nan if gap_s is None else float(gap_s)
        return float(self.runtime_s_array(self.index([node_id]), np.array([gap]))[0])

    predict = runtime_s
    predict_array = runtime_s_array

    def to_frame(self) -> pl.DataFrame:
        """One row per node: the fitted terms and the observed distribution."""
        return pl.DataFrame(
            {
                "unique_id": list(self.node_ids),
                "a": self.a_s,
                "b_per_hour": self.b_s_per_hour,
                "typical_gap_s": self.typical_gap_s,
                "median": self.median_s,
                "p90": self.p90_s,
                "n_obs": self.n_obs,
                "fitted_by": list(self.fitted_by),
            }
        )


def _default(quantity: str, key: str, own: np.ndarray, count: np.ndarray) -> tuple[float, str]:
    if quantity == "execution_time_s":
        return DEFAULT_RUNTIME_S[key], "default"
    observed = count > 0
    if not observed.any():
        raise ConfigError(
            f"node_runs has no {quantity} values to fit; give them, or choose another cost basis",
            field=f"node_runs.{quantity}",
        )
    return float(np.median(own[observed])), "project_median"


def _observations(estate: Estate, quantity: str) -> pl.DataFrame:
    """Executed builds per node as codes (``node`` = position in ``project.order``) and their
    ``y``, sorted by node and time, with the gap since the node's previous one (``gap_s``, null
    for its first)."""
    project = estate.project
    is_test = np.array([project.nodes[u].is_test for u in project.order], dtype=np.bool_)
    # the history's nodes and start times as numbers, shared with the compiled replay
    history = history_rows(estate)
    status = estate.node_runs_column("status")
    y_all = estate.node_runs_column(quantity).cast(pl.Float64)
    executed = status.is_in(_TEST_OK).zip_with(
        pl.Series(is_test[history.node]), status == "success"
    )
    keep = (executed & y_all.is_not_null() & (y_all >= 0)).fill_null(False).to_numpy()
    del status, executed
    kept = np.flatnonzero(keep)
    del keep
    node = history.node[kept].astype(np.int64)
    t_us = history.start_us[kept]
    y = y_all.to_numpy()[kept]
    del y_all, kept
    known = t_us != NONE
    t = pl.Series("t", t_us)
    order = pl.DataFrame(
        [pl.Series("node", node), t if known.all() else t.set(~pl.Series(known), None)]
    )
    rows = node_time_order(order).to_numpy()
    del order, t
    # numpy gathers, one column at a time (a year of observations held once, not twice)
    known, us, node, y = known[rows], t_us[rows], node[rows], y[rows]
    del rows, t_us
    same = np.zeros(len(node), dtype=np.bool_)
    same[1:] = (node[1:] == node[:-1]) & known[1:] & known[:-1]
    # × 1e-6, not / 1e6: polars multiplied by the reciprocal in most chunks but divided in a
    # few, so gaps moved in the last bit from one call to the next; this is the reciprocal
    # everywhere (what it gave on ~all rows)
    gap = np.full(len(node), np.nan)
    gap[1:] = np.where(same[1:], (us[1:] - us[:-1]).astype(np.float64) * 1e-6, np.nan)
    del us, known, same
    return pl.DataFrame({"node": node, "y": y, "gap_s": pl.Series(gap).fill_nan(None)})


def _node_stats(obs: pl.DataFrame) -> pl.DataFrame:
    return obs.group_by("node").agg(
        pl.len().alias("n"),
        pl.col("y").mean().alias("mean"),
        pl.col("y").median().alias("median"),
        pl.col("y").quantile(0.9, interpolation="linear").alias("p90"),
        pl.col("gap_s").filter(pl.col("gap_s") > 0).median().alias("gap_s"),
    )


def _incremental_fits(
    obs: pl.DataFrame, project: Project, *, min_gaps: int, center: str
) -> dict[int, tuple[float, float]]:
    """Huber IRLS of y on gap hours, all incremental nodes at once (one bincount per sum)."""
    incremental = [
        i
        for i, u in enumerate(project.order)
        if project.nodes[u].resource_type == "model"
        and project.nodes[u].materialization == "incremental"
    ]
    data = obs.filter(
        pl.col("node").is_in(incremental) & pl.col("gap_s").is_not_null() & (pl.col("gap_s") > 0)
    )
    eligible = (
        data.group_by("node")
        .agg(pl.len().alias("k"), pl.col("gap_s").n_unique().alias("distinct"))
        .filter((pl.col("k") >= min_gaps) & (pl.col("distinct") >= 2))
        .get_column("node")
        .sort()
    )
    data = data.filter(pl.col("node").is_in(eligible.to_list()))
    if data.height == 0:
        return {}
    ids = eligible.to_numpy()
    # dense codes 0..m-1 in node order (data is sorted by node)
    code = np.searchsorted(ids, data.get_column("node").to_numpy())
    x = data.get_column("gap_s").to_numpy() / 3600.0
    y = data.get_column("y").to_numpy()
    m = len(ids)
    w = np.ones_like(y)
    a = np.zeros(m)
    b = np.zeros(m)
    for _ in range(_IRLS_STEPS):
        a, b = _wls(code, x, y, w, m)
        r = y - a[code] - b[code] * x
        scale = 1.4826 * segment_median(code, np.abs(r), m)
        k = _HUBER_K * np.maximum(scale, 1e-9 * (np.abs(y).mean() + 1e-12))[code]
        w = np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-300))
    med = segment_median(code, y, m)
    neg_b = b < 0
    a = np.where(neg_b, med, a)
    b = np.where(neg_b, 0.0, b)
    neg_a = a < 0
    if neg_a.any():
        sxy = np.bincount(code, w * x * y, m)
        sxx = np.bincount(code, w * x * x, m)
        b = np.where(neg_a, sxy / np.maximum(sxx, 1e-300), b)
        a = np.where(neg_a, 0.0, a)
    if center == "mean":
        # scale so that the node's history is reproduced in total (cost adds up)
        all_obs = obs.filter(pl.col("node").is_in(ids.tolist()))
        c2 = np.searchsorted(ids, all_obs.get_column("node").to_numpy())
        gaps = all_obs.get_column("gap_s").to_numpy()
        typical = segment_median(code, x, m)  # the same typical gap the predictions use
        xs = np.where(np.isfinite(gaps) & (np.nan_to_num(gaps) > 0), gaps / 3600.0, typical[c2])
        pred = np.bincount(c2, np.maximum(a[c2] + b[c2] * xs, 0), m)
        actual = np.bincount(c2, all_obs.get_column("y").to_numpy(), m)
        factor = np.where(pred > 0, actual / np.where(pred > 0, pred, 1.0), 1.0)
        a, b = a * factor, b * factor
    return {int(u): (float(a[i]), float(b[i])) for i, u in enumerate(ids)}


def _wls(code, x, y, w, m):
    sw = np.bincount(code, w, m)
    sx = np.bincount(code, w * x, m)
    sy = np.bincount(code, w * y, m)
    sxx = np.bincount(code, w * x * x, m)
    sxy = np.bincount(code, w * x * y, m)
    det = sw * sxx - sx * sx
    ok = det > 1e-12 * np.maximum(sw * sxx, 1e-300)
    b = np.where(ok, (sw * sxy - sx * sy) / np.where(ok, det, 1.0), 0.0)
    a = (sy - b * sx) / np.maximum(sw, 1e-300)
    return a, b


@dataclass(frozen=True, eq=False)
class BuildCosts:
    """A cost model fitted to an estate: runtime and dollars per build, overhead per run.

    Array methods take node indices (:meth:`index`) and gaps in seconds (NaN: never built), so
    the simulator can price every decision in a few numpy operations.
    """

    cost_model: CostModel
    runtime: RuntimeModel
    usage: RuntimeModel | None
    is_view: np.ndarray

    def index(self, node_ids: Sequence[str] | pl.Series) -> np.ndarray:
        return self.runtime.index(node_ids)

    def runtime_s_array(self, idx: np.ndarray, gap_s: np.ndarray | float) -> np.ndarray:
        return self.runtime.runtime_s_array(idx, gap_s)

    def runtime_s(self, node_id: str, gap_s: float | None = None) -> float:
        return self.runtime.runtime_s(node_id, gap_s)

    def billed_s_array(
        self, idx: np.ndarray, gap_s: np.ndarray | float, *, profile: str = "baseline"
    ) -> np.ndarray:
        """Billed warehouse seconds of these builds (runtime ÷ concurrency; unbilled views 0)."""
        return self.runtime.runtime_s_array(
            idx, gap_s, scale=1.0 / self.cost_model.concurrency, zero=self._unbilled(profile)
        )

    def cost_usd_array(
        self, idx: np.ndarray, gap_s: np.ndarray | float, *, profile: str = "baseline"
    ) -> np.ndarray:
        """Dollars for these builds under ``profile`` (dbt_state does not bill views)."""
        model = self.cost_model
        zero = self._unbilled(profile)
        if model.basis == "runtime":
            scale = model.usd_per_second / model.concurrency
            return self.runtime.runtime_s_array(idx, gap_s, scale=scale, zero=zero)
        assert self.usage is not None
        scale = model.usd_per_tib / TIB if model.basis == "bytes" else 1.0
        return self.usage.runtime_s_array(idx, gap_s, scale=scale, zero=zero)

    def _unbilled(self, profile: str) -> np.ndarray | None:
        return None if self.cost_model.bills_views(profile) else self.is_view

    def cost_usd(
        self, node_id: str, gap_s: float | None = None, *, profile: str = "baseline"
    ) -> float:
        gap = np.array([np.nan if gap_s is None else float(gap_s)])
        return float(self.cost_usd_array(self.index([node_id]), gap, profile=profile)[0])

    def run_overhead_usd(self, billed_s: float, *, profile: str = "baseline") -> float:
        return self.cost_model.run_overhead_usd(billed_s, state_aware=str(profile) != "baseline")

    def run_overhead_usd_array(
        self, billed_s: np.ndarray, *, profile: str = "baseline"
    ) -> np.ndarray:
        return self.cost_model.run_overhead_usd_array(billed_s, str(profile) != "baseline")


def fit_costs(
    estate: Estate, cost_model: CostModel | None = None, **fit_options: object
) -> BuildCosts:
    """Fit the runtime model (and a bytes or dollars model for those bases) to an estate.

    >>> from saosim.project.graph import Project
    >>> costs = fit_costs(Estate(Project.from_spec({"raw.a": [], "m": ["raw.a"]})))
    >>> costs.runtime.fitted_by[1], costs.cost_usd("model.demo.m")  # 60 s default at $12/h
    ('default', 0.2)
    """
    cost_model = cost_model or CostModel()
    runtime = RuntimeModel.fit(estate, **fit_options)  # type: ignore[arg-type]
    usage = None
    if cost_model.basis == "bytes":
        usage = RuntimeModel.fit(estate, quantity="bytes_processed", **fit_options)  # type: ignore[arg-type]
    elif cost_model.basis == "history":
        usage = RuntimeModel.fit(estate, quantity="cost", **fit_options)  # type: ignore[arg-type]
    project = estate.project
    is_view = np.array(
        [project.nodes[u].materialization == "view" for u in project.order], dtype=np.bool_
    )
    return BuildCosts(cost_model, runtime, usage, is_view)


@dataclass(frozen=True, eq=False)
class HistoryCost:
    """What the recorded history cost: totals and one row per run."""

    total_usd: float
    node_usd: float
    overhead_usd: float
    per_run: pl.DataFrame
    #: executed node runs without the value the basis needs (counted as 0)
    missing_values: int


def history_cost(
    estate: Estate, cost_model: CostModel | None = None, *, profile: str = "baseline"
) -> HistoryCost:
    """Price the real ``node_runs`` (every executed query, failures and tests included) plus
    per-run overheads, the way the simulator prices a replay.

    A replay of the same builds priced by :func:`fit_costs` reproduces this total (to rounding
    and the runtimes of failed builds) when every node has at least ``min_obs`` observations;
    a node priced by a fallback costs its materialization's level instead of its own.

    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> from saosim.project.graph import Project
    >>> runs = pl.DataFrame({"run_id": ["r1"], "started_at": [datetime(2025, 1, 1, tzinfo=UTC)]})
    >>> nr = pl.DataFrame({"run_id": ["r1"], "unique_id": ["model.demo.m"], "status": ["success"],
    ...                    "execution_time_s": [120.0]})
    >>> e = Estate(Project.from_spec({"raw.a": [], "m": ["raw.a"]}), runs=runs, node_runs=nr)
    >>> history_cost(e, CostModel(usd_per_hour=3.6)).total_usd   # 120 s at $0.001/s
    0.12
    """
    model = cost_model or CostModel()
    views = [u for u, n in estate.project.nodes.items() if n.materialization == "view"]
    column = {"runtime": "execution_time_s", "bytes": "bytes_processed", "history": "cost"}[
        model.basis
    ]
    unbilled_view = pl.col("unique_id").is_in(views) & (not model.bills_views(profile))
    executed = (
        estate.scan_node_runs()
        .filter(pl.col("status").is_in(EXECUTED))
        .with_columns(
            pl.when(unbilled_view)
            .then(0.0)
            .otherwise(pl.col("execution_time_s").fill_null(0.0) / model.concurrency)
            .alias("billed_s"),
            pl.col(column).cast(pl.Float64).is_null().alias("missing"),
            pl.col(column).cast(pl.Float64).fill_null(0.0).alias("used"),
        )
    )
    if model.basis == "runtime":
        node_usd = pl.col("billed_s") * model.usd_per_second
    elif model.basis == "bytes":
        node_usd = pl.col("used") / TIB * model.usd_per_tib
    else:
        node_usd = pl.col("used")
    executed = executed.with_columns(
        pl.when(unbilled_view).then(0.0).otherwise(node_usd).alias("node_usd")
    )
    by_run, missing = pl.collect_all(
        [
            executed.group_by("run_id").agg(
                pl.len().alias("node_runs"), pl.col("billed_s").sum(), pl.col("node_usd").sum()
            ),
            executed.select(pl.col("missing").sum()),
        ]
    )
    per_run = (
        estate.runs.select("run_id", "job_id", "started_at")
        .join(by_run, on="run_id", how="left")
        .with_columns(
            pl.col("node_runs").fill_null(0),
            pl.col("billed_s").fill_null(0.0),
            pl.col("node_usd").fill_null(0.0),
        )
        .sort("started_at", "run_id")
    )
    overhead = model.run_overhead_usd_array(
        per_run.get_column("billed_s").to_numpy(), profile != "baseline"
    )
    per_run = per_run.with_columns(
        pl.Series("overhead_usd", overhead),
    ).with_columns((pl.col("node_usd") + pl.col("overhead_usd")).alias("cost_usd"))
    node_total = float(per_run.get_column("node_usd").sum())
    overhead_total = float(overhead.sum())
    return HistoryCost(
        total_usd=node_total + overhead_total,
        node_usd=node_total,
        overhead_usd=overhead_total,
        per_run=per_run,
        missing_values=int(missing.item()),
    )


@numba.njit(cache=True)
def _predict(idx, gap, a, b, typical, scale, zero):
    out = np.empty(idx.shape[0])
    for i in range(idx.shape[0]):
        j = idx[i]
        if zero[j]:
            out[i] = 0.0
            continue
        g = gap[i]
        if not np.isfinite(g):
            g = typical[j] if np.isfinite(typical[j]) else 0.0
        v = a[j] + b[j] * g / 3600.0
        out[i] = (v if v > 0.0 else 0.0) * scale
    return out
