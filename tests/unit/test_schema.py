from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from saosim.errors import SchemaError
from saosim.inputs.schema import TABLES, UTC_TIME, empty, validate


def test_every_table_has_an_empty_form() -> None:
    for name, schema in TABLES.items():
        assert empty(name).schema == pl.Schema(schema)
        assert validate(empty(name), name).height == 0


def test_iso_strings_with_offsets_become_utc() -> None:
    df = pl.DataFrame(
        {"run_id": ["a", "b"], "started_at": ["2025-01-01T10:00:00Z", "2025-01-01T12:00:00+02:00"]}
    )
    out = validate(df, "runs")
    assert out.schema["started_at"] == UTC_TIME
    assert out["started_at"].to_list() == [
        datetime(2025, 1, 1, 10, tzinfo=UTC),
        datetime(2025, 1, 1, 10, tzinfo=UTC),
    ]


def test_naive_timestamp_string_names_file_field_and_row() -> None:
    df = pl.DataFrame(
        {"run_id": ["a", "b"], "started_at": ["2025-01-01T10:00:00Z", "2025-03-01 10:00"]}
    )
    with pytest.raises(SchemaError) as err:
        validate(df, "runs", path="history.csv", row_offset=2)
    assert err.value.path == "history.csv"
    assert err.value.field == "started_at"
    assert err.value.row == 3
    assert "no time zone" in str(err.value)


def test_naive_datetime_column_is_rejected() -> None:
    df = pl.DataFrame({"unique_id": ["s"], "arrived_at": [datetime(2025, 1, 1)]})
    with pytest.raises(SchemaError, match="no time zone"):
        validate(df, "source_arrivals")


def test_garbage_timestamp() -> None:
    df = pl.DataFrame({"unique_id": ["s"], "arrived_at": ["yesterday+00:00"]})
    with pytest.raises(SchemaError, match="not an ISO 8601"):
        validate(df, "source_arrivals")


def test_missing_required_column_and_value() -> None:
    with pytest.raises(SchemaError, match="required column is missing"):
        validate(pl.DataFrame({"unique_id": ["x"]}), "node_runs")
    df = pl.DataFrame(
        {"run_id": ["r", None], "unique_id": ["a", "b"], "status": ["success", "error"]}
    )
    with pytest.raises(SchemaError) as err:
        validate(df, "node_runs")
    assert err.value.field == "run_id" and err.value.row == 2


def test_status_vocabulary_and_types() -> None:
    df = pl.DataFrame({"run_id": ["r"], "unique_id": ["a"], "status": ["exploded"]})
    with pytest.raises(SchemaError, match="'exploded' is not one of"):
        validate(df, "node_runs")
    df = pl.DataFrame(
        {"run_id": ["r"], "unique_id": ["a"], "status": ["success"], "execution_time_s": ["fast"]}
    )
    with pytest.raises(SchemaError, match="expected Float64"):
        validate(df, "node_runs")


def test_duplicate_keys_are_rejected() -> None:
    df = pl.DataFrame({"run_id": ["r1", "r2", "r1"], "started_at": ["2025-01-01T00:00:00Z"] * 3})
    with pytest.raises(SchemaError) as err:
        validate(df, "runs", path="runs.csv")
    assert "duplicate key" in str(err.value) and err.value.row == 1


def test_extra_columns_dropped_and_missing_optional_added() -> None:
    df = pl.DataFrame({"unique_id": ["s"], "arrived_at": ["2025-01-01T00:00:00Z"], "junk": [1]})
    out = validate(df, "source_arrivals")
    assert out.columns == list(TABLES["source_arrivals"])
    assert out["how"].to_list() == [None]
