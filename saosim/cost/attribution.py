"""Per-node dollars from a query history (``saosim ingest … --query-history FILE``), so that
``cost_from_history: true`` prices each build with what its queries cost.

A dbt query names its node and invocation in dbt's query comment (or ``QUERY_TAG`` / job
labels); the invocation is the run (``runs.run_id`` of run_results-based histories). A query's
dollars, by vendor:

- BigQuery: ``total_bytes_billed`` × ``usd_per_tib`` (on-demand) or ``total_slot_ms`` ×
  ``usd_per_slot_hour`` (``billing: bigquery_editions``);
- Snowflake: ``CREDITS_ATTRIBUTED_COMPUTE`` × ``usd_per_credit`` when the export has it (from
  ``QUERY_ATTRIBUTION_HISTORY``), else its elapsed time × the warehouse's $/hour;
- Databricks: elapsed time × the warehouse's DBU/hour × ``usd_per_dbu``.

Idle time is nobody's query: these dollars add up to less than the bill (the reconciliation
shows by how much).

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from saosim.cost.billing import Billing
>>> t = datetime(2025, 1, 1, tzinfo=UTC)
>>> q = pl.DataFrame({"vendor": ["snowflake"], "started_at": [t],
...     "finished_at": [datetime(2025, 1, 1, 0, 30, tzinfo=UTC)], "node_id": ["model.a.m"],
...     "invocation_id": ["inv"], "is_dbt": [True], "bytes_billed": [None], "slot_ms": [None],
...     "credits": [None]}, schema_overrides={"bytes_billed": pl.Float64, "slot_ms": pl.Float64,
...     "credits": pl.Float64})
>>> query_costs(q, Billing()).rows()   # 30 min on an M at $12/h
[('inv', 'model.a.m', 6.0, 1)]
"""

from __future__ import annotations

import dataclasses

import polars as pl

from saosim.cost.billing import Billing
from saosim.inputs.estate import Estate
from saosim.inputs.schema import ID

__all__ = ["query_costs", "with_query_costs"]

_TIB = 2**40


def query_costs(queries: pl.DataFrame, billing: Billing) -> pl.DataFrame:
    """Dollars per (invocation_id, node_id) of dbt's queries: invocation_id, node_id,
    cost_usd, queries."""
    elapsed_h = (pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 3.6e9
    by_time = elapsed_h * billing.usd_per_hour
    if billing.name == "bigquery_editions":
        bigquery = pl.col("slot_ms") / 3.6e6 * billing.usd_per_slot_hour
    else:
        bigquery = pl.col("bytes_billed") / _TIB * billing.usd_per_tib
    usd = (
        pl.when(pl.col("vendor") == "bigquery")
        .then(bigquery)
        .when(pl.col("credits").is_not_null())
        .then(pl.col("credits") * billing.usd_per_unit)
        .otherwise(by_time)
    )
    return (
        queries.filter(pl.col("is_dbt") & pl.col("node_id").is_not_null())
        .group_by("invocation_id", "node_id")
        .agg(usd.fill_null(0.0).sum().alias("cost_usd"), pl.len().cast(pl.Int64).alias("queries"))
        .sort("invocation_id", "node_id", nulls_last=True)
    )


def with_query_costs(
    estate: Estate, queries: pl.DataFrame, billing: Billing
) -> tuple[Estate, int, int]:
    """The estate with ``node_runs.cost`` from its queries' dollars (where a node run's
    ``run_id`` and ``unique_id`` match a query's invocation and node).

    Returns ``(estate, matched, unmatched)``: node runs given a cost, and (invocation, node)
    pairs of the query history that match no node run (another project, or runs not ingested).
    """
    costs = (
        query_costs(queries, billing)
        .rename({"invocation_id": "run_id", "node_id": "unique_id", "cost_usd": "_cost"})
        .with_columns(pl.col("run_id", "unique_id").cast(pl.String).cast(ID))
    )
    node_runs = estate.node_runs.join(
        costs.select("run_id", "unique_id", "_cost"), on=["run_id", "unique_id"], how="left"
    )
    matched = int(node_runs.get_column("_cost").is_not_null().sum())
    node_runs = node_runs.with_columns(pl.coalesce("_cost", "cost").alias("cost")).drop("_cost")
    unmatched = costs.join(estate.node_runs, on=["run_id", "unique_id"], how="anti").height
    return dataclasses.replace(estate, node_runs=node_runs), matched, unmatched
