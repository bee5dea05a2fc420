"""The canonical tables: declared polars schemas, validated on the way in.

Every reader turns its input into these tables; everything downstream reads only these.
:func:`validate` checks one table — columns, types, required values, vocabularies, time zones,
unique keys — and raises one :class:`~saosim.errors.SchemaError` naming the file, the field and
the first rows that are wrong.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> df = pl.DataFrame({"unique_id": ["source.p.raw.orders"],
...                    "arrived_at": [datetime(2025, 1, 1, tzinfo=UTC)]})
>>> validate(df, "source_arrivals").columns
['unique_id', 'arrived_at', 'observed_at', 'how']
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from saosim.errors import SchemaError

__all__ = [
    "DECISION_ACTIONS",
    "ID",
    "NODE_RUN_STATUSES",
    "TABLES",
    "UNIQUE_KEYS",
    "UTC_TIME",
    "check_rows",
    "empty",
    "validate",
]

#: Every timestamp inside saosim: microseconds, UTC.
UTC_TIME = pl.Datetime("us", "UTC")

NODE_RUN_STATUSES = (
    "success",
    "error",
    "skipped",
    "reused",
    "pass",
    "fail",
    "warn",
    "runtime error",
    "no-op",
)
ARRIVAL_HOW = ("loaded_at_field", "metadata", "loader_log")
DECISION_ACTIONS = ("build", "run", "reuse", "skip", "no_op")

NODES = {
    "unique_id": pl.String,
    "name": pl.String,
    "resource_type": pl.String,
    "materialization": pl.String,
    "package": pl.String,
    "path": pl.String,
    "tags": pl.List(pl.String),
    "fingerprint": pl.String,
    "checksum": pl.String,
    "language": pl.String,
    "raw_code": pl.String,
    "compiled_code": pl.String,
    "build_config": pl.String,
    "database": pl.String,
    "schema": pl.String,
    "alias": pl.String,
    "loaded_at_field": pl.String,
    "severity": pl.String,
    "build_after_count": pl.Int64,
    "build_after_period": pl.String,
    "updates_on": pl.String,
    "lag_tolerance_s": pl.Float64,
    "require_fresh_data_from": pl.String,
    "freshness_declared": pl.Boolean,
}
EDGES = {"parent_id": pl.String, "child_id": pl.String}
#: Ids that repeat down a long history are Categorical: a year of 10,000 models is 25 M node
#: runs, ~2 GB as strings and ~0.3 GB as categories (compare and join them as they are; cast
#: to String only for string functions)
ID = pl.Categorical()

RUNS = {
    "run_id": ID,
    "job_id": pl.String,
    "started_at": UTC_TIME,
    "finished_at": UTC_TIME,
    "status": pl.String,
    "command": pl.String,
    "selection": pl.String,
    "full_refresh": pl.Boolean,
    #: dbt's threads for the run (run_results ``args.threads``)
    "threads": pl.Int64,
}
NODE_RUNS = {
    "run_id": ID,
    "unique_id": ID,
    "status": ID,
    "started_at": UTC_TIME,
    "completed_at": UTC_TIME,
    "execution_time_s": pl.Float64,
    "rows_affected": pl.Int64,
    "bytes_processed": pl.Int64,
    "query_id": pl.String,
    "cost": pl.Float64,
}
SOURCE_ARRIVALS = {
    "unique_id": ID,
    "arrived_at": UTC_TIME,
    "observed_at": UTC_TIME,
    "how": pl.String,
}
CODE_CHANGES = {
    "unique_id": ID,
    "changed_at": UTC_TIME,
    "checksum": pl.String,
    "fingerprint": pl.String,
}
#: One row per (scenario, run, node): the planner's decision and what it cost in the replay.
DECISIONS = {
    "scenario": pl.String,
    "run_id": pl.String,
    "job_id": pl.String,
    "run_at": UTC_TIME,
    "unique_id": pl.String,
    "action": pl.String,
    "reason": pl.String,
    # when the job reached the node (the rules' t); a build may start later, after waiting
    # for the same node's build in another run
    "reached_at": UTC_TIME,
    "started_at": UTC_TIME,
    "finished_at": UTC_TIME,
    "runtime_s": pl.Float64,
    "cost_usd": pl.Float64,
}

TABLES: dict[str, dict[str, pl.DataType]] = {
    "nodes": NODES,
    "edges": EDGES,
    "runs": RUNS,
    "node_runs": NODE_RUNS,
    "source_arrivals": SOURCE_ARRIVALS,
    "code_changes": CODE_CHANGES,
    "decisions": DECISIONS,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "nodes": ("unique_id", "name", "resource_type"),
    "edges": ("parent_id", "child_id"),
    "runs": ("run_id", "started_at"),
    "node_runs": ("run_id", "unique_id", "status"),
    "source_arrivals": ("unique_id", "arrived_at"),
    "code_changes": ("unique_id", "changed_at"),
    "decisions": ("run_id", "unique_id", "action", "reason"),
}
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "nodes": ("unique_id",),
    "edges": ("parent_id", "child_id"),
    "runs": ("run_id",),
    "node_runs": ("run_id", "unique_id"),
}
VOCABULARY: dict[tuple[str, str], tuple[str, ...]] = {
    ("node_runs", "status"): NODE_RUN_STATUSES,
    ("source_arrivals", "how"): ARRIVAL_HOW,
    ("decisions", "action"): DECISION_ACTIONS,
}


def empty(table: str) -> pl.DataFrame:
    """An empty frame with a canonical table's schema.

    >>> empty("runs").schema["started_at"]
    Datetime(time_unit='us', time_zone='UTC')
    """
    return pl.DataFrame(schema=TABLES[table])


def validate(
    frame: pl.DataFrame,
    table: str,
    *,
    path: str | None = None,
    row_offset: int = 1,
) -> pl.DataFrame:
    """Check a frame against a canonical table and return it with exactly that schema.

    Missing optional columns are added as nulls; extra columns are dropped. Strings that hold
    ISO timestamps with an offset are parsed; naive timestamps are an error.

    Args:
        frame: the table as read.
        table: one of :data:`TABLES`.
        path: the file it came from, for messages.
        row_offset: the number of the frame's first row in that file (1 for a CSV's first data row).

    Returns:
        The frame with the canonical columns, types and order.

    >>> validate(pl.DataFrame({"run_id": ["r1"]}), "runs", path="runs.csv")
    Traceback (most recent call last):
    ...
    saosim.errors.SchemaError: runs.csv, field "started_at": required column is missing (table runs)
    """
    if table not in TABLES:
        raise ValueError(f"unknown canonical table {table!r}")
    schema = TABLES[table]
    for column in REQUIRED[table]:
        if column not in frame.columns:
            raise SchemaError(
                f"required column is missing (table {table})", path=path, field=column
            )
    columns = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            columns.append(pl.Series(name, [None] * frame.height, dtype=dtype))
            continue
        columns.append(_cast(frame, name, dtype, table=table, path=path, row_offset=row_offset))
    out = pl.DataFrame(columns)
    _check_required(out, table, path, row_offset)
    _check_vocabulary(out, table, path, row_offset)
    _check_unique(out, table, path, row_offset)
    return out


def check_rows(
    frame: pl.DataFrame,
    table: str,
    *,
    path: str | None = None,
    row_offset: int = 1,
    unique: bool = True,
) -> None:
    """:func:`validate`'s checks of values, on a frame whose columns already have the
    canonical types and that holds at least the columns they read: required values,
    vocabularies and (``unique``) unique keys. For a table checked a batch at a time.

    >>> check_rows(pl.DataFrame({"run_id": ["r"], "unique_id": ["m"], "status": ["boom"]}),
    ...            "node_runs", path="node_runs.parquet", row_offset=7)
    Traceback (most recent call last):
    ...
    saosim.errors.SchemaError: node_runs.parquet, row 7, field "status": 'boom' is not one of \
success, error, skipped, reused, pass, fail, warn, runtime error, no-op
    """
    _check_required(frame, table, path, row_offset)
    _check_vocabulary(frame, table, path, row_offset)
    if unique:
        _check_unique(frame, table, path, row_offset)


def _rows(mask: pl.Series, row_offset: int) -> list[int]:
    return [i + row_offset for i in mask.arg_true().head(5).to_list()]


def _cast(
    frame: pl.DataFrame,
    name: str,
    dtype: pl.DataType,
    *,
    table: str,
    path: str | None,
    row_offset: int,
) -> pl.Series:
    column = frame.get_column(name)
    if dtype == UTC_TIME:
        return _as_utc(column, table=table, path=path, row_offset=row_offset)
    if column.dtype == dtype:
        return column
    if column.dtype == pl.Null:
        return column.cast(dtype)
    if dtype == ID:
        # through text: an id read as a number (a CSV's 1, 2, 3) is the id "1"
        return column.cast(pl.String).cast(ID)
    try:
        cast = column.cast(dtype, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        cast = column.cast(dtype, strict=False)
        bad = cast.is_null() & column.is_not_null()
        rows = _rows(bad, row_offset)
        examples = [repr(v) for v in column.filter(bad).head(3).to_list()]
        raise SchemaError(
            f"expected {dtype}, got {', '.join(examples)} (rows {rows}, {int(bad.sum())} in all)",
            path=path,
            field=name,
            row=rows[0] if rows else None,
        ) from None
    return cast


def _as_utc(column: pl.Series, *, table: str, path: str | None, row_offset: int) -> pl.Series:
    name = column.name
    if column.dtype == pl.Null:
        return column.cast(UTC_TIME)
    if isinstance(column.dtype, pl.Datetime):
        if column.dtype.time_zone is None:
            rows = _rows(column.is_not_null(), row_offset)
            raise SchemaError(
                "timestamps have no time zone; give them an offset (…Z or +00:00) or convert "
                "them to UTC before loading",
                path=path,
                field=name,
                row=rows[0] if rows else None,
            )
        return column.dt.convert_time_zone("UTC").cast(UTC_TIME)
    if column.dtype == pl.String:
        text = column.str.strip_chars()
        naive = text.is_not_null() & ~text.str.contains(r"(Z|z|[+-]\d\d:?\d\d)$") & (text != "")
        if naive.any():
            rows = _rows(naive, row_offset)
            raise SchemaError(
                f"{text.filter(naive)[0]!r} has no time zone; add an offset (…Z or +00:00)",
                path=path,
                field=name,
                row=rows[0],
            )
        parsed = text.str.replace(r"[zZ]$", "+00:00").str.to_datetime(
            time_zone="UTC", strict=False, time_unit="us"
        )
        bad = parsed.is_null() & text.is_not_null() & (text != "")
        if bad.any():
            rows = _rows(bad, row_offset)
            raise SchemaError(
                f"{text.filter(bad)[0]!r} is not an ISO 8601 timestamp",
                path=path,
                field=name,
                row=rows[0],
            )
        return parsed.cast(UTC_TIME)
    raise SchemaError(f"expected a timestamp, got {column.dtype}", path=path, field=name)


def _check_required(out: pl.DataFrame, table: str, path: str | None, row_offset: int) -> None:
    for column in REQUIRED[table]:
        missing = out.get_column(column).is_null()
        if missing.any():
            rows = _rows(missing, row_offset)
            raise SchemaError(
                f"is empty in {int(missing.sum())} rows (first rows: {rows})",
                path=path,
                field=column,
                row=rows[0],
            )


def _check_vocabulary(out: pl.DataFrame, table: str, path: str | None, row_offset: int) -> None:
    for (tab, column), allowed in VOCABULARY.items():
        if tab != table:
            continue
        values = out.get_column(column)
        bad = values.is_not_null() & ~values.is_in(list(allowed))
        if bad.any():
            rows = _rows(bad, row_offset)
            raise SchemaError(
                f"{values.filter(bad)[0]!r} is not one of {', '.join(allowed)}",
                path=path,
                field=column,
                row=rows[0],
            )


def _check_unique(out: pl.DataFrame, table: str, path: str | None, row_offset: int) -> None:
    key = UNIQUE_KEYS.get(table)
    if not key or out.height == 0:
        return
    # Fast path (measured 4–7× faster on 12 M node runs): one 64-bit hash per row; distinct
    # hashes prove distinct keys, and only a shared hash falls through to the exact check.
    hashed = pl.col(key[0]).hash(seed=0)
    for seed, column in enumerate(key[1:], start=1):
        hashed = hashed ^ pl.col(column).hash(seed=seed)
    if out.select(hashed.n_unique()).item() == out.height:
        return
    dup = out.select(pl.struct(list(key)).is_duplicated()).to_series()
    if dup.any():
        rows = _rows(dup, row_offset)
        first = out.filter(dup).row(0, named=True)
        shown = ", ".join(f"{k}={first[k]!r}" for k in key)
        raise SchemaError(
            f"duplicate key ({shown}); rows {rows} repeat it",
            path=path,
            field="/".join(key),
            row=rows[0],
        )


def frames_from_mapping(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Validate several tables at once (keys are table names)."""
    return {name: validate(frame, name) for name, frame in tables.items()}
