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
from saosim.inputs.schema import DECISION_ACTIONS
from saosim.metrics.columns import check_log_ids, log_schema, scenario_column
from saosim.metrics.staleness import UNTIERED, _config_for
from saosim.project.graph import Project
from saosim.project.slas import SlaTargets

__all__ = ["KIND_TABLE", "KIND_TEST", "KIND_VIEW", "Prepared", "prepare", "tier_frame"]

_PROFILES = ("baseline", "sao", "dbt_state", "orchestra")
_BILLED_ACTIONS = ("build", "run")
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
    """Check the log and reduce it to the three aggregates (see the module docstring). A
    scanned log is read chunk by chunk (polars' streaming engine), never whole."""
    log = decisions.lazy()
    schema = log_schema(log)
    for column in ("run_id", "unique_id", "action", "run_at"):
        if column not in schema:
            raise SchemaError("required column is missing (table decisions)", field=column)
    cost_model = cost_model or CostModel()
    scenarios = log.select(scenario_column(schema).unique()).collect().to_series()
    profiles = _profiles([str(x) for x in scenarios], profiles, baseline)
    order = project.order
    check_log_ids(log, order, field="decisions.unique_id")
    kinds = _kinds(project)
    action = schema["action"]
    keep = isinstance(action, pl.Enum) and set(DECISION_ACTIONS) <= set(action.categories)
    # a node's position in the project's order, from the ids' categories (no string per row)
    node = pl.col("unique_id").cast(pl.Enum(list(order))).to_physical().cast(pl.Int64)
    frame = log.select(
        scenario_column(schema),
        pl.col("run_id"),
        pl.col("action") if keep else pl.col("action").cast(pl.String),
        pl.col("run_at"),
        *[
            (pl.col(c) if c in schema else pl.lit(None)).cast(pl.Float64).alias(c)
            for c in ("runtime_s", "cost_usd")
        ],
        node.alias("node"),
    ).with_columns(pl.lit(pl.Series(kinds, dtype=pl.UInt8)).gather(pl.col("node")).alias("kind"))
    unbilled_view = pl.lit(False)
    for scenario, profile in profiles.items():
        if not cost_model.bills_views(profile):
            unbilled_view = unbilled_view | (pl.col("scenario") == scenario)
    billed = pl.col("action").is_in(_BILLED_ACTIONS) & ~(
        (pl.col("kind") == KIND_VIEW) & unbilled_view
    )
    fallback = (
        pl.col("runtime_s") / cost_model.concurrency * cost_model.usd_per_second
        if cost_model.basis == "runtime"
        else pl.lit(None, dtype=pl.Float64)
    )
    lf = frame.with_columns(
        pl.when(billed)
        .then(pl.col("runtime_s").fill_null(0.0) / cost_model.concurrency)
        .otherwise(0.0)
        .alias("billed_s"),
        pl.when(billed).then(pl.coalesce("cost_usd", fallback)).otherwise(0.0).alias("row_usd"),
    )
    buildable = pl.col("kind").is_in([KIND_TABLE, KIND_VIEW])
    # (UTC day, node) as one integer: a year of 10,000 models is millions of such groups, and
    # an integer key holds them in a third of the memory a (date, node) pair takes
    n_nodes = max(len(order), 1)
    day = pl.col("run_at").dt.epoch("d").cast(pl.Int64)
    day_node = (day * n_nodes + pl.col("node")).alias("day_node")
    by_node, by_run, reused, by_day = pl.collect_all(
        [
            lf.group_by("scenario", "node", "action").agg(
                pl.len().cast(pl.Int64).alias("n"),
                pl.col("billed_s").sum(),
                pl.col("row_usd").sum().alias("cost_usd"),
                pl.col("row_usd").is_null().sum().alias("missing"),
            ),
            lf.group_by("scenario", "run_id").agg(
                pl.col("run_at").min(),
                pl.col("billed_s").sum(),
                pl.col("row_usd").sum().alias("cost_usd"),
                (buildable & (pl.col("action") == "build"))
                .sum()
                .cast(pl.Int64)
                .alias("node_builds"),
                (buildable & (pl.col("action") == "reuse")).sum().cast(pl.Int64).alias("reuses"),
                ((pl.col("kind") == KIND_TEST) & (pl.col("action") == "run"))
                .sum()
                .cast(pl.Int64)
                .alias("test_runs"),
            ),
            lf.filter((pl.col("action") == "reuse") & (pl.col("kind") == KIND_TABLE))
            .select("scenario", day_node)
            .unique()
            .group_by("scenario")
            .agg(pl.len().cast(pl.Int64).alias("tables_reused_days")),
            # dbt Labs' own measure of SAO: of the models selected on a day, how many were not
            # rebuilt that day
            lf.filter(buildable & pl.col("action").is_in(("build", "reuse", "skip")))
            .group_by("scenario", day_node)
            .agg((pl.col("action") == "build").max().alias("built"))
            .group_by("scenario", (pl.col("day_node") // n_nodes).alias("day"))
            .agg(
                pl.len().cast(pl.Int64).alias("models_selected"),
                (~pl.col("built")).sum().cast(pl.Int64).alias("models_not_rebuilt"),
            )
            .with_columns(pl.from_epoch("day", time_unit="d")),
        ],
        engine="streaming",
        # each aggregate streams its own scan: a shared subplan would be cached whole, as big
        # as the log (measured: 0.6 GB per 10 M rows)
        optimizations=pl.QueryOptFlags(comm_subplan_elim=False),
    )
    if by_node.get_column("missing").sum():
        missing = billed & pl.coalesce("cost_usd", fallback).is_null()
        first = frame.with_row_index("row").filter(missing).select("row").head(1)
        row = first.collect().item() + 1
        raise SchemaError(
            "a build/run row has neither cost_usd nor runtime_s on the runtime basis; price the "
            "decisions with saosim.cost.runtime.fit_costs(...).cost_usd_array",
            field="decisions.cost_usd",
            row=row,
        )
    by_run = named(by_run)
    state_aware = np.array([profiles[s] != "baseline" for s in by_run.get_column("scenario")])
    overhead = cost_model.run_overhead_usd_array(
        by_run.get_column("billed_s").to_numpy(), state_aware
    )
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
        by_node=named(by_node.drop("missing")).with_columns(pl.col("action").cast(pl.String)),
        by_run=by_run.with_columns(pl.Series("overhead_usd", overhead, dtype=pl.Float64)),
        reused_tables=named(reused),
        nodes=nodes,
        by_day=named(by_day),
    )


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
