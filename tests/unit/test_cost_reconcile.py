"""Reconciliation with metering: a hand-made metering export for a small history reconciles,
unexplained usage is reported; the vendor readers; the pushdown SQL run in DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from saosim.cost.rates import CostModel
from saosim.errors import ConfigError, SchemaError
from saosim.inputs.estate import Estate
from saosim.inputs.metering import metering_kind, read_metering
from saosim.inputs.pushdown import metering_sql
from saosim.project.graph import Project
from saosim.replay.reconcile import reconcile_estate

DAY = datetime(2025, 1, 6, tzinfo=UTC)
M = "model.demo.m"
COMMENT = '/* {"app": "dbt", "node_id": "%s", "invocation_id": "%s"} */ create table …'


def _estate() -> Estate:
    """Two runs of one job, each building one model for 300 s from the run's start."""
    starts = [DAY, DAY + timedelta(hours=6)]
    runs = pl.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "job_id": ["hourly", "hourly"],
            "started_at": starts,
            "finished_at": [t + timedelta(seconds=300) for t in starts],
            "status": ["success", "success"],
            "command": ["build", "build"],
        }
    )
    node_runs = pl.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "unique_id": [M, M],
            "status": ["success", "success"],
            "started_at": starts,
            "completed_at": [t + timedelta(seconds=300) for t in starts],
            "execution_time_s": [300.0, 300.0],
        }
    )
    return Estate(Project.from_spec({"raw.a": [], "m": ["raw.a"]}), runs=runs, node_runs=node_runs)


RATES = CostModel.from_config(
    {
        "warehouse_size": "M",
        "usd_per_credit": 3.0,
        "auto_suspend_s": 600,
        "warehouses": {"default": "TRANSFORM_WH"},
    }
)


def _metering_csv(folder: Path) -> Path:
    # each dbt run: 300 s + 600 s idle tail on an M (4 credits/h) = 1.0 credit; an analyst's
    # query at 12:00 keeps the warehouse up another 0.5 credits
    path = folder / "WAREHOUSE_METERING_HISTORY.csv"
    path.write_text(
        "START_TIME,END_TIME,WAREHOUSE_ID,WAREHOUSE_NAME,CREDITS_USED,CREDITS_USED_COMPUTE,"
        "CREDITS_USED_CLOUD_SERVICES\n"
        "2025-01-06 00:00:00.000 +0000,2025-01-06 01:00:00.000 +0000,1,TRANSFORM_WH,1.02,1.0,0.02\n"
        "2025-01-06 06:00:00.000 +0000,2025-01-06 07:00:00.000 +0000,1,TRANSFORM_WH,1.01,1.0,0.01\n"
        "2025-01-06 12:00:00.000 +0000,2025-01-06 13:00:00.000 +0000,1,TRANSFORM_WH,0.5,0.5,0\n"
    )
    return path


def _query_history_csv(folder: Path) -> Path:
    path = folder / "query_history.csv"
    rows = [
        ("q1", COMMENT % (M, "inv-1"), "", "2025-01-06T00:00:00Z", "2025-01-06T00:05:00Z"),
        ("q2", COMMENT % (M, "inv-2"), "", "2025-01-06T06:00:00Z", "2025-01-06T06:05:00Z"),
        ("q3", "select * from orders", "looker", "2025-01-06T12:00:00Z", "2025-01-06T12:02:30Z"),
    ]
    frame = pl.DataFrame(
        rows,
        schema=["query_id", "query_text", "query_tag", "start_time", "end_time"],
        orient="row",
    ).with_columns(pl.lit("TRANSFORM_WH").alias("warehouse_name"))
    frame.rename({c: c.upper() for c in frame.columns}).write_csv(path)
    return path


def test_hand_made_metering_reconciles_and_reports_other_workloads(tmp_path: Path) -> None:
    metered = read_metering([_metering_csv(tmp_path)])
    result = reconcile_estate(_estate(), metered, cost_model=RATES, engine="plain")
    row = result.per_warehouse_day.row(0, named=True)
    assert (row["warehouse"], str(row["day"])) == ("TRANSFORM_WH", "2025-01-06")
    assert row["metered_units"] == pytest.approx(2.5)
    assert row["metered_usd"] == pytest.approx(7.5)
    assert row["saosim_units"] == pytest.approx(2.0)  # the two dbt runs, to the cent
    assert round(row["saosim_usd"], 2) == 6.00
    assert round(row["difference_usd"], 2) == -1.50
    assert row["unexplained_units"] == pytest.approx(0.5)
    assert row["unexplained_pct"] == pytest.approx(20.0)
    assert row["metered_cloud_units"] == pytest.approx(0.03)
    assert result.totals["explained_by"] == "replay"
    assert any("no query history" in n for n in result.notes)


def test_query_history_separates_dbt_from_other_queries(tmp_path: Path) -> None:
    metered = read_metering([_metering_csv(tmp_path), _query_history_csv(tmp_path)])
    q = metered.queries
    assert q.get_column("is_dbt").to_list() == [True, True, False]
    assert q.get_column("node_id").to_list() == [M, M, None]
    assert q.get_column("invocation_id").to_list() == ["inv-1", "inv-2", None]
    result = reconcile_estate(_estate(), metered, cost_model=RATES, engine="plain")
    assert result.totals["explained_by"] == "query_history"
    assert result.totals["dbt_units"] == pytest.approx(2.0)
    assert result.totals["unexplained_units"] == pytest.approx(0.5)  # the analyst's query
    assert result.totals["unexplained_pct"] == pytest.approx(20.0)


def test_unmatched_warehouse_names_are_reported_not_absorbed(tmp_path: Path) -> None:
    metered = read_metering([_metering_csv(tmp_path)])
    result = reconcile_estate(_estate(), metered, cost_model=CostModel(), engine="plain")
    by_wh = {r["warehouse"]: r for r in result.per_warehouse_day.iter_rows(named=True)}
    assert by_wh["TRANSFORM_WH"]["unexplained_pct"] == 100.0
    assert by_wh["default"]["metered_units"] == 0.0
    assert any("'default'" in n and "warehouses:" in n for n in result.notes)
    assert any("'TRANSFORM_WH' is metered" in n for n in result.notes)


def test_naive_times_and_unknown_files_are_errors(tmp_path: Path) -> None:
    naive = tmp_path / "m.csv"
    naive.write_text("START_TIME,WAREHOUSE_NAME,CREDITS_USED\n2025-01-06 00:00:00,WH,1\n")
    with pytest.raises(SchemaError) as err:
        read_metering([naive])
    assert (err.value.field, err.value.row) == ("start_time", 1)
    assert read_metering([naive], timezone="UTC").usage.get_column("units").to_list() == [1.0]
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(SchemaError, match="not a metering export"):
        read_metering([other])
    bad = tmp_path / "bad.csv"
    bad.write_text("START_TIME,WAREHOUSE_NAME,CREDITS_USED\n2025-01-06T00:00:00Z,WH,lots\n")
    with pytest.raises(SchemaError) as err:
        read_metering([bad])
    assert (err.value.field, err.value.row) == ("credits_used", 1)


def test_bigquery_jobs_and_databricks_readers(tmp_path: Path) -> None:
    jobs = pl.DataFrame(
        {
            "job_id": ["j1", "j2"],
            "creation_time": ["2025-01-06T00:00:00Z", "2025-01-06T01:00:00Z"],
            "start_time": ["2025-01-06T00:00:01Z", "2025-01-06T01:00:00Z"],
            "end_time": ["2025-01-06T00:01:01Z", "2025-01-06T01:00:30Z"],
            "total_bytes_billed": [2**40, 10 * 2**20],
            "total_slot_ms": [3_600_000, 1_800_000],
            "query": [COMMENT % (M, "i1"), "select 1"],
            "labels": ['[{"key": "dbt_invocation_id", "value": "i1"}]', "[]"],
        }
    )
    jobs.write_parquet(tmp_path / "jobs.parquet")
    usage = pl.DataFrame(
        {
            "usage_date": ["2025-01-06", "2025-01-06"],
            "usage_start_time": ["2025-01-06T00:00:00Z", "2025-01-06T00:00:00Z"],
            "sku_name": ["PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST", "PREMIUM_JOBS_COMPUTE"],
            "usage_unit": ["DBU", "DBU"],
            "usage_quantity": [12.5, 99.0],
            "usage_metadata": ['{"warehouse_id": "abc123"}', '{"job_id": "7"}'],
        }
    )
    usage.write_csv(tmp_path / "usage.csv")
    m = read_metering([tmp_path / "jobs.parquet", tmp_path / "usage.csv"])
    assert [k for _, k in m.files] == ["bigquery_jobs", "databricks_usage"]
    tib = m.usage.filter(pl.col("unit") == "TiB").get_column("units").sum()
    assert tib == pytest.approx(1 + 10 / 2**20)
    slots = m.usage.filter(pl.col("unit") == "slot_hours").get_column("units").sum()
    assert slots == pytest.approx(1.5)
    dbu = m.usage.filter(pl.col("unit") == "DBU")
    assert dbu.select("warehouse", "units").rows() == [("abc123", 12.5)]  # jobs compute left out
    assert m.queries.get_column("is_dbt").to_list() == [True, False]


def test_kinds_are_recognised_in_any_letter_case() -> None:
    assert metering_kind(["Query_Id", "WAREHOUSE_NAME", "start_time", "END_TIME"]) == (
        "snowflake_queries"
    )
    assert metering_kind(["statement_id", "start_time", "end_time"]) == "databricks_queries"


def _duck_views(con: duckdb.DuckDBPyConnection) -> None:
    """Tables shaped like the vendor views (the columns the SQL reads), recent rows."""
    # yesterday's 01:00 and 02:00: recent, and on one day whatever the time of the test
    now = "(current_date::TIMESTAMPTZ - INTERVAL 1 DAY + INTERVAL 3 HOUR)"
    con.execute(
        f"""
        CREATE TABLE wmh AS SELECT * FROM (VALUES
          ({now} - INTERVAL 2 HOUR, 'TRANSFORM_WH', 1.0, 0.02),
          ({now} - INTERVAL 1 HOUR, 'TRANSFORM_WH', 0.5, 0.01),
          ({now} - INTERVAL 200 DAY, 'TRANSFORM_WH', 9.0, 0.0))
          t(START_TIME, WAREHOUSE_NAME, CREDITS_USED_COMPUTE, CREDITS_USED_CLOUD_SERVICES);
        CREATE TABLE qh AS SELECT * FROM (VALUES
          ('q1', '{COMMENT % (M, "inv-1")}', NULL, {now} - INTERVAL 2 HOUR,
           {now} - INTERVAL 2 HOUR + INTERVAL 60 SECOND, 60000, 100, 'TRANSFORM_WH'),
          ('q2', '{COMMENT % (M, "inv-1")}', NULL, {now} - INTERVAL 2 HOUR + INTERVAL 60 SECOND,
           {now} - INTERVAL 2 HOUR + INTERVAL 90 SECOND, 30000, 50, 'TRANSFORM_WH'),
          ('q3', 'select 1', 'looker', {now} - INTERVAL 1 HOUR, {now}, 5000, 1, 'TRANSFORM_WH'))
          t(QUERY_ID, QUERY_TEXT, QUERY_TAG, START_TIME, END_TIME, TOTAL_ELAPSED_TIME,
            BYTES_SCANNED, WAREHOUSE_NAME);
        CREATE TABLE usage AS SELECT * FROM (VALUES
          ({now} - INTERVAL 1 HOUR, {{'warehouse_id': 'abc'}}, 'PREMIUM_SQL_PRO', 'DBU', 3.0),
          ({now} - INTERVAL 1 HOUR, {{'warehouse_id': NULL}}, 'PREMIUM_JOBS', 'DBU', 7.0))
          t(usage_start_time, usage_metadata, sku_name, usage_unit, usage_quantity);
        """
    )


def test_pushdown_sql_runs_in_duckdb_over_vendor_shaped_tables(tmp_path: Path) -> None:
    con = duckdb.connect()
    _duck_views(con)
    sf = metering_sql("snowflake", dialect="duckdb", days=30, usage_table="wmh", query_table="qh")
    usage = con.sql(sf["usage"]).pl()
    assert usage.select("warehouse", "unit").rows() == [("TRANSFORM_WH", "credits")]
    assert usage.get_column("units").sum() == pytest.approx(1.5)  # the 200-day-old row is out
    queries = con.sql(sf["dbt_queries"]).pl()
    assert queries.select("node_id", "invocation_id", "queries").rows() == [(M, "inv-1", 2)]
    assert queries.get_column("elapsed_s")[0] == pytest.approx(90.0)
    dbx = metering_sql("databricks", dialect="duckdb", usage_table="usage")["usage"]
    assert con.sql(dbx).pl().select("warehouse", "units").rows() == [("abc", 3.0)]
    # the exported aggregates are themselves metering exports saosim reads
    usage.write_csv(tmp_path / "usage.csv")
    queries.write_csv(tmp_path / "dbt_queries.csv")
    m = read_metering([tmp_path / "usage.csv", tmp_path / "dbt_queries.csv"])
    assert [k for _, k in m.files] == ["saosim_usage", "saosim_dbt_queries"]
    assert m.queries.get_column("is_dbt").all()
    assert m.usage.get_column("units").sum() == pytest.approx(1.5)


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery", "databricks"])
def test_pushdown_sql_renders_in_each_dialect(dialect: str) -> None:
    sql = metering_sql(dialect)
    assert set(sql) == {"usage", "dbt_queries"}
    extract = {
        "snowflake": "REGEXP_SUBSTR",
        "bigquery": "REGEXP_EXTRACT",
        "databricks": "REGEXP_EXTRACT",
    }[dialect]
    assert extract in sql["dbt_queries"]
    with pytest.raises(ConfigError):
        metering_sql(dialect, days=0)


def test_query_history_gives_per_node_dollars(tmp_path: Path) -> None:
    from saosim.cost.attribution import with_query_costs

    estate = _estate()
    # the history's runs are dbt invocations: name the queries' invocations after them
    path = tmp_path / "qh.csv"
    pl.DataFrame(
        {
            "QUERY_ID": ["q1", "q2", "q3", "q4"],
            "QUERY_TEXT": [
                COMMENT % (M, "r1"),
                COMMENT % (M, "r1"),
                COMMENT % (M, "r2"),
                COMMENT % (M, "elsewhere"),
            ],
            "WAREHOUSE_NAME": ["WH"] * 4,
            "START_TIME": [
                "2025-01-06T00:00:00Z",
                "2025-01-06T00:02:00Z",
                "2025-01-06T06:00:00Z",
                "2025-01-06T07:00:00Z",
            ],
            "END_TIME": [
                "2025-01-06T00:02:00Z",
                "2025-01-06T00:05:00Z",
                "2025-01-06T06:05:00Z",
                "2025-01-06T07:01:00Z",
            ],
            "CREDITS_ATTRIBUTED_COMPUTE": [None, None, 0.25, None],
        }
    ).write_csv(path)
    queries = read_metering([path]).queries
    priced, matched, unmatched = with_query_costs(estate, queries, RATES.billing)
    assert (matched, unmatched) == (2, 1)
    cost = dict(priced.node_runs.select("run_id", "cost").iter_rows())
    assert cost["r1"] == pytest.approx(5 / 60 * 12.0)  # 2 + 3 min at $12/h, no attribution
    assert cost["r2"] == pytest.approx(0.25 * 3.0)  # attributed credits × $3
