"""Metrics from a decision log: reuse, cost and savings, staleness and SLA misses.

Every function takes the same arguments and returns a polars frame (``.to_pandas()`` for
pandas users)::

    summarize(decisions, *, project, arrivals, freshness=None, cost_model=None, profiles=None,
              baseline="baseline", start=None, end=None, reuse_fee_scenarios=None,
              live_views=True, staleness_results=None) -> pl.DataFrame   # one row per scenario
    per_model(...same...) -> pl.DataFrame   # one row per (scenario, node that appears)
    per_tier(...same...)  -> pl.DataFrame   # one row per (scenario, tier)
    per_day(...same...)   -> pl.DataFrame   # one row per (scenario, UTC day of run_at)
    report(...same...)    -> Metrics        # all four, computing staleness once
    staleness(decisions, *, project, arrivals, freshness=None, start=None, end=None,
              live_views=True) -> dict[scenario, StalenessResult]   (saosim.metrics.staleness)

Arguments:
    decisions: the ``decisions`` table of one or more scenarios (column ``scenario``; absent
        means one scenario ``""``). Optional column ``status``: a build whose status is
        error/fail/runtime error/skipped reflects no new data (it is still billed).
    project: the DAG. arrivals: the ``source_arrivals`` table.
    freshness: a :class:`~saosim.project.freshness.FreshnessConfig` (tiers and SLAs), or one per
        scenario; default ``FreshnessConfig.from_project(project)``. Models without a tier are
        in tier ``untiered``.
    cost_model: rates and per-run overheads (default :class:`~saosim.cost.rates.CostModel()`).
    profiles: scenario → planner profile; default: the scenario's name when it is a profile
        name, ``baseline`` for the baseline scenario, otherwise ``sao``. Any profile but
        ``baseline`` is state-aware (pays ``metadata_query_s``); ``dbt_state`` bills no views.
    baseline: the scenario savings are measured against (savings are null without it).
    start, end: the staleness window (default: first ``run_at`` to last finish, all scenarios).
    reuse_fee_scenarios: scenarios that pay ``cost_model.table_reuse_fee_usd`` (default all).
    staleness_results: precomputed :func:`staleness` output, to avoid computing it twice.

Definitions (summary columns):
    runs: distinct ``run_id``. node_builds / reuses / skips: decisions on buildable nodes
    (models, seeds, snapshots; ephemerals are ``no_op``). reuse_pct: ``100 × reuses /
    (node_builds + reuses)`` — skips and no-ops are neither. test_runs / tests_reused: data-test
    decisions ``run`` / ``reuse``; test_runs_avoided: the baseline's test_runs minus this
    scenario's. build_cost_usd: sum of ``cost_usd`` of build and run rows (a null is priced as
    ``runtime_s`` on the runtime basis). overhead_usd: per-run overheads of the cost model
    (each run's billed seconds = its billed rows' ``runtime_s ÷ concurrency``). cost_usd =
    build_cost_usd + overhead_usd. savings_usd = baseline cost_usd − cost_usd; savings_pct =
    100 × savings_usd / baseline cost_usd. reuse_fee_usd = fee × distinct (table, UTC day) with
    a reuse (tables: non-view, non-ephemeral models, seeds, snapshots); net_savings_usd =
    savings_usd − reuse_fee_usd. Staleness: see :mod:`saosim.metrics.staleness` (p50/p95 over
    model-time of all measured models; max over models and time; sla_miss_hours summed over
    models).

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> t = datetime(2025, 1, 1, 1, tzinfo=UTC)
>>> log = pl.DataFrame({"scenario": ["baseline", "sao"], "run_id": ["r1", "r1"],
...     "run_at": [t, t], "unique_id": ["model.demo.m"] * 2, "action": ["build", "reuse"],
...     "reason": ["stateless", "no_new_data"], "runtime_s": [60.0, None], "cost_usd": [0.2, None]})
>>> arr = pl.DataFrame({"unique_id": ["source.demo.raw.a"], "arrived_at": [t]})
>>> s = summarize(log, project=p, arrivals=arr)
>>> s.select("scenario", "reuse_pct", "cost_usd", "savings_usd").rows()
[('baseline', 0.0, 0.2, 0.0), ('sao', 100.0, 0.0, 0.2)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from saosim.cost.rates import CostModel
from saosim.metrics.log import KIND_TABLE, KIND_TEST, KIND_VIEW, Prepared, node_counts, prepare
from saosim.metrics.staleness import BREACH_COLUMNS, BREACH_SCHEMA, StalenessResult, staleness
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project
from saosim.project.slas import SlaTargets

__all__ = ["Metrics", "per_day", "per_model", "per_tier", "report", "staleness", "summarize"]


@dataclass(frozen=True, eq=False)
class Metrics:
    """All metric frames of one decision log (see the module docstring)."""

    summary: pl.DataFrame
    per_model: pl.DataFrame
    per_tier: pl.DataFrame
    per_day: pl.DataFrame
    staleness: Mapping[str, StalenessResult]


def report(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    cost_model: CostModel | None = None,
    profiles: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    start: datetime | None = None,
    end: datetime | None = None,
    reuse_fee_scenarios: Iterable[str] | None = None,
    live_views: bool = True,
    staleness_results: Mapping[str, StalenessResult] | None = None,
    slas: SlaTargets | None = None,
) -> Metrics:
    """Every metric frame at once: the log is scanned once and staleness computed once.

    >>> log, project, arrivals = _example()
    >>> m = report(log, project=project, arrivals=arrivals)
    >>> m.summary.height, sorted(m.staleness)
    (2, ['baseline', 'sao'])
    """
    prep = prepare(decisions, project, cost_model, profiles, baseline)
    stale = _stale(
        decisions, project, arrivals, freshness, start, end, live_views, staleness_results, slas
    )
    return Metrics(
        summary=_summary(prep, stale, baseline, reuse_fee_scenarios),
        per_model=_per_model(prep, project, freshness, stale, slas),
        per_tier=_per_tier(prep, project, freshness, stale, slas),
        per_day=_per_day(prep, stale),
        staleness=stale,
    )


def summarize(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    cost_model: CostModel | None = None,
    profiles: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    start: datetime | None = None,
    end: datetime | None = None,
    reuse_fee_scenarios: Iterable[str] | None = None,
    live_views: bool = True,
    staleness_results: Mapping[str, StalenessResult] | None = None,
    slas: SlaTargets | None = None,
) -> pl.DataFrame:
    """One row per scenario: runs, builds, reuses, cost, savings, staleness (module docstring)."""
    prep = prepare(decisions, project, cost_model, profiles, baseline)
    stale = _stale(
        decisions, project, arrivals, freshness, start, end, live_views, staleness_results, slas
    )
    return _summary(prep, stale, baseline, reuse_fee_scenarios)


def per_model(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    cost_model: CostModel | None = None,
    profiles: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    start: datetime | None = None,
    end: datetime | None = None,
    reuse_fee_scenarios: Iterable[str] | None = None,
    live_views: bool = True,
    staleness_results: Mapping[str, StalenessResult] | None = None,
    slas: SlaTargets | None = None,
) -> pl.DataFrame:
    """One row per (scenario, node in the log): counts, dollars, staleness (null if unmeasured).

    >>> log, project, arrivals = _example()
    >>> out = per_model(log, project=project, arrivals=arrivals)
    >>> out.select("scenario", "builds", "reuses", "cost_usd").rows()
    [('baseline', 2, 0, 0.4), ('sao', 1, 1, 0.2)]
    """
    prep = prepare(decisions, project, cost_model, profiles, baseline)
    stale = _stale(
        decisions, project, arrivals, freshness, start, end, live_views, staleness_results, slas
    )
    return _per_model(prep, project, freshness, stale, slas)


def per_tier(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    cost_model: CostModel | None = None,
    profiles: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    start: datetime | None = None,
    end: datetime | None = None,
    reuse_fee_scenarios: Iterable[str] | None = None,
    live_views: bool = True,
    staleness_results: Mapping[str, StalenessResult] | None = None,
    slas: SlaTargets | None = None,
) -> pl.DataFrame:
    """One row per (scenario, tier): builds, reuses, reuse_pct, dollars, staleness, SLA misses.

    Dollars here are the build/run rows of the tier's nodes (data tests count in ``untiered``);
    per-run overheads are not split by tier.

    >>> log, project, arrivals = _example()
    >>> out = per_tier(log, project=project, arrivals=arrivals)
    >>> out.select("scenario", "tier", "reuse_pct").rows()
    [('baseline', 'untiered', 0.0), ('sao', 'untiered', 50.0)]
    """
    prep = prepare(decisions, project, cost_model, profiles, baseline)
    stale = _stale(
        decisions, project, arrivals, freshness, start, end, live_views, staleness_results, slas
    )
    return _per_tier(prep, project, freshness, stale, slas)


def per_day(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    arrivals: pl.DataFrame,
    freshness: FreshnessConfig | Mapping[str, FreshnessConfig] | None = None,
    cost_model: CostModel | None = None,
    profiles: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    start: datetime | None = None,
    end: datetime | None = None,
    reuse_fee_scenarios: Iterable[str] | None = None,
    live_views: bool = True,
    staleness_results: Mapping[str, StalenessResult] | None = None,
    slas: SlaTargets | None = None,
) -> pl.DataFrame:
    """One row per (scenario, UTC day of ``run_at``): runs, builds, reuses, reuse_pct, test
    runs, dollars (overheads by the run's day), mean staleness over all measured models and
    SLA-miss hours.

    >>> log, project, arrivals = _example()
    >>> out = per_day(log, project=project, arrivals=arrivals)
    >>> out.select("scenario", "runs", "cost_usd").rows()
    [('baseline', 2, 0.4), ('sao', 2, 0.2)]
    """
    prep = prepare(decisions, project, cost_model, profiles, baseline)
    stale = _stale(
        decisions, project, arrivals, freshness, start, end, live_views, staleness_results, slas
    )
    return _per_day(prep, stale)


def _stale(decisions, project, arrivals, freshness, start, end, live_views, results, slas):
    if results is not None:
        return results
    return staleness(
        decisions,
        project=project,
        arrivals=arrivals,
        freshness=freshness,
        start=start,
        end=end,
        live_views=live_views,
        slas=slas,
    )


def _reuse_pct(builds: str = "node_builds", reuses: str = "reuses") -> pl.Expr:
    total = pl.col(builds) + pl.col(reuses)
    return (
        pl.when(total > 0).then(100.0 * pl.col(reuses) / total).otherwise(None).alias("reuse_pct")
    )


def _summary(
    prep: Prepared,
    stale: Mapping[str, StalenessResult],
    baseline: str,
    reuse_fee_scenarios: Iterable[str] | None,
) -> pl.DataFrame:
    model = prep.cost_model
    fee_scenarios = set(prep.profiles) if reuse_fee_scenarios is None else set(reuse_fee_scenarios)
    runs = prep.by_run.group_by("scenario").agg(
        pl.len().alias("runs"),
        pl.col("overhead_usd").sum(),
        (pl.col("billed_s").sum() / 3600).alias("billed_hours"),
    )
    kinds = prep.by_node.join(prep.nodes.select("node", "kind"), on="node", how="left")
    buildable = pl.col("kind").is_in([KIND_TABLE, KIND_VIEW])
    test = pl.col("kind") == KIND_TEST

    def count(mask: pl.Expr, action: str, name: str) -> pl.Expr:
        return pl.col("n").filter(mask & (pl.col("action") == action)).sum().alias(name)

    counts = kinds.group_by("scenario").agg(
        count(buildable, "build", "node_builds"),
        count(buildable, "reuse", "reuses"),
        count(buildable, "skip", "skips"),
        count(test, "run", "test_runs"),
        count(test, "reuse", "tests_reused"),
        pl.col("cost_usd").sum().alias("build_cost_usd"),
    )
    out = (
        counts.join(runs, on="scenario", how="left")
        .join(prep.reused_tables, on="scenario", how="left")
        .with_columns(
            pl.col("scenario")
            .replace_strict(prep.profiles, return_dtype=pl.String)
            .alias("profile"),
            _reuse_pct(),
            (pl.col("build_cost_usd") + pl.col("overhead_usd")).alias("cost_usd"),
            pl.when(pl.col("scenario").is_in(list(fee_scenarios)))
            .then(pl.col("tables_reused_days").fill_null(0) * model.table_reuse_fee_usd)
            .otherwise(0.0)
            .alias("reuse_fee_usd"),
        )
        .sort("scenario")
    )
    base = out.filter(pl.col("scenario") == baseline)
    if base.height:
        base_cost = base.get_column("cost_usd")[0]
        base_tests = base.get_column("test_runs")[0]
        savings = pl.lit(base_cost) - pl.col("cost_usd")
        out = out.with_columns(
            (pl.lit(base_tests) - pl.col("test_runs")).alias("test_runs_avoided"),
            savings.alias("savings_usd"),
            (100.0 * savings / base_cost if base_cost else pl.lit(None, pl.Float64)).alias(
                "savings_pct"
            ),
        )
    else:
        out = out.with_columns(
            pl.lit(None, pl.Int64).alias("test_runs_avoided"),
            pl.lit(None, pl.Float64).alias("savings_usd"),
            pl.lit(None, pl.Float64).alias("savings_pct"),
        )
    out = out.with_columns(
        (pl.col("savings_usd") - pl.col("reuse_fee_usd")).alias("net_savings_usd")
    )
    frame = pl.DataFrame(
        [
            {"scenario": s, **r.summary(), **_split(r, stale.get(baseline))}
            for s, r in stale.items()
        ],
        schema={
            "scenario": pl.String,
            **{k: pl.Float64 for k in _STALE_COLUMNS},
            **BREACH_SCHEMA,
            **{k: pl.Float64 for k in _SPLIT_COLUMNS},
        },
    )
    out = out.join(frame, on="scenario", how="left").join(
        _daily_not_rebuilt(prep), on="scenario", how="left"
    )
    return out.select(_SUMMARY_COLUMNS).with_columns(pl.col(c).cast(pl.Int64) for c in _INT_COLUMNS)


_STALE_COLUMNS = (
    "staleness_mean_hours",
    "staleness_p50_hours",
    "staleness_p95_hours",
    "staleness_max_hours",
    "sla_miss_hours",
)
_SPLIT_COLUMNS = ("sla_breach_baseline_pct", "sla_breach_added_pct")
_INT_COLUMNS = (
    "runs",
    "node_builds",
    "reuses",
    "skips",
    "test_runs",
    "tests_reused",
    "test_runs_avoided",
)
_SUMMARY_COLUMNS = (
    "scenario",
    "profile",
    "runs",
    "node_builds",
    "reuses",
    "skips",
    "reuse_pct",
    "test_runs",
    "tests_reused",
    "test_runs_avoided",
    "billed_hours",
    "build_cost_usd",
    "overhead_usd",
    "cost_usd",
    "savings_usd",
    "savings_pct",
    "reuse_fee_usd",
    "net_savings_usd",
    *_STALE_COLUMNS,
    *BREACH_COLUMNS,
    *_SPLIT_COLUMNS,
    "daily_not_rebuilt_pct",
)


def _split(result: StalenessResult, base: StalenessResult | None) -> dict[str, float | None]:
    """A scenario's breach share split into what the baseline already misses and what it adds.

    Per model, breach time up to the baseline's own breach time of that model counts as
    already missed; the rest is added. The two add up to ``sla_breach_pct``.
    """
    has = np.isfinite(result.sla_s)
    n = int(has.sum())
    if base is None or n == 0 or base.node_ids != result.node_ids:
        return dict.fromkeys(_SPLIT_COLUMNS)
    mine, theirs = result.sla_miss_s[has], base.sla_miss_s[has]
    total = max(n * result.window_s, 1e-12)
    already = float(np.minimum(mine, theirs).sum())
    added = float(np.maximum(mine - theirs, 0.0).sum())
    return {
        "sla_breach_baseline_pct": 100.0 * already / total,
        "sla_breach_added_pct": 100.0 * added / total,
    }


def _daily_not_rebuilt(prep: Prepared) -> pl.DataFrame:
    """dbt Labs' measure: the mean over days of the share of selected models not rebuilt."""
    return (
        prep.by_day.filter(pl.col("models_selected") > 0)
        .group_by("scenario")
        .agg(
            (100.0 * pl.col("models_not_rebuilt") / pl.col("models_selected"))
            .mean()
            .alias("daily_not_rebuilt_pct")
        )
    )


def _stale_frame(stale: Mapping[str, StalenessResult], method: str, key: str, **kw) -> pl.DataFrame:
    frames = [
        getattr(r, method)(**kw).with_columns(pl.lit(s).alias("scenario")) for s, r in stale.items()
    ]
    empty = pl.DataFrame(
        schema={"scenario": pl.String, key: pl.Date if key == "day" else pl.String}
    )
    return pl.concat(frames or [empty], how="diagonal")


def _per_model(prep: Prepared, project: Project, freshness, stale, slas=None) -> pl.DataFrame:
    counts = node_counts(prep, project, freshness, slas).drop("node", "kind")
    models = _stale_frame(stale, "per_model", "unique_id").drop("tier", strict=False)
    head = ("scenario", "unique_id", "name", "resource_type", "tier")
    return (
        counts.join(models, on=["scenario", "unique_id"], how="left")
        .sort("scenario", "unique_id")
        .select(*head, pl.exclude(*head))
    )


def _per_tier(prep: Prepared, project: Project, freshness, stale, slas=None) -> pl.DataFrame:
    buildable = pl.col("kind").is_in([KIND_TABLE, KIND_VIEW])
    counts = (
        node_counts(prep, project, freshness, slas)
        .group_by("scenario", "tier")
        .agg(
            pl.col("builds").filter(buildable).sum().alias("node_builds"),
            pl.col("reuses").filter(buildable).sum().alias("reuses"),
            pl.col("cost_usd").sum().alias("build_cost_usd"),
        )
        .with_columns(_reuse_pct())
    )
    return (
        counts.join(
            _stale_frame(stale, "per_tier", "tier"),
            on=["scenario", "tier"],
            how="full",
            coalesce=True,
        )
        .sort("scenario", "tier")
        .select("scenario", "tier", pl.exclude("scenario", "tier"))
    )


def _per_day(prep: Prepared, stale) -> pl.DataFrame:
    counts = (
        prep.by_run.with_columns(pl.col("run_at").dt.date().alias("day"))
        .group_by("scenario", "day")
        .agg(
            pl.len().cast(pl.Int64).alias("runs"),
            pl.col("node_builds").sum(),
            pl.col("reuses").sum(),
            pl.col("test_runs").sum(),
            pl.col("cost_usd").sum().alias("build_cost_usd"),
            pl.col("overhead_usd").sum(),
        )
        .with_columns(
            _reuse_pct(), (pl.col("build_cost_usd") + pl.col("overhead_usd")).alias("cost_usd")
        )
    )
    days = _stale_frame(stale, "per_day", "day", by_tier=False)
    selected = prep.by_day.with_columns(
        pl.when(pl.col("models_selected") > 0)
        .then(100.0 * pl.col("models_not_rebuilt") / pl.col("models_selected"))
        .alias("not_rebuilt_pct")
    )
    return (
        counts.join(days, on=["scenario", "day"], how="full", coalesce=True)
        .join(selected, on=["scenario", "day"], how="left")
        .sort("scenario", "day")
        .select(
            "scenario",
            "day",
            "runs",
            "node_builds",
            "reuses",
            "reuse_pct",
            "test_runs",
            "build_cost_usd",
            "overhead_usd",
            "cost_usd",
            "staleness_mean_hours",
            "sla_miss_hours",
            "models_selected",
            "models_not_rebuilt",
            "not_rebuilt_pct",
        )
    )


def _example() -> tuple[pl.DataFrame, Project, pl.DataFrame]:
    """A two-run log (baseline builds twice, sao reuses the second time) for the examples."""
    from datetime import UTC, timedelta

    t = datetime(2025, 1, 1, 1, tzinfo=UTC)
    project = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    log = pl.DataFrame(
        {
            "scenario": ["baseline", "baseline", "sao", "sao"],
            "run_id": ["r1", "r2", "r1", "r2"],
            "run_at": [t, t + timedelta(hours=1)] * 2,
            "unique_id": ["model.demo.m"] * 4,
            "action": ["build", "build", "build", "reuse"],
            "reason": ["stateless", "stateless", "never_built", "no_new_data"],
            "runtime_s": [60.0, 60.0, 60.0, None],
            "cost_usd": [0.2, 0.2, 0.2, None],
        }
    )
    arrivals = pl.DataFrame({"unique_id": ["source.demo.raw.a"], "arrived_at": [t]})
    return log, project, arrivals
