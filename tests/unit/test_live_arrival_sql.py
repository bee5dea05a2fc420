"""The arrival-history SQL, rendered exactly for every dialect (written once with sqlglot,
identifiers as nodes: a hostile name is quoted, never executed), and the batching rule."""
# ruff: noqa: E501  (the expected SQL is one line per dialect, as the warehouse receives it)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot

from saosim.errors import ConfigError
from saosim.live.arrival_sql import (
    batches_query,
    columns_query,
    dlt_batches_query,
    metadata_query,
    render,
)
from saosim.live.arrivals import batch_ends, parse_since
from saosim.live.metadata import DIALECTS, SourceRelation

REL = SourceRelation("source.p.shop.orders", "analytics", "raw", "orders", "loaded_at")
SINCE = datetime(2025, 1, 1, tzinfo=UTC)

BATCHES = {
    "duckdb": "SELECT CAST(MIN(_fivetran_synced) AS TEXT) AS first_at, CAST(MAX(_fivetran_synced) AS TEXT) AS last_at FROM analytics.raw.orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ) GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)",
    "postgres": "SELECT CAST(MIN(_fivetran_synced) AS TEXT) AS first_at, CAST(MAX(_fivetran_synced) AS TEXT) AS last_at FROM analytics.raw.orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ) GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)",
    "snowflake": "SELECT CAST(MIN(_fivetran_synced) AS VARCHAR) AS first_at, CAST(MAX(_fivetran_synced) AS VARCHAR) AS last_at FROM analytics.raw.orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ) GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)",
    "bigquery": "SELECT CAST(MIN(_fivetran_synced) AS STRING) AS first_at, CAST(MAX(_fivetran_synced) AS STRING) AS last_at FROM analytics.raw.orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP) GROUP BY TIMESTAMP_TRUNC(_fivetran_synced, MINUTE)",
    "databricks": "SELECT CAST(MIN(_fivetran_synced) AS STRING) AS first_at, CAST(MAX(_fivetran_synced) AS STRING) AS last_at FROM analytics.raw.orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP) GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)",
    "redshift": "SELECT CAST(MIN(_fivetran_synced) AS VARCHAR(MAX)) AS first_at, CAST(MAX(_fivetran_synced) AS VARCHAR(MAX)) AS last_at FROM analytics.\"raw\".orders WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE) GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)",
}
DLT = {
    "duckdb": "SELECT CAST(l.inserted_at AS TEXT) AS first_at, CAST(l.inserted_at AS TEXT) AS last_at FROM analytics.raw._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics.raw.orders) AND l.inserted_at >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ)",
    "postgres": "SELECT CAST(l.inserted_at AS TEXT) AS first_at, CAST(l.inserted_at AS TEXT) AS last_at FROM analytics.raw._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics.raw.orders) AND l.inserted_at >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ)",
    "snowflake": "SELECT CAST(l.inserted_at AS VARCHAR) AS first_at, CAST(l.inserted_at AS VARCHAR) AS last_at FROM analytics.raw._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics.raw.orders) AND l.inserted_at >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ)",
    "bigquery": "SELECT CAST(l.inserted_at AS STRING) AS first_at, CAST(l.inserted_at AS STRING) AS last_at FROM analytics.raw._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics.raw.orders) AND l.inserted_at >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP)",
    "databricks": "SELECT CAST(l.inserted_at AS STRING) AS first_at, CAST(l.inserted_at AS STRING) AS last_at FROM analytics.raw._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics.raw.orders) AND l.inserted_at >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP)",
    "redshift": 'SELECT CAST(l.inserted_at AS VARCHAR(MAX)) AS first_at, CAST(l.inserted_at AS VARCHAR(MAX)) AS last_at FROM analytics."raw"._dlt_loads AS l WHERE l.status = 0 AND l.load_id IN (SELECT DISTINCT _dlt_load_id FROM analytics."raw".orders) AND l.inserted_at >= CAST(\'2025-01-01 00:00:00+00:00\' AS TIMESTAMP WITH TIME ZONE)',
}
METADATA = {
    "duckdb": None,
    "postgres": "SELECT n_tup_ins + n_tup_upd + n_tup_del AS changes FROM pg_stat_user_tables WHERE schemaname = 'raw' AND relname = 'orders'",
    "snowflake": "SELECT CAST(MAX(last_altered) AS VARCHAR) AS first_at, CAST(MAX(last_altered) AS VARCHAR) AS last_at FROM analytics.information_schema.tables WHERE UPPER(table_schema) = UPPER('raw') AND UPPER(table_name) = UPPER('orders')",
    "bigquery": "SELECT CAST(TIMESTAMP_MILLIS(MAX(last_modified_time)) AS STRING) AS first_at, CAST(TIMESTAMP_MILLIS(MAX(last_modified_time)) AS STRING) AS last_at FROM analytics.raw.__TABLES__ WHERE table_id = 'orders'",
    "databricks": "DESCRIBE HISTORY analytics.raw.orders",
    "redshift": "SELECT DISTINCT CAST(qd.start_time AS VARCHAR(MAX)) AS first_at, CAST(qd.start_time AS VARCHAR(MAX)) AS last_at FROM sys_query_detail AS qd JOIN pg_class AS c ON qd.table_id = c.\"oid\" JOIN pg_namespace AS ns ON ns.\"oid\" = c.relnamespace WHERE qd.step_name = 'insert' AND LOWER(ns.nspname) = LOWER('raw') AND LOWER(c.relname) = LOWER('orders') AND qd.start_time >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE)",
}
COLUMNS = {
    "duckdb": "SELECT table_schema, table_name, column_name FROM information_schema.\"columns\" WHERE LOWER(table_schema) = LOWER('raw') AND LOWER(table_name) IN (LOWER('orders'))",
    "postgres": "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE LOWER(table_schema) = LOWER('raw') AND LOWER(table_name) IN (LOWER('orders'))",
    "snowflake": "SELECT table_schema, table_name, column_name FROM analytics.information_schema.columns WHERE UPPER(table_schema) = UPPER('raw') AND UPPER(table_name) IN (UPPER('orders'))",
    "bigquery": "SELECT table_schema, table_name, column_name FROM analytics.raw.INFORMATION_SCHEMA.COLUMNS WHERE LOWER(table_name) IN (LOWER('orders'))",
    "databricks": "SELECT table_schema, table_name, column_name FROM analytics.information_schema.columns WHERE LOWER(table_schema) = LOWER('raw') AND LOWER(table_name) IN (LOWER('orders'))",
    "redshift": "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE LOWER(table_schema) = LOWER('raw') AND LOWER(table_name) IN (LOWER('orders'))",
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_arrival_sql_renders_exactly(dialect: str) -> None:
    assert (
        render(batches_query(REL, "_fivetran_synced", dialect, SINCE), dialect)
        == (BATCHES[dialect])
    )
    assert render(dlt_batches_query(REL, dialect, SINCE), dialect) == DLT[dialect]
    meta = metadata_query(REL, dialect, SINCE)
    assert (None if meta is None else render(meta, dialect)) == METADATA[dialect]
    assert render(columns_query([REL], dialect), dialect) == COLUMNS[dialect]


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "databricks"])
def test_rendered_sql_parses_back_in_its_dialect(dialect: str) -> None:
    for sql in (BATCHES[dialect], DLT[dialect], COLUMNS[dialect], METADATA[dialect]):
        if sql is not None:
            assert len(sqlglot.parse(sql, read=dialect)) == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_names_are_quoted_not_executed(dialect: str) -> None:
    evil = SourceRelation("source.p.s.t", None, "raw", "t; DROP TABLE x; --", None)
    sql = render(batches_query(evil, "_fivetran_synced", dialect, SINCE), dialect)
    assert len(sqlglot.parse(sql, read=dialect)) == 1
    assert "DROP TABLE x" in sql  # inside a quoted identifier


def test_a_loaded_at_field_expression_is_used_as_is_and_a_statement_refused() -> None:
    rel = SourceRelation("source.p.s.t", None, "raw", "t")
    sql = render(batches_query(rel, "loaded_at + interval '1' hour", "postgres", SINCE), "postgres")
    assert "MAX(loaded_at + INTERVAL '1 HOUR')" in sql
    with pytest.raises(ConfigError, match="not a statement"):
        batches_query(rel, "(select 1)", "postgres", SINCE)


def test_a_batch_counts_once_at_its_last_row() -> None:
    t = datetime(2025, 1, 1, 6, tzinfo=UTC)
    s = timedelta(seconds=1)
    spans = [(t + 200 * s, t + 230 * s), (t, t + 50 * s), (t + 100 * s, t + 110 * s)]
    # 50 s → 100 s and 110 s → 200 s are within two minutes: one batch
    assert batch_ends(spans) == [t + 230 * s]
    assert batch_ends(spans, gap_s=60) == [t + 110 * s, t + 230 * s]
    assert batch_ends([]) == []


def test_since_takes_spans_and_dates() -> None:
    now = datetime(2025, 4, 1, 12, tzinfo=UTC)
    assert parse_since("90d", now=now) == now - timedelta(days=90)
    assert parse_since("12h", now=now) == now - timedelta(hours=12)
    assert parse_since("2025-03-01", now=now) == datetime(2025, 3, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("lately", now=now)
