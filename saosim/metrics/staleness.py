"""How stale each model's data was over a replay, computed exactly from a decision log.

Definition. The staleness of model N at time t is the age ``t − a`` of the oldest source data
(an arrival at time ``a ≤ t`` in a source upstream of N) that is not yet reflected in N; it is 0
when everything landed upstream is reflected. Reflection moves through builds: a successful build
of N that *starts* at ``s`` reflects, for every upstream source S, what N's parents reflected at
``s`` (a source reflects its own arrivals at or before ``s``); the new data is visible in N when
that build *finishes*. A reuse, a skip or a failed build reflects nothing new. Data reaching N
along several paths counts as reflected only once every path carries it (the conservative
reading: a join of fresh orders with stale customers is not fresh).

Views and ephemeral models are *live* by default (``live_views=True``): a query on a view reads
its parents' tables at that moment, so a view always reflects exactly what its parents reflect,
whether or not the planner "rebuilt" it (dbt State reuses views; their data is still current).
With ``live_views=False`` a view is treated like a table (literal reading of the rule above).

Why one number per node is exact. Write ``w(N, S)`` for the newest arrival of S reflected in N
(arrivals are reflected as a prefix in time, because a source reflects everything up to ``s``
and every build copies prefixes from its parents), and ``next_S(w)`` for the first arrival of S
after ``w``. The oldest unreflected arrival in N is ``U(N) = min_S next_S(w(N, S))`` and
staleness is ``max(0, t − U(N))``. A build of N starting at ``s`` sets
``w(N, S) = min_P w(P, S)`` over parents P that see S. ``next_S`` is non-decreasing, so
``next_S(min_P w) = min_P next_S(w)``, and exchanging the two minimums gives
``U(N) = min_P U(P)`` at ``s``, where a source parent contributes its first arrival after ``s``.
So each node carries one timestamp, and a build costs one min over its parents: no per
(node, source) state. ``U`` only changes when N's build finishes (or, for a live node, when a
parent changes), so staleness is piecewise linear with slope 1 and its integral, its maximum
and the time above an SLA are computed in closed form per segment, not sampled.

The replay window starts fresh: every node reflects everything that landed at or before the
window start (the same starting point for every scenario). Sources with no arrival data are never
stale. Measured nodes are the non-ephemeral models and the snapshots (seeds have no sources).

Percentiles (``p50``, ``p95``) are over *model-time*: the fraction of (model, instant) pairs in
the window, every model of the group weighted equally, whose staleness is at most that value.
They are exact at histogram bin edges and interpolated within a bin (2**17 bins across the
window: about 4 minutes for a year). ``max`` is exact.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.orders": [], "stg": ["raw.orders"]})
>>> t = lambda h, m=0: datetime(2025, 1, 1, h, m, tzinfo=UTC)
>>> log = pl.DataFrame({"scenario": ["s"], "run_id": ["r1"], "run_at": [t(1)],
...                     "unique_id": ["model.demo.stg"], "action": ["build"], "reason": ["x"]})
>>> arrivals = pl.DataFrame({"unique_id": ["source.demo.raw.orders"], "arrived_at": [t(0, 10)]})
>>> res = staleness(log, project=p, arrivals=arrivals, start=t(0), end=t(2))["s"]
>>> round(res.max_s[0] / 60), float(res.integral_s2[0]) / 3600  # max 50 min; ∫ = 50²/2 min²
(50, 1250.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from saosim.errors import SchemaError
from saosim.inputs.schema import validate
from saosim.metrics.columns import check_log_ids, log_schema, node_codes, scenario_column
from saosim.metrics.staleness_kernel import (
    KIND_SOURCE,
    StalenessGraph,
    StalenessReplay,
    staleness_graph,
)
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project
from saosim.project.slas import SlaTargets

__all__ = ["BREACH_COLUMNS", "StalenessResult", "staleness", "staleness_graph"]

_INF = np.int64(2**62)
_US = 1_000_000
_DAY_US = 86_400 * _US
N_BINS = 2**17
#: log rows read at a time when feeding the replay (per scenario thread: 4 M rows took
#: 0.3 GB more each, and no less time)
_BATCH_ROWS = 1 << 20
UNTIERED = "untiered"
#: decision statuses of a build that did not succeed (optional ``status`` column)
FAILED_STATUSES = ("error", "fail", "runtime error", "skipped")


@dataclass(frozen=True, eq=False)
class StalenessResult:
    """One scenario's staleness over the window ``[start, end]``.

    Per measured node (``node_ids``, arrays in seconds): ``integral_s2`` (∫ staleness dt, s²),
    ``max_s``, ``stale_s`` (time with staleness > 0), ``sla_miss_s`` (time above the node's SLA;
    0 without one). Per tier: ``hist`` (time-weighted staleness histogram sufficient statistics)
    and per-day integrals.
    """

    scenario: str
    start: datetime
    end: datetime
    node_ids: tuple[str, ...]
    tiers: tuple[str, ...]
    tier_of: np.ndarray
    sla_s: np.ndarray
    integral_s2: np.ndarray
    max_s: np.ndarray
    stale_s: np.ndarray
    sla_miss_s: np.ndarray
    hist: np.ndarray  # (n_tiers, 4, N_BINS): count/sum of segment starts, count/sum of ends
    bin_s: float
    day0: datetime
    day_integral_s2: np.ndarray  # (n_tiers, n_days)
    day_sla_miss_s: np.ndarray  # (n_tiers, n_days)

    @property
    def window_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def quantile_hours(self, q: float, tiers: tuple[str, ...] | None = None) -> float:
        """Staleness (hours) below which a fraction ``q`` of model-time lies.

        Args:
            q: between 0 and 1.
            tiers: restrict to these tiers (default all).
        """
        chosen = [i for i, t in enumerate(self.tiers) if tiers is None or t in tiers]
        n_models = int(np.isin(self.tier_of, chosen).sum())
        if n_models == 0 or self.window_s <= 0:
            return float("nan")
        h = self.hist[chosen].sum(axis=0)
        total = n_models * self.window_s
        positive = h[3].sum() - h[1].sum()  # Σ (v1 − v0)
        zero = total - positive
        target = q * total
        if target <= zero + 1e-9 * total:
            return 0.0
        edges = np.arange(N_BINS + 1, dtype=np.float64) * self.bin_s
        c0 = np.concatenate([[0.0], np.cumsum(h[0])])
        s0 = np.concatenate([[0.0], np.cumsum(h[1])])
        c1 = np.concatenate([[0.0], np.cumsum(h[2])])
        s1 = np.concatenate([[0.0], np.cumsum(h[3])])
        cdf = zero + (edges * c0 - s0) - (edges * c1 - s1)
        k = int(np.searchsorted(cdf, target, side="left"))
        if k == 0:
            return 0.0
        if k > N_BINS:
            return float(self.max_s.max()) / 3600
        lo, hi = cdf[k - 1], cdf[k]
        frac = 0.0 if hi <= lo else (target - lo) / (hi - lo)
        return float(edges[k - 1] + frac * self.bin_s) / 3600

    def per_model(self) -> pl.DataFrame:
        """One row per measured node: mean, max, stale and SLA-miss hours."""
        w = self.window_s
        return pl.DataFrame(
            {
                "unique_id": list(self.node_ids),
                "tier": [self.tiers[i] for i in self.tier_of],
                "sla_hours": self.sla_s / 3600,
                "staleness_mean_hours": self.integral_s2 / w / 3600 if w > 0 else 0.0 * self.max_s,
                "staleness_max_hours": self.max_s / 3600,
                "stale_hours": self.stale_s / 3600,
                "sla_miss_hours": self.sla_miss_s / 3600,
            }
        )

    def per_tier(self) -> pl.DataFrame:
        """One row per tier: models, p50/p95/max staleness (hours), SLA-miss hours."""
        rows = []
        for i, tier in enumerate(self.tiers):
            mask = self.tier_of == i
            n = int(mask.sum())
            rows.append(
                {
                    "tier": tier,
                    "models": n,
                    "staleness_mean_hours": float(self.integral_s2[mask].sum())
                    / max(n * self.window_s, 1e-12)
                    / 3600,
                    "staleness_p50_hours": self.quantile_hours(0.5, (tier,)),
                    "staleness_p95_hours": self.quantile_hours(0.95, (tier,)),
                    "staleness_max_hours": float(self.max_s[mask].max(initial=0.0)) / 3600,
                    "sla_miss_hours": float(self.sla_miss_s[mask].sum()) / 3600,
                    **self.breach(mask),
                }
            )
        return pl.DataFrame(rows, schema=_TIER_SCHEMA)

    def per_day(self, *, by_tier: bool = True) -> pl.DataFrame:
        """One row per UTC day (and tier): mean staleness over that day's part of the window
        (hours, over the group's models) and SLA-miss hours."""
        n_days = self.day_integral_s2.shape[1]
        groups = (
            [((i,), tier) for i, tier in enumerate(self.tiers)]
            if by_tier
            else [(tuple(range(len(self.tiers))), None)]
        )
        rows = []
        for d in range(n_days):
            day_start = max(self.day0 + timedelta(days=d), self.start)
            day_end = min(self.day0 + timedelta(days=d + 1), self.end)
            span = max((day_end - day_start).total_seconds(), 0.0)
            for members, tier in groups:
                n = int(np.isin(self.tier_of, members).sum())
                row = {
                    "day": (self.day0 + timedelta(days=d)).date(),
                    "staleness_mean_hours": float(self.day_integral_s2[list(members), d].sum())
                    / max(n * span, 1e-12)
                    / 3600,
                    "sla_miss_hours": float(self.day_sla_miss_s[list(members), d].sum()) / 3600,
                }
                if by_tier:
                    row["tier"] = tier
                rows.append(row)
        schema = _DAY_SCHEMA if by_tier else {k: v for k, v in _DAY_SCHEMA.items() if k != "tier"}
        return pl.DataFrame(rows, schema=schema).select(list(schema))

    def summary(self) -> dict[str, float | int | None]:
        """All models pooled: p50/p95/max/mean staleness hours and SLA-miss hours (``None``
        when no measured model has an SLA)."""
        n = len(self.node_ids)
        return {
            "staleness_mean_hours": float(self.integral_s2.sum())
            / max(n * self.window_s, 1e-12)
            / 3600,
            "staleness_p50_hours": self.quantile_hours(0.5),
            "staleness_p95_hours": self.quantile_hours(0.95),
            "staleness_max_hours": float(self.max_s.max(initial=0.0)) / 3600,
            # no SLA declared is not "no SLA missed": leave it empty
            "sla_miss_hours": float(self.sla_miss_s.sum()) / 3600
            if np.isfinite(self.sla_s).any()
            else None,
            **self.breach(),
        }

    def breach(self, mask: np.ndarray | None = None) -> dict[str, float | int | None]:
        """SLA breach of the models in ``mask`` (default all) that have an SLA.

        ``sla_models``: models with an SLA (the denominator of the shares);
        ``sla_breach_pct``: 100 × model-time above SLA ÷ (``sla_models`` × window);
        ``sla_breach_models``: models above their SLA at least once; ``sla_breach_models_pct``:
        their share of ``sla_models``; ``sla_breach_model_hours``: model-hours above SLA.
        All ``None`` when no model in the group has an SLA.
        """
        has = np.isfinite(self.sla_s) if mask is None else np.isfinite(self.sla_s) & mask
        n = int(has.sum())
        if n == 0:
            return dict.fromkeys(BREACH_COLUMNS)  # type: ignore[arg-type]
        miss = self.sla_miss_s[has]
        breaching = int((miss > 0).sum())
        return {
            "sla_models": n,
            "sla_breach_pct": 100.0 * float(miss.sum()) / max(n * self.window_s, 1e-12),
            "sla_breach_models": breaching,
            "sla_breach_models_pct": 100.0 * breaching / n,
            "sla_breach_model_hours": float(miss.sum()) / 3600,
        }


#: SLA breach columns of the summary and of every tier (see :meth:`StalenessResult.breach`)
BREACH_COLUMNS = (
    "sla_models",
    "sla_breach_pct",
    "sla_breach_models",
    "sla_breach_models_pct",
    "sla_breach_model_hours",
)
BREACH_SCHEMA = {
    c: pl.Int64 if c in ("sla_models", "sla_breach_models") else pl.Float64 for c in BREACH_COLUMNS
}
_TIER_SCHEMA = {
    "tier": pl.String,
    "models": pl.Int64,
    "staleness_mean_hours": pl.Float64,
    "staleness_p50_hours": pl.Float64,
    "staleness_p95_hours": pl.Float64,
    "staleness_max_hours": pl.Float64,
    "sla_miss_hours": pl.Float64,
    **BREACH_SCHEMA,
}
_DAY_SCHEMA = {
    "day": pl.Date,
    "tier": pl.String,
    "staleness_mean_hours": pl.Float64,
    "sla_miss_hours": pl.Float64,
}


def staleness(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    live_views: bool = True,
    slas: SlaTargets | None = None,
) -> dict[str, StalenessResult]:
    """Staleness of every measured model, per scenario of a decision log.

    Args:
        decisions: the ``decisions`` table, in memory or scanned (only each scenario's
            successful builds are collected); uses scenario (absent: one scenario ``""``),
            unique_id, action, run_at, started_at, finished_at and an optional ``status``.
        project: the DAG the decisions are about.
        arrivals: the ``source_arrivals`` table (unique_id, arrived_at).
        freshness: tiers and SLAs; one config, or one per scenario (default: from the project).
        start, end: the window (default: first ``run_at`` to last finish in the log).
        live_views: views and ephemeral models reflect their parents continuously.
        slas: the comparison's SLAs (:func:`saosim.project.slas.resolve_slas`): when given,
            every scenario is scored against these, whatever its own tiers say, and a scenario
            without tiers reports its models under the SLA's groups.

    Returns:
        ``{scenario: StalenessResult}``, scenarios sorted by name.
    """

    graph = staleness_graph(project, live_views=live_views)
    log = decisions.lazy()
    schema = log_schema(log)
    frame = _events_frame(log, schema, graph)
    t0, t1 = _window(frame, schema, start, end)
    arr_ptr, arr_t = _arrivals(arrivals, graph)
    day0 = datetime(t0.year, t0.month, t0.day, tzinfo=UTC)
    t0_us, t1_us, day0_us = (_us(x) for x in (t0, t1, day0))
    n_days = max(int((t1_us - day0_us - 1) // _DAY_US) + 1, 1)
    bin_s = max((t1_us - t0_us) / _US / N_BINS, 1e-6)
    measured = np.flatnonzero(graph.measured)
    # streamed, as every read of the log here: the in-memory engine reads a whole column (a
    # year's what-if: 1 GB each)
    scenarios = (
        log.select(scenario_column(schema).unique())
        .collect(engine="streaming")
        .to_series()
        .to_list()
    )

    def score(scenario: str) -> StalenessResult:
        cfg = _config_for(freshness, scenario, project)
        tiers, tier_of, sla_s = _tiers(cfg, graph, slas)
        window = dict(t0_us=t0_us, t1_us=t1_us, day0_us=day0_us, n_days=n_days)
        window |= dict(tier_of=tier_of, n_tiers=len(tiers), sla_s=sla_s, bin_s=bin_s)
        replay = StalenessReplay(graph, arr_ptr, arr_t, **window, n_bins=N_BINS)
        if not _feed(replay, log, schema, scenario, graph, in_order=True):
            # a build started before the point replayed to: the log is not in run_at order,
            # so take this scenario's builds all at once
            replay = StalenessReplay(graph, arr_ptr, arr_t, **window, n_bins=N_BINS)
            _feed(replay, log, schema, scenario, graph, in_order=False)
        acc = replay.result()
        return StalenessResult(
            scenario=scenario,
            start=t0,
            end=t1,
            node_ids=tuple(graph.node_ids[i] for i in measured),
            tiers=tiers,
            tier_of=tier_of[measured],
            sla_s=sla_s[measured],
            integral_s2=acc["integral"][measured],
            max_s=acc["max"][measured],
            stale_s=acc["stale"][measured],
            sla_miss_s=acc["sla"][measured],
            hist=acc["hist"],
            bin_s=bin_s,
            day0=day0,
            day_integral_s2=acc["day_integral"],
            day_sla_miss_s=acc["day_sla"],
        )

    names = sorted(str(x) for x in scenarios)
    # scenarios are independent and the replay runs without the GIL: one per core
    with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        return dict(zip(names, pool.map(score, names), strict=True))


def _us(x: datetime) -> int:
    if x.tzinfo is None:
        raise SchemaError(f"{x.isoformat()} has no time zone; pass an aware UTC datetime")
    delta = x - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _events_frame(log: pl.LazyFrame, schema: pl.Schema, graph: StalenessGraph) -> pl.LazyFrame:
    """The columns staleness reads, checked, as a lazy frame: a year's log is tens of millions
    of rows, and only one scenario's builds are ever collected at once."""
    for column in ("unique_id", "action", "run_at"):
        if column not in schema:
            raise SchemaError("required column is missing (table decisions)", field=column)
    action = schema["action"]
    keep = isinstance(action, pl.Enum) and "build" in action.categories.to_list()
    cols = [
        scenario_column(schema),
        pl.col("unique_id"),
        pl.col("action") if keep else pl.col("action").cast(pl.String),
    ]
    # absent start/finish columns stay absent (no 80 M-row null columns): run_at stands in
    times = [c for c in ("run_at", "started_at", "finished_at") if c in schema]
    for name in times:
        dtype = schema[name]
        if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
            raise SchemaError(
                f"expected timezone-aware timestamps, got {dtype}", field=f"decisions.{name}"
            )
        cols.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    cols.append(_succeeded(schema))
    if log.select(pl.col("run_at").null_count()).collect(engine="streaming").item():
        row = log.with_row_index("row").filter(pl.col("run_at").is_null()).head(1)
        raise SchemaError(
            "is empty", field="decisions.run_at", row=row.select("row").collect().item() + 1
        )
    check_log_ids(log, graph.node_ids, field="decisions.unique_id")
    return log.select(cols)


def _built(schema: pl.Schema, scenario: str) -> pl.Expr:
    """``scenario``'s successful builds, on the log's own columns: filtered before any column
    is derived, so the derived ones exist for those rows only."""
    action = pl.col("action")
    if not isinstance(schema["action"], pl.Enum):
        action = action.cast(pl.String)
    return (scenario_column(schema) == scenario) & (action == "build") & _succeeded(schema)


def _start_finish(schema: pl.Schema) -> tuple[pl.Expr, pl.Expr]:
    """A build's start (started_at, else run_at) and finish (finished_at, else its start)."""
    start = pl.coalesce("started_at", "run_at") if "started_at" in schema else pl.col("run_at")
    finish = pl.coalesce("finished_at", start) if "finished_at" in schema else start
    return start, finish


def _succeeded(schema: pl.Schema) -> pl.Expr:
    """True unless the optional ``status`` says the build failed (no string per row for Enums)."""
    if "status" not in schema:
        return pl.lit(True).alias("ok")
    dtype = schema["status"]
    if isinstance(dtype, pl.Enum):
        cats = dtype.categories.to_list()
        bad = [i for i, c in enumerate(cats) if c in FAILED_STATUSES]
        return (~pl.col("status").to_physical().is_in(bad)).fill_null(True).alias("ok")
    return (
        (~pl.col("status").cast(pl.String).is_in(list(FAILED_STATUSES))).fill_null(True).alias("ok")
    )


def _window(
    frame: pl.LazyFrame, schema: pl.Schema, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    if start is None:
        start = frame.select(pl.col("run_at").min()).collect(engine="streaming").item()
    if end is None:
        bounds = pl.max_horizontal(_start_finish(schema))
        end = frame.select(bounds.max()).collect(engine="streaming").item()
    if start is None or end is None:
        raise SchemaError("the decision log is empty; pass start= and end=", field="decisions")
    _us(start), _us(end)
    if end < start:
        raise SchemaError(f"window ends ({end}) before it starts ({start})", field="end")
    return start.astimezone(UTC), end.astimezone(UTC)


def _arrivals(arrivals: pl.DataFrame, graph: StalenessGraph) -> tuple[np.ndarray, np.ndarray]:
    table = validate(arrivals, "source_arrivals")
    ids = table.get_column("unique_id")
    index = {uid: i for i, uid in enumerate(graph.node_ids)}
    unknown = ~ids.is_in(list(graph.node_ids))
    if unknown.any():
        row = int(unknown.arg_true()[0]) + 1
        raise SchemaError(
            f"{ids.filter(unknown)[0]!r} is not a node of the project",
            field="source_arrivals.unique_id",
            row=row,
        )
    frame = (
        table.select(
            pl.col("unique_id").replace_strict(index, return_dtype=pl.Int64).alias("node"),
            pl.col("arrived_at").dt.epoch("us").alias("t"),
        )
        .unique()
        .sort("node", "t")
    )
    nodes = frame.get_column("node").to_numpy()
    not_source = graph.kind[nodes] != KIND_SOURCE
    if not_source.any():
        raise SchemaError(
            f"{graph.node_ids[nodes[not_source][0]]!r} is not a source; arrivals are for sources",
            field="source_arrivals.unique_id",
        )
    ptr = np.zeros(len(graph.node_ids) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(nodes, minlength=len(graph.node_ids)))
    return ptr, frame.get_column("t").to_numpy().astype(np.int64)


def _config_for(
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None,
    scenario: str,
    project: Project,
) -> FreshnessConfig:
    if freshness is None:
        return FreshnessConfig.from_project(project)
    if isinstance(freshness, FreshnessConfig):
        return freshness
    cfg = freshness.get(scenario)
    return cfg if cfg is not None else FreshnessConfig.from_project(project)


def _tiers(
    cfg: FreshnessConfig, graph: StalenessGraph, slas: SlaTargets | None = None
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    names: dict[str, int] = {}
    tier_of = np.zeros(len(graph.node_ids), dtype=np.int64)
    sla = np.full(len(graph.node_ids), np.nan)
    for i in np.flatnonzero(graph.measured):
        uid = graph.node_ids[i]
        nf = cfg.for_node(uid)
        group = None if slas is None else slas.group.get(uid)
        tier = nf.tier or group or UNTIERED
        tier_of[i] = names.setdefault(tier, len(names))
        declared = nf.sla_s if slas is None else slas.sla_s.get(uid)
        if declared is not None:
            sla[i] = float(declared)
    if not names:
        names[UNTIERED] = 0
    return tuple(names), tier_of, sla


def _feed(
    replay: StalenessReplay,
    log: pl.LazyFrame,
    schema: pl.Schema,
    scenario: str,
    graph: StalenessGraph,
    *,
    in_order: bool,
) -> bool:
    """Feed ``scenario``'s successful builds in the window to ``replay`` a batch at a time.
    ``in_order``: replay each batch's events up to its last ``run_at`` at once (a year's hourly
    what-if never holds its tens of millions of builds); False when a build starts before a
    point already replayed to (the log is not in run order; feed again with
    ``in_order=False``, which keeps every build until the end)."""
    start, finish = _start_finish(schema)
    instant = "finished_at" not in schema and "started_at" not in schema
    query = (
        log.filter(_built(schema, scenario))
        .select(
            "unique_id",
            start.dt.epoch("us").alias("s"),
            finish.dt.epoch("us").alias("f"),
            pl.col("run_at").dt.epoch("us").alias("r"),
        )
        .filter((pl.col("s") > replay.t0_us) & (pl.col("s") <= replay.t1_us))
    )
    reached = None
    for batch in query.collect_batches(chunk_size=_BATCH_ROWS, maintain_order=True):
        if not batch.height:
            continue
        node = node_codes(
            batch.get_column("unique_id"), graph.node_ids, field="decisions.unique_id"
        )
        s = batch.get_column("s").to_numpy()
        if in_order and reached is not None and int(s.min()) < reached:
            return False
        f = s if instant else np.maximum(batch.get_column("f").to_numpy(), s)
        if in_order:
            last_run = int(batch.get_column("r").max())
            reached = last_run if reached is None else max(reached, last_run)
        replay.add(node, s, f, upto=reached)
    return True
