"""The SQL that aggregates metering and dbt's queries inside the warehouse, written once and
rendered per dialect with sqlglot (``saosim sql metering --dialect snowflake|bigquery|databricks``).

Two statements per vendor, each a small table to export as CSV and give to ``saosim
reconcile --metering``:

``usage``: usage_day, warehouse, unit, units, cloud_services_units — per UTC day and warehouse,
    from ``WAREHOUSE_METERING_HISTORY`` (credits), ``INFORMATION_SCHEMA.JOBS`` (TiB billed and
    slot-hours) or ``system.billing.usage`` (DBU of SQL warehouses).
``dbt_queries``: query_day, warehouse, invocation_id, node_id, queries, first_start, last_end,
    elapsed_s, bytes_billed, slot_ms — per day, warehouse, dbt invocation and node, for the
    queries that carry dbt's query comment (``"node_id": …``).

Both are written once (:data:`_USAGE_SQL`, :data:`_QUERIES_SQL`) over a vendor's column names
(:data:`VENDORS`) in DuckDB's dialect, then transpiled; the DuckDB rendering runs in the tests
over tables shaped like the vendor views.

>>> print(metering_sql("snowflake", days=30)["usage"])  # doctest: +ELLIPSIS
SELECT CAST(START_TIME AS DATE) AS usage_day, WAREHOUSE_NAME AS warehouse, 'credits' AS unit, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot

from saosim.errors import ConfigError

__all__ = ["DIALECTS", "VENDORS", "metering_sql"]

DIALECTS = ("snowflake", "bigquery", "databricks", "duckdb")


@dataclass(frozen=True)
class _Vendor:
    """A vendor's views and the expressions (DuckDB spelling) for the shared columns."""

    usage_table: str
    usage: tuple[tuple[str, str, str, str, str], ...]  # (day, warehouse, unit, units, cloud)
    usage_filter: str
    query_table: str
    start: str
    end: str
    warehouse: str
    text: str
    elapsed_ms: str
    bytes_billed: str
    slot_ms: str


VENDORS = {
    "snowflake": _Vendor(
        usage_table="SNOWFLAKE.ACCOUNT_USAGE.WAREHOUSE_METERING_HISTORY",
        usage=(
            (
                "START_TIME",
                "WAREHOUSE_NAME",
                "credits",
                "CREDITS_USED_COMPUTE",
                "CREDITS_USED_CLOUD_SERVICES",
            ),
        ),
        usage_filter="START_TIME",
        query_table="SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY",
        start="START_TIME",
        end="END_TIME",
        warehouse="WAREHOUSE_NAME",
        text="COALESCE(QUERY_TEXT, '') || ' ' || COALESCE(QUERY_TAG, '')",
        elapsed_ms="TOTAL_ELAPSED_TIME",
        bytes_billed="BYTES_SCANNED",
        slot_ms="NULL",
    ),
    "bigquery": _Vendor(
        usage_table="`region-us`.INFORMATION_SCHEMA.JOBS",
        usage=(
            ("creation_time", "'bigquery'", "TiB", "total_bytes_billed / POWER(2, 40)", "0"),
            ("creation_time", "'bigquery'", "slot_hours", "total_slot_ms / 3600000.0", "0"),
        ),
        usage_filter="creation_time",
        query_table="`region-us`.INFORMATION_SCHEMA.JOBS",
        start="start_time",
        end="end_time",
        warehouse="'bigquery'",
        text="COALESCE(query, '')",
        elapsed_ms="NULL",
        bytes_billed="total_bytes_billed",
        slot_ms="total_slot_ms",
    ),
    "databricks": _Vendor(
        usage_table="system.billing.usage",
        usage=(
            (
                "usage_start_time",
                "usage_metadata.warehouse_id",
                "DBU",
                "usage_quantity",
                "0",
            ),
        ),
        usage_filter="usage_start_time",
        query_table="system.query.history",
        start="start_time",
        end="end_time",
        warehouse="compute.warehouse_id",
        text="COALESCE(statement_text, '')",
        elapsed_ms="total_duration_ms",
        bytes_billed="read_bytes",
        slot_ms="NULL",
    ),
}
_PLACEHOLDER = "saosim_vendor_view"
_DATABRICKS_SQL_ONLY = "UPPER(sku_name) LIKE '%SQL%' AND usage_unit = 'DBU'"

# written once, in DuckDB's spelling; {…} are a vendor's expressions, :days the look-back
_USAGE_SQL = """
SELECT CAST({day} AS DATE) AS usage_day, {warehouse} AS warehouse, '{unit}' AS unit,
       SUM({units}) AS units, SUM({cloud}) AS cloud_services_units
FROM {table}
WHERE {since} >= CURRENT_TIMESTAMP - INTERVAL {days} DAY {extra}
GROUP BY 1, 2, 3
"""
_QUERIES_SQL = r"""
SELECT CAST({start} AS DATE) AS query_day,
       {warehouse} AS warehouse,
       REGEXP_EXTRACT({text}, '"invocation_id"\s*:\s*"([^"]+)"', 1) AS invocation_id,
       REGEXP_EXTRACT({text}, '"node_id"\s*:\s*"([^"]+)"', 1) AS node_id,
       COUNT(*) AS queries,
       MIN({start}) AS first_start,
       MAX({end}) AS last_end,
       SUM({elapsed_ms}) / 1000.0 AS elapsed_s,
       SUM({bytes_billed}) AS bytes_billed,
       SUM({slot_ms}) AS slot_ms
FROM {table}
WHERE {start} >= CURRENT_TIMESTAMP - INTERVAL {days} DAY
  AND {text} LIKE '%"node_id"%'
GROUP BY 1, 2, 3, 4
"""


def metering_sql(
    vendor: str,
    *,
    dialect: str | None = None,
    days: int = 90,
    usage_table: str | None = None,
    query_table: str | None = None,
) -> dict[str, str]:
    """The ``usage`` and ``dbt_queries`` statements for ``vendor``, rendered in ``dialect``
    (default: the vendor's own).

    Args:
        vendor: snowflake, bigquery or databricks (whose views are read).
        dialect: the SQL dialect to render (snowflake, bigquery, databricks, duckdb).
        days: how many days back to aggregate.
        usage_table, query_table: other names for the views (a copy, another region).

    >>> sql = metering_sql("bigquery", days=7)["dbt_queries"]
    >>> "REGEXP_EXTRACT" in sql and "`region-us`.INFORMATION_SCHEMA.JOBS" in sql
    True
    """
    if vendor not in VENDORS:
        raise ConfigError(f"{vendor!r} is not a vendor; use {', '.join(VENDORS)}", field="vendor")
    dialect = dialect or vendor
    if dialect not in DIALECTS:
        raise ConfigError(
            f"{dialect!r} is not a dialect; use {', '.join(DIALECTS)}", field="--dialect"
        )
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3660:
        raise ConfigError(f"{days!r} must be a whole number of days from 1 to 3660", field="days")
    v = VENDORS[vendor]
    extra = f"AND {_DATABRICKS_SQL_ONLY}" if vendor == "databricks" else ""
    parts = [
        _USAGE_SQL.format(
            day=day,
            warehouse=wh,
            unit=unit,
            units=units,
            cloud=cloud,
            table=_PLACEHOLDER,
            since=v.usage_filter,
            days=days,
            extra=extra,
        )
        for day, wh, unit, units, cloud in v.usage
    ]
    usage = sqlglot.parse_one(" UNION ALL ".join(parts), read="duckdb")
    queries = sqlglot.parse_one(
        _QUERIES_SQL.format(
            start=v.start,
            end=v.end,
            warehouse=v.warehouse,
            text=v.text,
            elapsed_ms=v.elapsed_ms,
            bytes_billed=v.bytes_billed,
            slot_ms=v.slot_ms,
            table=_PLACEHOLDER,
            days=days,
        ),
        read="duckdb",
    )
    # the view names are spelled as the vendor spells them (BigQuery's `region-us` prefix is
    # not something a parser should rewrite), so they go in after rendering
    return {
        "usage": usage.sql(dialect=dialect).replace(_PLACEHOLDER, usage_table or v.usage_table),
        "dbt_queries": queries.sql(dialect=dialect).replace(
            _PLACEHOLDER, query_table or v.query_table
        ),
    }
