"""Source data versions: the SQL per dialect (exact text), and real execution against DuckDB."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from saosim.errors import ConfigError, SaosimInputError, SaosimWarning
from saosim.live.metadata import (
    DIALECTS,
    SourceRelation,
    last_modified_query,
    loaded_at_query,
    render,
    source_relations,
    source_versions,
    source_versions_query,
    to_utc,
)
from saosim.project.graph import Node, Project

ORDERS = SourceRelation("source.shop.app.orders", "analytics", "raw", "orders", "loaded_at")
STORES = SourceRelation("source.shop.app.stores", "analytics", "raw", "stores")

LOADED_AT_SQL = {
    "duckdb": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    "FROM analytics.raw.orders",
    "snowflake": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    "FROM analytics.raw.orders",
    "bigquery": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    "FROM analytics.raw.orders",
    "databricks": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    "FROM analytics.raw.orders",
    "postgres": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    "FROM analytics.raw.orders",
    # "raw" is a reserved word in Redshift, so it is quoted there.
    "redshift": "SELECT 'source.shop.app.orders' AS unique_id, MAX(loaded_at) AS data_version "
    'FROM analytics."raw".orders',
}

LAST_MODIFIED_SQL = {
    "snowflake": "SELECT 'source.shop.app.stores' AS unique_id, MAX(last_altered) AS data_version "
    "FROM analytics.information_schema.tables "
    "WHERE UPPER(table_schema) = UPPER('raw') AND UPPER(table_name) = UPPER('stores')",
    "bigquery": "SELECT 'source.shop.app.stores' AS unique_id, "
    "TIMESTAMP_MILLIS(MAX(last_modified_time)) AS data_version "
    "FROM analytics.raw.__TABLES__ WHERE table_id = 'stores'",
    "databricks": "SELECT 'source.shop.app.stores' AS unique_id, MAX(last_altered) AS data_version "
    "FROM analytics.information_schema.tables "
    "WHERE LOWER(table_schema) = LOWER('raw') AND LOWER(table_name) = LOWER('stores')",
    "postgres": "SELECT 'source.shop.app.stores' AS unique_id, "
    "MAX(PG_XACT_COMMIT_TIMESTAMP(xmin)) AS data_version FROM analytics.raw.stores",
    "redshift": "SELECT 'source.shop.app.stores' AS unique_id, MAX(qd.start_time) AS data_version "
    "FROM sys_query_detail AS qd "
    'JOIN pg_class AS c ON qd.table_id = c."oid" '
    'JOIN pg_namespace AS ns ON ns."oid" = c.relnamespace '
    "WHERE qd.step_name = 'insert' AND LOWER(ns.nspname) = LOWER('raw') "
    "AND LOWER(c.relname) = LOWER('stores')",
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_loaded_at_form_renders_exactly(dialect: str) -> None:
    assert render(loaded_at_query(ORDERS, dialect), dialect) == LOADED_AT_SQL[dialect]


@pytest.mark.parametrize("dialect", sorted(LAST_MODIFIED_SQL))
def test_last_modified_form_renders_exactly(dialect: str) -> None:
    assert render(last_modified_query(STORES, dialect), dialect) == LAST_MODIFIED_SQL[dialect]


def test_duckdb_has_no_last_modified_form() -> None:
    assert last_modified_query(STORES, "duckdb") is None
    # and a union of sources leaves that one out
    query = source_versions_query([ORDERS, STORES], "duckdb")
    assert render(query, "duckdb") == LOADED_AT_SQL["duckdb"]


@pytest.mark.parametrize("dialect", sorted(LAST_MODIFIED_SQL))
def test_many_sources_are_one_union_all_query(dialect: str) -> None:
    sql = render(source_versions_query([ORDERS, STORES], dialect), dialect)
    assert sql == f"{LOADED_AT_SQL[dialect]} UNION ALL {LAST_MODIFIED_SQL[dialect]}"


def test_bigquery_project_with_hyphen_is_backquoted() -> None:
    rel = SourceRelation("source.p.s.t", "my-project", "raw", "events", "loaded_at")
    assert render(loaded_at_query(rel, "bigquery"), "bigquery").endswith(
        "FROM `my-project`.raw.events"
    )


def test_loaded_at_field_may_be_an_expression_but_not_a_statement() -> None:
    rel = SourceRelation("source.p.s.t", None, "raw", "t", "convert_timezone('UTC', loaded_at)")
    assert "MAX(CONVERT_TIMEZONE('UTC', loaded_at))" in render(
        loaded_at_query(rel, "snowflake"), "snowflake"
    )
    for bad in ("loaded_at; drop table raw.t", "(select max(x) from y)", "drop table t", "1 +"):
        hostile = SourceRelation("source.p.s.t", None, "raw", "t", bad)
        with pytest.raises(ConfigError) as info:
            loaded_at_query(hostile, "duckdb")
        assert info.value.node_id == "source.p.s.t"
        assert info.value.field == "loaded_at_field"


def test_unknown_dialect_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a supported warehouse dialect"):
        source_versions_query([ORDERS], "oracle")


HOSTILE = "o`r\"d'; drop table orders; --"
# BigQuery reads dots inside a back-quoted name as a path (`project.dataset.table`), and its table
# names cannot hold dots anyway, so the dotted name is only executed against DuckDB.
HOSTILE_DOTTED = "o`r\"d'; drop table raw.orders; --"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_names_are_quoted_not_executed(dialect: str) -> None:
    rel = SourceRelation("source.p.s.it's", "db", 'ra"w', HOSTILE, "loaded_at")
    sql = render(loaded_at_query(rel, dialect), dialect)
    # The statement is still exactly one SELECT from one table: the name stayed an identifier.
    statements = sqlglot.parse(sql, read=dialect)
    assert len(statements) == 1
    tables = list(statements[0].find_all(exp.Table))
    assert [t.name for t in tables] == [HOSTILE]
    assert tables[0].db == 'ra"w'
    literal = statements[0].selects[0].this
    assert literal.this == "source.p.s.it's"


def _source(uid: str, *, schema: str = "raw", alias: str, loaded_at: str | None = "loaded_at"):
    return Node(
        uid, alias, "source", database=None, schema=schema, alias=alias, loaded_at_field=loaded_at
    )


def test_hostile_table_name_executes_against_duckdb() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.orders as select timestamp '2025-01-01 06:00' as loaded_at")
    con.execute(f"create table raw.{_quoted(HOSTILE_DOTTED)} (loaded_at timestamp)")
    con.execute(
        f"insert into raw.{_quoted(HOSTILE_DOTTED)} values (timestamp '2025-03-04 05:06:07')"
    )
    project = Project(
        [
            _source("source.p.s.orders", alias="orders"),
            _source("source.p.s.it's; drop", alias=HOSTILE_DOTTED),
        ],
        [],
    )
    versions = source_versions(project, con)
    assert versions == {
        "source.p.s.it's; drop": datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        "source.p.s.orders": datetime(2025, 1, 1, 6, tzinfo=UTC),
    }
    assert con.execute("select count(*) from raw.orders").fetchone() == (1,)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def test_timestamptz_is_converted_and_naive_is_utc() -> None:
    con = duckdb.connect()
    con.execute("set TimeZone = 'America/New_York'")
    con.execute("create schema raw")
    con.execute("create table raw.naive as select timestamp '2025-06-01 12:00' as loaded_at")
    con.execute(
        "create table raw.aware as select timestamptz '2025-06-01 12:00:00+02:00' as loaded_at"
    )
    con.execute("create table raw.day as select date '2025-06-01' as loaded_at")
    con.execute("create table raw.empty (loaded_at timestamp)")
    project = Project(
        [
            _source("source.p.s.naive", alias="naive"),
            _source("source.p.s.aware", alias="aware"),
            _source("source.p.s.day", alias="day"),
            _source("source.p.s.empty", alias="empty"),
        ],
        [],
    )
    versions = source_versions(project, con)
    # The New York session zone changes neither reading; an empty table has no data version.
    assert versions == {
        "source.p.s.aware": datetime(2025, 6, 1, 10, tzinfo=UTC),
        "source.p.s.day": datetime(2025, 6, 1, tzinfo=UTC),
        "source.p.s.naive": datetime(2025, 6, 1, 12, tzinfo=UTC),
    }
    assert all(v.tzinfo is UTC for v in versions.values())


def test_source_without_loaded_at_field_warns_and_is_absent() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.t as select timestamp '2025-01-01' as loaded_at")
    project = Project(
        [
            _source("source.p.s.t", alias="t"),
            _source("source.p.s.u", alias="t", loaded_at=None),
        ],
        [],
    )
    with pytest.warns(SaosimWarning, match=r"source\.p\.s\.u"):
        versions = source_versions(project, con)
    assert list(versions) == ["source.p.s.t"]


def test_only_sources_with_metadata_need_no_warning() -> None:
    con = duckdb.connect()
    project = Project([_source("source.p.s.u", alias="t", loaded_at=None)], [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert source_versions(project, con) == {}
    assert len(caught) == 1


def test_source_versions_refuses_an_unknown_dialect() -> None:
    with pytest.raises(ConfigError, match="not a supported warehouse dialect"):
        source_versions(Project([], []), duckdb.connect(), "oracle")


def test_source_relations_read_node_fields() -> None:
    node = Node(
        "source.p.shop.orders",
        "orders",
        "source",
        database="db",
        schema="raw",
        alias="ORDERS_V2",
        loaded_at_field="_loaded",
    )
    model = Node("model.p.m", "m", "model", materialization="table")
    (rel,) = source_relations(Project([node, model], [(node.unique_id, model.unique_id)]))
    assert rel == SourceRelation("source.p.shop.orders", "db", "raw", "ORDERS_V2", "_loaded")


def test_to_utc_rejects_non_timestamps() -> None:
    with pytest.raises(SaosimInputError, match="not a timestamp"):
        to_utc("yesterday", unique_id="source.p.s.t")
    with pytest.raises(SaosimInputError, match="not a timestamp"):
        to_utc(42)
    assert to_utc(None) is None
