"""The decision log reduced for :mod:`saosim.metrics.tables`: three small aggregates, one pass.

Every metric is a sum over rows grouped either by (scenario, node, action) or by (scenario,
run), plus the distinct (table, day) pairs with a reuse for the per-table fee. :func:`prepare`
computes those three aggregates once (polars, no string made per decision row: ``unique_id``
becomes its position in ``project.order``), and every metric frame is built from them, so a log
of 170 M rows is scanned once whatever frames are asked for.

>>> _profiles(["baseline", "dbt_state", "tuned"], None, "baseline")
{'baseline': 'baseline', 'dbt_state': 'dbt_state', 'tuned': 'sao'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from saosim.cost.rates import CostModel
from saosim.errors import SchemaError
from saosim.metrics.columns import check_log_ids, log_schema, scenario_column
from saosim.metrics.log_pass import LogPass, Rates, day_span
from saosim.metrics.staleness import UNTIERED, _config_for
from saosim.project.graph import Project
from saosim.project.slas import SlaTargets

__all__ = ["KIND_TABLE", "KIND_TEST", "KIND_VIEW", "Prepared", "prepare", "tier_frame"]

_PROFILES = ("baseline", "sao", "dbt_state", "orchestra")
_BILLED_ACTIONS = ("build", "run")
#: rows per batch of the pass: per-batch work is still noise (4 M rows took 0.25 GB more)
_BATCH_ROWS = 1 << 20
#: node kinds: buildable tables (models that are not views/ephemeral, seeds, snapshots), views,
#: data tests; everything else (sources, ephemerals, exposures) is 0
KIND_TABLE, KIND_VIEW, KIND_TEST = 1, 2, 3


@dataclass(frozen=True, eq=False)
class Prepared:
    """The log's aggregates. ``by_node``: scenario, node, action, n, billed_s, cost_usd.
    ``by_run``: scenario, run_id, run_at, billed_s, cost_usd, node_builds, reuses, test_runs,
    overhead_usd. ``reused_tables``: scenario, tables_reused_days. ``nodes``: node, unique_id,
    name, resource_type, kind. ``by_day``: scenario, day, models_selected (distinct buildable
    nodes a run selected that UTC day), models_not_rebuilt (of those, not built that day)."""

    cost_model: CostModel
    profiles: dict[str, str]
    by_node: pl.DataFrame
    by_run: pl.DataFrame
    reused_tables: pl.DataFrame
    nodes: pl.DataFrame
    by_day: pl.DataFrame


def _profiles(scenarios: Iterable[str], profiles: Mapping[str, str] | None, baseline: str):
    out = {}
    for s in scenarios:
        if profiles and s in profiles:
            out[s] = str(profiles[s])
        elif s == baseline:
            out[s] = "baseline"
        else:
            out[s] = s if s in _PROFILES else "sao"
    return out


def _kinds(project: Project) -> np.ndarray:
    kind = np.zeros(len(project.order), dtype=np.uint8)
    for i, uid in enumerate(project.order):
        node = project.nodes[uid]
        if node.is_test:
            kind[i] = KIND_TEST
        elif node.is_buildable and not node.is_ephemeral:
            kind[i] = KIND_VIEW if node.materialization == "view" else KIND_TABLE
    return kind


def prepare(
    decisions: pl.DataFrame | pl.LazyFrame,
    project: Project,
    cost_model: CostModel | None,
    profiles: Mapping[str, str] | None,
    baseline: str,
) -> Prepared:
    """Check the log and reduce it to the aggregates (see the module docstring) in one pass
    over its columns (:mod:`saosim.metrics.log_pass`). A scanned log is read a few million
    rows at a time, never whole."""
    log = decisions.lazy()
    schema = log_schema(log)
    for column in ("run_id", "unique_id", "action", "run_at"):
        if column not in schema:
            raise SchemaError("required column is missing (table decisions)", field=column)
    cost_model = cost_model or CostModel()
    order = project.order
    kinds = _kinds(project)
    at_us = pl.col("run_at").dt.epoch("us")
    span = log.select(
        at_us.min().alias("lo"), at_us.max().alias("hi"), at_us.null_count().alias("nulls")
    ).collect(engine="streaming")
    lo, hi, nulls = span.row(0)
    if nulls:
        row = log.with_row_index("row").filter(pl.col("run_at").is_null()).select("row")
        first = row.head(1).collect().item() + 1
        raise SchemaError("is empty", field="decisions.run_at", row=first)
    day0, n_days = day_span(lo, hi)

    def profile_of(scenario: str | None) -> str:
        return _profiles([scenario or ""], profiles, baseline)[scenario or ""]

    usd_per_s = cost_model.usd_per_second if cost_model.basis == "runtime" else 0.0
    accumulators = LogPass(
        kinds=kinds,
        position=project.position,
        rates=Rates(1.0 / cost_model.concurrency, usd_per_s, cost_model.basis == "runtime"),
        unbilled_view=lambda scenario: not cost_model.bills_views(profile_of(scenario)),
        day0=day0,
        n_days=n_days,
    )
    query = log.select(
        scenario_column(schema).alias("scenario"),
        "run_id",
        "unique_id",
        "action",
        at_us.alias("run_at_us"),
        *[
            (pl.col(c) if c in schema else pl.lit(None))
            .cast(pl.Float64)
            .fill_null(float("nan"))
            .alias(c)
            for c in ("runtime_s", "cost_usd")
        ],
    )
    for batch in query.collect_batches(chunk_size=_BATCH_ROWS, maintain_order=True):
        accumulators.add(batch)
        if accumulators.unknown_node:
            check_log_ids(log, order, field="decisions.unique_id")
    if accumulators.missing:
        raise SchemaError(
            "a build/run row has neither cost_usd nor runtime_s on the runtime basis; price the "
            "decisions with saosim.cost.runtime.fit_costs(...).cost_usd_array",
            field="decisions.cost_usd",
            row=_first_unpriced_row(log, schema, project, cost_model, profile_of),
        )
    names = [s or "" for s in accumulators.scenarios.values]
    profiles = {s: profile_of(s) for s in names}
    by_run = accumulators.by_run()
    state_aware = np.array([profiles[s or ""] != "baseline" for s in by_run.get_column("scenario")])
    overhead = cost_model.run_overhead_usd_array(
        by_run.get_column("billed_s").to_numpy(), state_aware
    )
    run_at = pl.Datetime("us", getattr(schema["run_at"], "time_zone", None))
    nodes = pl.DataFrame(
        {
            "node": np.arange(len(order), dtype=np.int64),
            "unique_id": list(order),
            "name": [project.nodes[u].name for u in order],
            "resource_type": [project.nodes[u].resource_type for u in order],
            "kind": kinds,
        }
    )
    return Prepared(
        cost_model=cost_model,
        profiles=profiles,
        by_node=accumulators.by_node(),
        by_run=by_run.select(
            "scenario",
            "run_id",
            pl.col("run_at_us").cast(run_at).cast(schema["run_at"]).alias("run_at"),
            pl.exclude("scenario", "run_id", "run_at_us"),
        ).with_columns(pl.Series("overhead_usd", overhead, dtype=pl.Float64)),
        reused_tables=accumulators.reused_tables(),
        nodes=nodes,
        by_day=accumulators.by_day().with_columns(pl.from_epoch("day", time_unit="d")),
    )


def _first_unpriced_row(
    log: pl.LazyFrame, schema: pl.Schema, project: Project, cost_model: CostModel, profile_of
) -> int:
    """The 1-based row of the first build/run row that is billed and has no price: only
    looked for when the pass found one, for the error message."""
    kinds = pl.Series(_kinds(project), dtype=pl.UInt8)
    node = pl.col("unique_id").cast(pl.String).cast(pl.Enum(list(project.order)))
    scenario = scenario_column(schema).cast(pl.String).fill_null("")
    unbilled = [s for s in log.select(scenario.unique()).collect(engine="streaming").to_series() if
                not cost_model.bills_views(profile_of(s))]  # fmt: skip
    view = pl.lit(kinds).gather(node.to_physical()) == KIND_VIEW
    billed = pl.col("action").cast(pl.String).is_in(_BILLED_ACTIONS) & ~(
        view & scenario.is_in(unbilled)
    )
    price = pl.col("cost_usd") if "cost_usd" in schema else pl.lit(None, dtype=pl.Float64)
    if cost_model.basis == "runtime" and "runtime_s" in schema:
        price = pl.coalesce(price.fill_nan(None), pl.col("runtime_s"))
    unpriced = billed & price.cast(pl.Float64).fill_nan(None).is_null()
    first = log.with_row_index("row").filter(unpriced).select("row").head(1).collect()
    return first.item() + 1


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """An aggregate with ``scenario`` as plain strings (the log may hold an Enum)."""
    return frame.with_columns(pl.col("scenario").cast(pl.String))


def tier_frame(
    project: Project, freshness, scenarios: Iterable[str], slas: SlaTargets | None = None
) -> pl.DataFrame:
    """scenario, node, tier for every node of the project: the scenario's tier, else the group
    of the comparison's SLA that covers the node, else ``untiered``."""
    groups = {} if slas is None else slas.group
    rows = []
    for s in scenarios:
        cfg = _config_for(freshness, s, project)
        for i, uid in enumerate(project.order):
            rows.append((s, i, cfg.for_node(uid).tier or groups.get(uid) or UNTIERED))
    return pl.DataFrame(
        rows, schema={"scenario": pl.String, "node": pl.Int64, "tier": pl.String}, orient="row"
    )


def node_counts(
    prep: Prepared, project: Project, freshness, slas: SlaTargets | None = None
) -> pl.DataFrame:
    """One row per (scenario, node): action counts, billed hours, dollars, id, name, tier."""
    counts = prep.by_node.group_by("scenario", "node").agg(
        *[
            pl.col("n").filter(pl.col("action") == action).sum().alias(name)
            for action, name in (
                ("build", "builds"),
                ("run", "test_runs"),
                ("reuse", "reuses"),
                ("skip", "skips"),
            )
        ],
        (pl.col("billed_s").sum() / 3600).alias("billed_hours"),
        pl.col("cost_usd").sum(),
    )
    return counts.join(prep.nodes, on="node", how="left").join(
        tier_frame(project, freshness, prep.profiles, slas), on=["scenario", "node"], how="left"
    )
