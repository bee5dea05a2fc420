"""Column readers for exported tables: text, numbers, flags, JSON fields and timestamps.

Vectorised with polars, because an export holds one row per node per run — millions of rows.
Every reader takes the column by its (lower-cased) name and gives nulls when it is absent.

>>> import polars as pl
>>> frame = pl.DataFrame({"at": ["2026-01-05 07:00:00", "2026-01-05T08:00:00Z"]})
>>> berlin = parse_zone("Europe/Berlin")
>>> [t.hour for t in as_times(frame, "at", path="x.csv", zone=berlin)]
[6, 8]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import polars as pl

from saosim.errors import ConfigError, SchemaError
from saosim.inputs._io import _HAS_ZONE
from saosim.inputs.schema import UTC_TIME

__all__ = [
    "as_counts",
    "as_flags",
    "as_numbers",
    "as_statuses",
    "as_text",
    "as_times",
    "json_field",
    "json_list",
    "json_obj",
    "null_column",
    "parse_zone",
    "require_columns",
]

_ISO = "%Y-%m-%dT%H:%M:%S%.f%z"
_LOCAL = "%Y-%m-%dT%H:%M:%S%.f"


def null_column(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Series:
    return pl.Series(name, [None] * frame.height, dtype=dtype)


def as_text(frame: pl.DataFrame, name: str) -> pl.Series:
    """A column as text; blank strings are null; Parquet lists and structs become JSON."""
    if name not in frame.columns:
        return null_column(frame, name, pl.String)
    column = frame.get_column(name)
    if column.dtype in (pl.List(pl.String), pl.List(pl.Utf8)) or isinstance(
        column.dtype, pl.List | pl.Struct
    ):
        # Parquet keeps arrays and objects typed; the readers below expect JSON text.
        return pl.Series(
            name,
            [None if v is None else orjson.dumps(v).decode() for v in column.to_list()],
            dtype=pl.String,
        )
    text = column.cast(pl.String)
    return pl.select(pl.when(text.str.strip_chars() != "").then(text)).to_series().alias(name)


def as_numbers(frame: pl.DataFrame, name: str, *, path: str | Path) -> pl.Series:
    """A numeric column; text that is not a number is an error naming the row, not a null."""
    text = as_text(frame, name)
    numbers = text.str.strip_chars().cast(pl.Float64, strict=False)
    bad = text.is_not_null() & numbers.is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise SchemaError(f"{text[row]!r} is not a number", path=str(path), field=name, row=row + 1)
    return numbers.alias(name)


def as_counts(frame: pl.DataFrame, name: str, *, path: str | Path) -> pl.Series:
    """A row or byte count; negative values (adapters write -1 for "unknown") are null."""
    numbers = as_numbers(frame, name, path=path)
    huge = numbers >= 2.0**63
    if huge.any():
        row = int(huge.arg_true()[0])
        raise SchemaError(
            f"{numbers[row]!r} is more than a 64-bit count", path=str(path), field=name, row=row + 1
        )
    return pl.select(pl.when(numbers >= 0).then(numbers)).to_series().cast(pl.Int64).alias(name)


def as_flags(frame: pl.DataFrame, name: str) -> pl.Series:
    if name in frame.columns and frame.get_column(name).dtype == pl.Boolean:
        return frame.get_column(name)
    text = as_text(frame, name).str.strip_chars().str.to_lowercase()
    return text.is_in(["true", "1", "t", "yes"]).alias(name)


def as_statuses(frame: pl.DataFrame, name: str) -> pl.Series:
    return as_text(frame, name).str.strip_chars().str.to_lowercase().str.replace_all("_", " ")


def json_field(frame: pl.DataFrame, name: str, keys: tuple[str, ...]) -> pl.Series:
    text = as_text(frame, name)
    found = [text.str.json_path_match(f"$.{key}") for key in keys]
    return pl.select(pl.coalesce(found)).to_series().alias(name)


def as_times(
    frame: pl.DataFrame, name: str, *, path: str | Path, zone: ZoneInfo | None
) -> pl.Series:
    """A timestamp column in UTC; values without an offset are in ``zone`` (an error if None).

    Accepts ISO 8601 text (``T`` or a space, any fraction digits, ``Z`` or an offset) and
    Parquet datetimes; a bad or naive value raises a SchemaError naming file, column and row.
    """
    if name not in frame.columns:
        return null_column(frame, name, UTC_TIME)
    column = frame.get_column(name)
    if isinstance(column.dtype, pl.Datetime):
        if column.dtype.time_zone is None:
            _no_zone(column.is_not_null(), column, path=path, field=name, zone=zone)
            column = _localise(column, zone)
        return column.dt.convert_time_zone("UTC").cast(UTC_TIME).alias(name)
    text = as_text(frame, name).str.strip_chars()
    given = text.is_not_null()
    zoned = given & text.str.contains(_HAS_ZONE.pattern)
    _no_zone(given & ~zoned, text, path=path, field=name, zone=zone)
    iso = text.str.replace(r"[zZ]$", "+00:00").str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
    parsed = iso.str.to_datetime(format=_ISO, time_zone="UTC", time_unit="us", strict=False)
    if (given & ~zoned).any():
        local = _localise(
            iso.str.to_datetime(format=_LOCAL, time_unit="us", strict=False), zone
        ).dt.convert_time_zone("UTC")
        parsed = pl.select(pl.when(zoned).then(parsed).otherwise(local)).to_series()
    bad = given & parsed.is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise SchemaError(
            f"{text[row]!r} is not an ISO 8601 timestamp (or not a time that exists in "
            f"{zone.key if zone else 'UTC'})",
            path=str(path),
            field=name,
            row=row + 1,
        )
    return parsed.cast(UTC_TIME).alias(name)


def _no_zone(
    naive: pl.Series, values: pl.Series, *, path: str | Path, field: str, zone: ZoneInfo | None
) -> None:
    if zone is None and naive.any():
        row = int(naive.arg_true()[0])
        raise SchemaError(
            f"{values[row]!s:.40} has no time zone; pass timezone='UTC' (or the zone the export "
            "used)",
            path=str(path),
            field=field,
            row=row + 1,
        )


def _localise(column: pl.Series, zone: ZoneInfo | None) -> pl.Series:
    if zone is None:  # only reached when every value is null
        return column.dt.replace_time_zone("UTC")
    return column.dt.replace_time_zone(zone.key, ambiguous="earliest", non_existent="null")


def json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if not text:
        return []
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Snowflake exports arrays as JSON; some tools write "a,b" — accept both.
        return [t.strip().strip("'\"") for t in text.strip("[]").split(",") if t.strip()]
    return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]


def require_columns(frame: pl.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise SchemaError(
                f"required column is missing (has: {', '.join(frame.columns[:8])}"
                + (" …" if frame.width > 8 else "")
                + ")",
                path=str(path),
                field=column,
            )


def parse_zone(timezone: str | None) -> ZoneInfo | None:
    if timezone is None:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{timezone!r} is not a time zone name", field="timezone") from None


def json_obj(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = orjson.loads(str(value))
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
