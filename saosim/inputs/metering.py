"""Readers for what the warehouse metered: exports of the vendors' own views, as CSV or Parquet,
with the vendors' column names in any letter case.

=============================================  ==============================================
export                                          recognised by (columns, any case)
=============================================  ==============================================
Snowflake ``WAREHOUSE_METERING_HISTORY``        START_TIME, WAREHOUSE_NAME, CREDITS_USED
                                                (CREDITS_USED_COMPUTE, _CLOUD_SERVICES if given)
Snowflake ``QUERY_HISTORY``                     QUERY_ID, WAREHOUSE_NAME, START_TIME, END_TIME
                                                (QUERY_TEXT, QUERY_TAG)
BigQuery ``INFORMATION_SCHEMA.JOBS``            job_id, creation_time, total_bytes_billed
                                                (start_time, end_time, total_slot_ms, labels,
                                                query, reservation_id)
Databricks ``system.billing.usage``             usage_quantity, sku_name, usage_date
                                                (usage_start_time, usage_unit, usage_metadata)
Databricks ``system.query.history``             statement_id, start_time, end_time
                                                (statement_text, compute / warehouse_id)
``saosim sql metering`` ``usage``               usage_day, warehouse, unit, units
``saosim sql metering`` ``dbt_queries``         query_day, warehouse, node_id, first_start,
                                                last_end (one interval per node and invocation)
=============================================  ==============================================

Everything is normalised into two tables (:class:`Metering`):

``usage``: vendor, warehouse, hour (UTC start of the metered interval), day, unit (credits,
    DBU, TiB, slot_hours), units, cloud_services_units (Snowflake).
``queries``: vendor, warehouse, query_id, started_at, finished_at, node_id, invocation_id,
    is_dbt, bytes_billed, slot_ms, credits (Snowflake's ``CREDITS_ATTRIBUTED_COMPUTE`` when the
    export has it, from ``QUERY_ATTRIBUTION_HISTORY``). A query is dbt's when its text
    carries dbt's query comment (``/* {"app": "dbt", …, "node_id": …} */``), its ``QUERY_TAG``
    or job labels name a dbt node or invocation, or ``"app": "dbt"`` appears in the tag.

BigQuery jobs count as usage too (TiB billed and slot-hours per job, on warehouse
``bigquery``); Databricks warehouses are named by their ``warehouse_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from saosim.errors import ArtifactError, SchemaError, reading
from saosim.inputs._columns import as_numbers, as_text, as_times, parse_zone

__all__ = ["Metering", "metering_kind", "read_metering"]

TIB = 2**40
_USAGE = {
    "vendor": pl.String,
    "warehouse": pl.String,
    "hour": pl.Datetime("us", "UTC"),
    "day": pl.Date,
    "unit": pl.String,
    "units": pl.Float64,
    "cloud_services_units": pl.Float64,
}
_QUERIES = {
    "vendor": pl.String,
    "warehouse": pl.String,
    "query_id": pl.String,
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "node_id": pl.String,
    "invocation_id": pl.String,
    "is_dbt": pl.Boolean,
    "bytes_billed": pl.Float64,
    "slot_ms": pl.Float64,
    "credits": pl.Float64,
}
#: the columns that say which export a file is (all must be present, any case)
_KINDS = {
    "snowflake_metering": ("start_time", "warehouse_name", "credits_used"),
    "snowflake_queries": ("query_id", "warehouse_name", "start_time", "end_time"),
    "bigquery_jobs": ("job_id", "creation_time", "total_bytes_billed"),
    "databricks_usage": ("usage_quantity", "sku_name", "usage_date"),
    "databricks_queries": ("statement_id", "start_time", "end_time"),
    "saosim_usage": ("usage_day", "warehouse", "unit", "units"),
    "saosim_dbt_queries": ("query_day", "warehouse", "node_id", "first_start", "last_end"),
}
_NODE = re.compile(r'"node_id"\s*:\s*"([^"]+)"')
_INVOCATION = re.compile(r'"invocation_id"\s*:\s*"([^"]+)"')
_DBT_APP = r'"app"\s*:\s*"dbt"'


@dataclass(frozen=True, eq=False)
class Metering:
    """What was metered (``usage``) and the queries that ran (``queries``); see the module
    docstring. ``files``: each file read and the export it was recognised as."""

    usage: pl.DataFrame
    queries: pl.DataFrame
    files: tuple[tuple[str, str], ...]

    @property
    def vendors(self) -> set[str]:
        return set(self.usage.get_column("vendor")) | set(self.queries.get_column("vendor"))


def metering_kind(columns: Iterable[str]) -> str | None:
    """Which export a table is, from its column names (any case); None if none fits.

    >>> metering_kind(["START_TIME", "END_TIME", "WAREHOUSE_ID", "WAREHOUSE_NAME", "CREDITS_USED"])
    'snowflake_metering'
    >>> metering_kind(["a", "b"]) is None
    True
    """
    have = {c.lower() for c in columns}
    for kind, needed in _KINDS.items():
        if set(needed) <= have:
            return kind
    return None


def read_metering(paths: Iterable[str | Path], *, timezone: str | None = None) -> Metering:
    """Read metering and query-history exports (see the module docstring).

    Args:
        paths: CSV or Parquet files, each one export.
        timezone: the zone of timestamps written without an offset (else they are an error).
    """
    zone = parse_zone(timezone)
    usage = [pl.DataFrame(schema=_USAGE)]
    queries = [pl.DataFrame(schema=_QUERIES)]
    files = []
    for path in paths:
        file = Path(path)
        with reading(file):
            frame = _read(file)
            kind = metering_kind(frame.columns)
            if kind is None:
                raise SchemaError(
                    "is not a metering export saosim knows; expected the columns of one of: "
                    + "; ".join(f"{k} ({', '.join(v)})" for k, v in _KINDS.items()),
                    path=str(file),
                )
            files.append((str(file), kind))
            read = _READERS[kind]
            u, q = read(frame, file, zone)
            if u is not None:
                usage.append(u.select(list(_USAGE)).cast(_USAGE))
            if q is not None:
                queries.append(q.select(list(_QUERIES)).cast(_QUERIES))
    return Metering(pl.concat(usage), pl.concat(queries), tuple(files))


def _read(file: Path) -> pl.DataFrame:
    if not file.is_file():
        raise ArtifactError("no such file", path=str(file))
    try:
        if file.name.lower().endswith(".parquet"):
            frame = pl.read_parquet(file)
        else:
            frame = pl.read_csv(file, infer_schema=False)
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise ArtifactError(f"cannot be read ({exc})", path=str(file)) from None
    frame = frame.rename({c: c.lower() for c in frame.columns})
    # a struct exported flat ("usage_metadata.warehouse_id") reads like the nested one
    return frame.rename({c: c.replace(".", "__") for c in frame.columns if "." in c})


def _hourly(vendor: str, warehouse: pl.Series, hour: pl.Series, unit: str, units, cloud=None):
    frame = pl.DataFrame(
        {
            "vendor": vendor,
            "warehouse": warehouse,
            "hour": hour,
            "unit": unit,
            "units": units,
            "cloud_services_units": cloud
            if cloud is not None
            else pl.Series([0.0] * len(warehouse), dtype=pl.Float64),
        }
    )
    return frame.with_columns(pl.col("hour").dt.date().alias("day"))


def _snowflake_metering(frame, file, zone):
    compute = "credits_used_compute" if "credits_used_compute" in frame.columns else "credits_used"
    units = as_numbers(frame, compute, path=file).fill_null(0.0)
    cloud = as_numbers(frame, "credits_used_cloud_services", path=file).fill_null(0.0)
    hour = as_times(frame, "start_time", path=file, zone=zone)
    _no_nulls(hour, file, "start_time")
    warehouse = as_text(frame, "warehouse_name")
    return _hourly("snowflake", warehouse, hour, "credits", units, cloud), None


def _dbt_ids(text: pl.Series, tag: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    both = pl.select(
        pl.concat_str([text.fill_null(""), tag.fill_null("")], separator=" ")
    ).to_series()
    node = both.str.extract(_NODE.pattern, 1)
    invocation = both.str.extract(_INVOCATION.pattern, 1)
    is_dbt = both.str.contains(_DBT_APP) | node.is_not_null() | invocation.is_not_null()
    return node, invocation, is_dbt


def _queries(
    vendor,
    frame,
    file,
    zone,
    *,
    warehouse,
    query_id,
    start,
    end,
    text,
    tag,
    bytes_col=None,
    slot_col=None,
    credits_col=None,
):
    started = as_times(frame, start, path=file, zone=zone)
    finished = as_times(frame, end, path=file, zone=zone)
    _no_nulls(started, file, start)
    node, invocation, is_dbt = _dbt_ids(as_text(frame, text), tag)
    return pl.DataFrame(
        {
            "vendor": vendor,
            "warehouse": warehouse,
            "query_id": as_text(frame, query_id),
            "started_at": started,
            "finished_at": pl.select(pl.coalesce(finished, started)).to_series(),
            "node_id": node,
            "invocation_id": invocation,
            "is_dbt": is_dbt,
            "bytes_billed": as_numbers(frame, bytes_col, path=file) if bytes_col else None,
            "slot_ms": as_numbers(frame, slot_col, path=file) if slot_col else None,
            "credits": as_numbers(frame, credits_col, path=file) if credits_col else None,
        },
        schema=_QUERIES,
    )


def _snowflake_queries(frame, file, zone):
    q = _queries(
        "snowflake",
        frame,
        file,
        zone,
        warehouse=as_text(frame, "warehouse_name"),
        query_id="query_id",
        start="start_time",
        end="end_time",
        text="query_text",
        tag=as_text(frame, "query_tag"),
        credits_col="credits_attributed_compute",
    )
    return None, q.filter(pl.col("warehouse").is_not_null())  # cloud-services-only queries


def _labels(frame: pl.DataFrame) -> pl.Series:
    """BigQuery job labels as ``"key": "value"`` text, so the dbt id patterns match them."""
    text = as_text(frame, "labels")
    return text.str.replace_all(
        r'\{"key"\s*:\s*"([^"]*)"\s*,\s*"value"\s*:\s*"([^"]*)"\}', '"$1": "$2"'
    )


def _bigquery_jobs(frame, file, zone):
    start = "start_time" if "start_time" in frame.columns else "creation_time"
    warehouse = pl.Series("warehouse", ["bigquery"] * frame.height, dtype=pl.String)
    q = _queries(
        "bigquery",
        frame,
        file,
        zone,
        warehouse=warehouse,
        query_id="job_id",
        start=start,
        end="end_time",
        text="query",
        tag=_labels(frame),
        bytes_col="total_bytes_billed",
        slot_col="total_slot_ms",
    )
    q = q.with_columns(pl.col("node_id").str.replace(r"^(model|test|seed|snapshot)_", "${1}."))
    hour = q.get_column("started_at").dt.truncate("1h")
    tib = q.get_column("bytes_billed").fill_null(0.0) / TIB
    slot_h = q.get_column("slot_ms").fill_null(0.0) / 3.6e6
    usage = pl.concat(
        [
            _hourly("bigquery", warehouse, hour, "TiB", tib),
            _hourly("bigquery", warehouse, hour, "slot_hours", slot_h),
        ]
    )
    return usage, q


def _databricks_warehouse(frame: pl.DataFrame, struct: str) -> pl.Series:
    for flat in (f"{struct}__warehouse_id", "warehouse_id", f"{struct}_warehouse_id"):
        if flat in frame.columns:
            return as_text(frame, flat).alias("warehouse")
    return as_text(frame, struct).str.json_path_match("$.warehouse_id").alias("warehouse")


def _databricks_usage(frame, file, zone):
    sql = as_text(frame, "sku_name").str.to_uppercase().str.contains("SQL").fill_null(False)
    if "usage_unit" in frame.columns:
        sql = sql & (as_text(frame, "usage_unit").str.to_uppercase() == "DBU").fill_null(False)
    units = as_numbers(frame, "usage_quantity", path=file).fill_null(0.0)
    if "usage_start_time" in frame.columns:
        hour = as_times(frame, "usage_start_time", path=file, zone=zone)
    else:
        day = as_text(frame, "usage_date").str.slice(0, 10).str.to_date(strict=False)
        hour = pl.select(day.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")).to_series()
    _no_nulls(hour, file, "usage_start_time")
    usage = _hourly(
        "databricks", _databricks_warehouse(frame, "usage_metadata"), hour, "DBU", units
    )
    return usage.filter(sql & pl.col("warehouse").is_not_null()), None


def _databricks_queries(frame, file, zone):
    q = _queries(
        "databricks",
        frame,
        file,
        zone,
        warehouse=_databricks_warehouse(frame, "compute"),
        query_id="statement_id",
        start="start_time",
        end="end_time",
        text="statement_text",
        tag=pl.Series([None] * frame.height, dtype=pl.String),
    )
    return None, q.filter(pl.col("warehouse").is_not_null())


def _saosim_usage(frame, file, zone):
    day = as_text(frame, "usage_day").str.slice(0, 10).str.to_date(strict=False)
    _no_nulls(day, file, "usage_day")
    hour = pl.select(day.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")).to_series()
    units = as_numbers(frame, "units", path=file).fill_null(0.0)
    cloud = as_numbers(frame, "cloud_services_units", path=file).fill_null(0.0)
    usage = _hourly("aggregate", as_text(frame, "warehouse"), hour, "", units, cloud)
    return usage.with_columns(as_text(frame, "unit").alias("unit")), None


def _saosim_dbt_queries(frame, file, zone):
    q = _queries(
        "aggregate",
        frame,
        file,
        zone,
        warehouse=as_text(frame, "warehouse"),
        query_id="query_id",
        start="first_start",
        end="last_end",
        text="none",
        tag=pl.Series([None] * frame.height, dtype=pl.String),
        bytes_col="bytes_billed",
        slot_col="slot_ms",
    )
    return None, q.with_columns(
        as_text(frame, "node_id").alias("node_id"),
        as_text(frame, "invocation_id").alias("invocation_id"),
        pl.lit(True).alias("is_dbt"),
    )


def _no_nulls(column: pl.Series, file: Path, field: str) -> None:
    if column.null_count():
        row = int(column.is_null().arg_true()[0]) + 1
        raise SchemaError("a time is required on every row", path=str(file), field=field, row=row)


_READERS = {
    "snowflake_metering": _snowflake_metering,
    "snowflake_queries": _snowflake_queries,
    "bigquery_jobs": _bigquery_jobs,
    "databricks_usage": _databricks_usage,
    "databricks_queries": _databricks_queries,
    "saosim_usage": _saosim_usage,
    "saosim_dbt_queries": _saosim_dbt_queries,
}
