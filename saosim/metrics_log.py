"""The decision log prepared for :mod:`saosim.metrics`: node codes, billing, per-run costs.

Internal to the metrics: every function takes the log as the simulator wrote it and returns
small polars frames; nothing here makes a string per decision row.

>>> _profiles(["baseline", "dbt_state", "tuned"], None, "baseline")
{'baseline': 'baseline', 'dbt_state': 'dbt_state', 'tuned': 'sao'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import polars as pl

from saosim.errors import SchemaError
from saosim.graph import Project
from saosim.rates import CostModel
from saosim.schema import DECISION_ACTIONS
from saosim.staleness import UNTIERED, _config_for, node_codes, scenario_column

__all__ = ["by_node", "named", "run_costs", "setup"]

_PROFILES = ("baseline", "sao", "dbt_state", "orchestra")
_BILLED_ACTIONS = ("build", "run")


def _prepared(
    decisions: pl.DataFrame,
    project: Project,
    cost_model: CostModel,
    profiles: Mapping[str, str],
) -> pl.DataFrame:
    """The log with node codes and attributes, billed seconds and dollars per row.

    No string is made per row: ``unique_id`` becomes its position in ``project.order``
    (``node``); ``scenario``/``action`` stay Enum or Categorical when they are.
    """
    for column in ("run_id", "unique_id", "action", "run_at"):
        if column not in decisions.columns:
            raise SchemaError("required column is missing (table decisions)", field=column)
    order = project.order
    node = node_codes(decisions.get_column("unique_id"), order, field="decisions.unique_id")
    nodes = [project.nodes[u] for u in order]
    buildable = np.array([n.is_buildable and not n.is_ephemeral for n in nodes])
    is_test = np.array([n.is_test for n in nodes])
    is_view = np.array([n.materialization == "view" for n in nodes])
    action = decisions.schema["action"]
    keep = isinstance(action, pl.Enum) and set(DECISION_ACTIONS) <= set(action.categories)
    frame = decisions.select(
        scenario_column(decisions),
        pl.col("run_id"),
        pl.col("action") if keep else pl.col("action").cast(pl.String),
        pl.col("run_at"),
        *[
            (pl.col(c) if c in decisions.columns else pl.lit(None)).cast(pl.Float64).alias(c)
            for c in ("runtime_s", "cost_usd")
        ],
    ).with_columns(
        pl.Series("node", node, dtype=pl.Int64),
        pl.Series("buildable", buildable[node]),
        pl.Series("is_test", is_test[node]),
        pl.Series("is_view", is_view[node]),
    )
    unbilled_view = pl.lit(False)
    for scenario, profile in profiles.items():
        if not cost_model.bills_views(profile):
            unbilled_view = unbilled_view | (pl.col("scenario") == scenario)
    billed_row = pl.col("action").is_in(_BILLED_ACTIONS) & ~(pl.col("is_view") & unbilled_view)
    fallback = (
        pl.col("runtime_s") / cost_model.concurrency * cost_model.usd_per_second
        if cost_model.basis == "runtime"
        else pl.lit(None, dtype=pl.Float64)
    )
    frame = frame.with_columns(
        pl.when(billed_row)
        .then(pl.col("runtime_s").fill_null(0.0) / cost_model.concurrency)
        .otherwise(0.0)
        .alias("billed_s"),
        pl.when(billed_row)
        .then(pl.coalesce("cost_usd", fallback))
        .otherwise(0.0)
        .alias("row_cost_usd"),
    )
    missing = frame.get_column("row_cost_usd").is_null()
    if missing.any():
        row = int(missing.arg_true()[0]) + 1
        raise SchemaError(
            "a build/run row has neither cost_usd nor runtime_s on the runtime basis; price the "
            "decisions with saosim.cost.fit_costs(...).cost_usd_array",
            field="decisions.cost_usd",
            row=row,
        )
    return frame


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """An aggregate with ``scenario`` as plain strings (the log may hold an Enum)."""
    return frame.with_columns(pl.col("scenario").cast(pl.String))


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


def setup(decisions, project, cost_model, profiles, baseline):
    cost_model = cost_model or CostModel()
    scenarios = (
        [str(x) for x in decisions.select(scenario_column(decisions)).to_series().unique()]
        if "scenario" in decisions.columns
        else [""]
    )
    profiles = _profiles(scenarios, profiles, baseline)
    return cost_model, profiles, _prepared(decisions, project, cost_model, profiles)


def run_costs(frame: pl.DataFrame, cost_model: CostModel, profiles: Mapping[str, str]):
    runs = named(
        frame.group_by("scenario", "run_id").agg(
            pl.col("billed_s").sum(), pl.col("row_cost_usd").sum(), pl.col("run_at").min()
        )
    )
    state_aware = np.array([profiles[s] != "baseline" for s in runs.get_column("scenario")])
    overhead = cost_model.run_overhead_usd_array(
        runs.get_column("billed_s").to_numpy(), state_aware
    )
    return runs.with_columns(pl.Series("overhead_usd", overhead, dtype=pl.Float64))


def _tier_frame(project: Project, freshness, scenarios) -> pl.DataFrame:
    rows = []
    for s in scenarios:
        cfg = _config_for(freshness, s, project)
        for i, uid in enumerate(project.order):
            rows.append((s, i, cfg.for_node(uid).tier or UNTIERED))
    return pl.DataFrame(
        rows, schema={"scenario": pl.String, "node": pl.Int64, "tier": pl.String}, orient="row"
    )


def by_node(frame: pl.DataFrame, project: Project, freshness, profiles) -> pl.DataFrame:
    """Counts and dollars per (scenario, node), with the node's id, name, type and tier."""
    counts = frame.group_by("scenario", "node").agg(
        (pl.col("action") == "build").sum().cast(pl.Int64).alias("builds"),
        (pl.col("action") == "run").sum().cast(pl.Int64).alias("test_runs"),
        (pl.col("action") == "reuse").sum().cast(pl.Int64).alias("reuses"),
        (pl.col("action") == "skip").sum().cast(pl.Int64).alias("skips"),
        pl.col("buildable").first(),
        (pl.col("billed_s").sum() / 3600).alias("billed_hours"),
        pl.col("row_cost_usd").sum().alias("cost_usd"),
    )
    order = project.order
    ids = pl.DataFrame(
        {
            "node": np.arange(len(order), dtype=np.int64),
            "unique_id": list(order),
            "name": [project.nodes[u].name for u in order],
            "resource_type": [project.nodes[u].resource_type for u in order],
        }
    )
    tiers = _tier_frame(project, freshness, profiles)
    return (
        named(counts)
        .join(ids, on="node", how="left")
        .join(tiers, on=["scenario", "node"], how="left")
    )
