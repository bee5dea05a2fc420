"""dbt_artifacts and elementary exports (their real column names) → project and history."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from saosim.errors import ArtifactError, ConfigError, SaosimWarning, SchemaError
from saosim.inputs.exports import export_kind, read_export

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
ELEMENTARY = FIXTURES / "elementary_export"
DBT_ARTIFACTS = FIXTURES / "dbt_artifacts_export"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_kinds_are_detected_from_table_files(tmp_path: Path) -> None:
    assert export_kind(ELEMENTARY) == "elementary"
    assert export_kind(DBT_ARTIFACTS) == "dbt_artifacts"
    assert export_kind(tmp_path) is None
    with pytest.raises(ArtifactError, match="neither a dbt_artifacts export"):
        read_export(tmp_path)


def test_elementary_export() -> None:
    with pytest.warns(SaosimWarning, match=r"seed\.shop\.country_codes"):
        project, history = read_export(ELEMENTARY)
    assert project.counts() == {"model": 3, "seed": 1, "source": 2}
    assert project.parents("model.shop.fct_orders") == (
        "model.shop.stg_customers",
        "model.shop.stg_orders",
    )
    fct = project.nodes["model.shop.fct_orders"]
    assert (fct.materialization, fct.checksum, fct.tags, fct.schema) == (
        "incremental",
        "ccc333",
        ("marts", "hourly"),
        "MARTS",
    )
    assert project.nodes["source.shop.raw.orders"].alias == "orders_v2"
    runs = {r["run_id"]: r for r in history.runs.iter_rows(named=True)}
    # elementary writes its own *_at strings in UTC without an offset
    assert runs["e1-0700"]["started_at"] == at("2026-01-05T07:00:01")
    assert runs["e1-0700"]["job_id"] == "hourly"
    assert runs["e1-0700"]["selection"] == "tag:hourly+"
    assert runs["e1-0800"]["status"] == "error"
    assert runs["e1-0200"]["full_refresh"] is True
    assert history.node_runs.height == 8
    fct_run = history.node_runs.filter(
        (pl.col("run_id") == "e1-0700") & (pl.col("unique_id") == "model.shop.fct_orders")
    ).row(0, named=True)
    assert fct_run["execution_time_s"] == pytest.approx(144.2)
    assert fct_run["started_at"] == at("2026-01-05T07:00:41")
    assert history.source_arrivals.height == 3
    assert history.code_changes.height == 0


def test_dbt_artifacts_export() -> None:
    project, history = read_export(DBT_ARTIFACTS)
    assert project.counts() == {"model": 3, "source": 2}
    assert project.nodes["source.shop.raw.orders"].loaded_at_field == "_loaded_at"
    assert history.runs.get_column("job_id").to_list() == ["3001", "3001"]
    assert history.runs.get_column("status").to_list() == ["success", "error"]
    stg = history.node_runs.filter(pl.col("query_id") == "q-a2").row(0, named=True)
    assert (stg["unique_id"], stg["rows_affected"]) == ("model.shop.stg_customers", 10450)
    # fct_orders' checksum changed between the two invocations' snapshots of `models`
    assert history.code_changes.rows() == [
        ("model.shop.fct_orders", at("2026-01-05T08:00:01"), "ccc999", None)
    ]
    # source_executions.parquet: real tz-aware timestamps, max_loaded_at moved once
    assert history.source_arrivals.height == 3


def test_upper_case_columns_from_a_snowflake_export(tmp_path: Path) -> None:
    for file in DBT_ARTIFACTS.glob("*.csv"):
        frame = pl.read_csv(file, infer_schema=False)
        frame.rename({c: c.upper() for c in frame.columns}).write_csv(tmp_path / file.name.upper())
    project, history = read_export(tmp_path)
    assert project.counts()["model"] == 3
    assert history.node_runs.height == 6


def test_naive_dbt_artifacts_timestamps_need_a_zone(tmp_path: Path) -> None:
    shutil.copytree(DBT_ARTIFACTS, tmp_path / "export")
    runs = tmp_path / "export" / "model_executions.csv"
    runs.write_text(runs.read_text().replace("2026-01-05T07:00:07Z", "2026-01-05 07:00:07"))
    with pytest.raises(SchemaError, match=r"no time zone.*timezone='UTC'") as info:
        read_export(tmp_path / "export")
    assert (info.value.field, info.value.row) == ("compile_started_at", 1)
    assert info.value.path.endswith("model_executions.csv")
    _, history = read_export(tmp_path / "export", timezone="Europe/Berlin")
    first = history.node_runs.filter(pl.col("query_id") == "q-a1").row(0, named=True)
    assert first["started_at"] == at("2026-01-05T06:00:07")  # 07:00 in Berlin is 06:00 UTC
    with pytest.raises(ConfigError, match="not a time zone"):
        read_export(tmp_path / "export", timezone="Mars/Olympus")


def test_bad_status_in_an_export_names_the_table(tmp_path: Path) -> None:
    shutil.copytree(ELEMENTARY, tmp_path / "export")
    results = tmp_path / "export" / "dbt_run_results.csv"
    results.write_text(results.read_text().replace(",skipped,", ",exploded,"))
    with pytest.raises(SchemaError, match="'exploded' is not one of") as info:
        read_export(tmp_path / "export")
    assert (info.value.path, info.value.row) == (str(results), 6)


def test_export_without_a_models_table_cannot_make_a_project(tmp_path: Path) -> None:
    (tmp_path / "dbt_invocations.csv").write_text("invocation_id,run_started_at\n")
    with pytest.raises(ArtifactError, match="no models table"):
        read_export(tmp_path)


def test_missing_key_column_names_the_file_and_column(tmp_path: Path) -> None:
    shutil.copytree(DBT_ARTIFACTS, tmp_path / "export")
    runs = tmp_path / "export" / "model_executions.csv"
    frame = pl.read_csv(runs, infer_schema=False).drop("node_id")
    frame.write_csv(runs)
    with pytest.raises(SchemaError, match="required column is missing") as info:
        read_export(tmp_path / "export")
    assert (info.value.field, info.value.path) == ("node_id", str(runs))


def test_model_run_results_view_without_invocation_id(tmp_path: Path) -> None:
    # elementary's model_run_results view: the run is the prefix of model_execution_id.
    shutil.copytree(ELEMENTARY, tmp_path / "export")
    results = tmp_path / "export" / "dbt_run_results.csv"
    frame = pl.read_csv(results, infer_schema=False).drop("invocation_id")
    frame.write_csv(tmp_path / "export" / "model_run_results.csv")
    results.unlink()
    with pytest.warns(SaosimWarning):
        _, history = read_export(tmp_path / "export")
    assert sorted(set(history.node_runs.get_column("run_id").to_list())) == [
        "e1-0200",
        "e1-0700",
        "e1-0800",
    ]


def test_parquet_and_gzipped_csv_tables(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(DBT_ARTIFACTS, export)
    # model_executions as Parquet with naive warehouse timestamps, invocations as .csv.gz
    runs = pl.read_csv(export / "model_executions.csv", infer_schema=False)
    for column in ("run_started_at", "compile_started_at", "query_completed_at"):
        runs = runs.with_columns(
            pl.col(column).str.replace("Z$", "").str.to_datetime(time_unit="us", strict=False)
        )
    (export / "model_executions.csv").unlink()
    runs.write_parquet(export / "model_executions.parquet")
    invocations = export / "invocations.csv"
    (export / "invocations.csv.gz").write_bytes(gzip.compress(invocations.read_bytes()))
    invocations.unlink()
    with pytest.raises(SchemaError, match="no time zone") as info:
        read_export(export)
    assert info.value.path.endswith("model_executions.parquet")
    _, history = read_export(export, timezone="UTC")
    assert history.node_runs.height == 6
    assert history.runs.get_column("job_id").to_list() == ["3001", "3001"]


def test_parquet_models_table_with_native_arrays(tmp_path: Path) -> None:
    # BigQuery/Databricks exports keep depends_on_nodes and tags as arrays, not JSON text.
    export = tmp_path / "export"
    shutil.copytree(DBT_ARTIFACTS, export)
    models = pl.read_csv(export / "models.csv", infer_schema=False).with_columns(
        pl.col("depends_on_nodes").str.json_decode(pl.List(pl.String)),
        pl.col("tags").str.json_decode(pl.List(pl.String)),
    )
    (export / "models.csv").unlink()
    models.write_parquet(export / "models.parquet")
    project, _ = read_export(export)
    assert project.parents("model.shop.fct_orders") == (
        "model.shop.stg_customers",
        "model.shop.stg_orders",
    )
    assert project.nodes["model.shop.fct_orders"].tags == ("marts",)


def test_a_runtime_that_is_not_a_number_is_an_error_not_a_null(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(DBT_ARTIFACTS, export)
    runs = export / "model_executions.csv"
    runs.write_text(runs.read_text().replace(",33.0,", ",thirty-three,"))
    with pytest.raises(SchemaError, match="'thirty-three' is not a number") as info:
        read_export(export)
    assert (info.value.field, info.value.row) == ("total_node_runtime", 2)
