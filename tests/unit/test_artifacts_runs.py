"""run_results.json and sources.json → runs, node_runs, source_arrivals."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.errors import ArtifactError, SchemaError
from saosim.inputs.runs import arrivals, artifact_kind, read_runs, read_sources
from saosim.inputs.schema import UTC_TIME, validate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
TREE = FIXTURES / "runs_tree"
HOURLY_7 = TREE / "hourly" / "2026-01-05T07" / "target"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def history():
    return read_runs(TREE)


def test_one_run_per_file_with_job_from_env_or_folder(history) -> None:
    runs = {r["run_id"]: r for r in history.runs.iter_rows(named=True)}
    assert set(runs) == {
        "b1000000-0000-0000-0000-000000000007",
        "b1000000-0000-0000-0000-000000000008",
        "01a01f6c-fe2a-7c61-96fc-75fb49790e5c",
    }
    hourly = runs["b1000000-0000-0000-0000-000000000007"]
    assert hourly["job_id"] == "hourly"  # <job>/<run>/target/run_results.json
    assert hourly["started_at"] == at("2026-01-05T07:00:02")  # invocation_started_at
    assert hourly["finished_at"] == at("2026-01-05T07:03:10")
    assert (hourly["command"], hourly["selection"], hourly["full_refresh"]) == (
        "build",
        "tag:hourly+ stg_orders",
        False,
    )
    assert hourly["status"] == "success"
    cloud = runs["01a01f6c-fe2a-7c61-96fc-75fb49790e5c"]
    assert cloud["job_id"] == "nightly"  # DBT_CLOUD_JOB_ID beats the folder name
    assert cloud["full_refresh"] is True
    assert cloud["started_at"] == datetime(2026, 1, 6, 2, 0, 1, 789990, tzinfo=UTC)


def test_v5_file_without_invocation_start_uses_first_timing(history) -> None:
    run = history.runs.filter(pl.col("run_id") == "b1000000-0000-0000-0000-000000000008").row(
        0, named=True
    )
    assert run["started_at"] == at("2026-01-05T08:00:04")
    assert run["status"] == "error"  # stg_orders failed
    assert run["selection"] == "tag:hourly+"  # a string select is kept as is


def test_node_runs_keep_dbt_statuses_and_timings(history) -> None:
    rows = {
        (r["run_id"][-2:], r["unique_id"].split(".")[-1]): r
        for r in history.node_runs.iter_rows(named=True)
    }
    assert rows[("07", "fct_orders")]["execution_time_s"] == pytest.approx(144.2)
    assert rows[("07", "fct_orders")]["rows_affected"] == 1320
    assert rows[("07", "fct_orders")]["query_id"] == "q-004"
    assert rows[("07", "fct_orders")]["started_at"] == at("2026-01-05T07:00:41")
    assert rows[("08", "stg_orders")]["status"] == "error"
    assert rows[("08", "fct_orders")]["status"] == "skipped"
    assert rows[("08", "fct_orders")]["started_at"] is None
    assert rows[("5c", "country_codes")]["status"] == "reused"
    assert rows[("5c", "4d5e6f")]["status"] == "warn"
    assert history.node_runs.height == 15
    # The readers' output is already canonical.
    assert validate(history.node_runs, "node_runs").equals(history.node_runs)


def test_arrivals_are_new_max_loaded_at_values(history) -> None:
    arrivals = history.source_arrivals.sort("unique_id", "arrived_at").rows()
    assert arrivals == [
        (
            "source.shop.raw.customers",
            at("2026-01-05T05:00:00"),
            at("2026-01-05T06:59:50.200000"),
            "loaded_at_field",
        ),
        (
            "source.shop.raw.orders",
            at("2026-01-05T06:10:00"),
            at("2026-01-05T06:59:50.100000"),
            "loaded_at_field",
        ),
        (
            "source.shop.raw.orders",
            at("2026-01-05T07:40:00"),
            at("2026-01-05T07:59:51"),
            "loaded_at_field",
        ),
    ]


def test_fusion_sources_file_and_runtime_errors() -> None:
    arrivals = read_sources(FIXTURES / "sources_fusion.json")
    assert arrivals.get_column("unique_id").to_list() == [
        "source.shop.raw.customers",
        "source.shop.raw.orders",
    ]  # payments had a runtime error and no max_loaded_at
    assert arrivals.row(1)[1] == at("2026-01-06T08:45:00")
    assert arrivals.row(1)[2] == datetime(2026, 1, 6, 9, 0, 0, 987654, tzinfo=UTC)


def test_same_max_loaded_at_seen_twice_is_one_arrival(tmp_path: Path) -> None:
    for i, folder in enumerate(("a", "b")):
        data = json.loads((HOURLY_7 / "sources.json").read_text())
        data["results"][0]["snapshotted_at"] = f"2026-01-05T0{7 + i}:00:00+00:00"
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "sources.json").write_text(json.dumps(data))
    arrivals = read_sources(tmp_path)
    assert arrivals.filter(pl.col("unique_id") == "source.shop.raw.orders").height == 1


def test_duplicate_run_ids_across_files_name_both_files(tmp_path: Path) -> None:
    for copy in ("a", "b"):
        shutil.copytree(HOURLY_7, tmp_path / copy / "target")
    with pytest.raises(SchemaError, match="appears in both") as info:
        read_runs(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "a" / "target" / "run_results.json") in message
    assert str(tmp_path / "b" / "target" / "run_results.json") in message


def test_naive_timestamp_in_run_results_names_file_field_and_row() -> None:
    bad = FIXTURES / "broken" / "run_results_naive_time.json"
    with pytest.raises(ArtifactError, match="has no time zone") as info:
        read_runs(bad)
    assert (info.value.path, info.value.field, info.value.row) == (
        str(bad),
        "timing.started_at",
        2,
    )


def test_unknown_status_is_a_schema_error_naming_file_and_row(tmp_path: Path) -> None:
    data = json.loads((HOURLY_7 / "run_results.json").read_text())
    data["results"][3]["status"] = "exploded"
    bad = tmp_path / "run_results.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="'exploded' is not one of") as info:
        read_runs(bad)
    assert (info.value.path, info.value.row, info.value.field) == (str(bad), 3, "status")


@pytest.mark.parametrize(
    ("mutate", "message", "field"),
    [
        (
            lambda d: d["metadata"].update(
                dbt_schema_version=("https://schemas.getdbt.com/dbt/run-results/v3.json")
            ),
            "v3 is not supported",
            "metadata.dbt_schema_version",
        ),
        (lambda d: d["metadata"].pop("invocation_id"), "is missing", "metadata.invocation_id"),
        (lambda d: d["metadata"].pop("generated_at"), "is missing", "metadata.generated_at"),
        (lambda d: d.pop("results"), "is missing", "results"),
        (lambda d: d["results"][1].pop("unique_id"), "is missing", "results.unique_id"),
    ],
)
def test_missing_fields_and_wrong_versions(tmp_path: Path, mutate, message, field) -> None:
    data = json.loads((HOURLY_7 / "run_results.json").read_text())
    mutate(data)
    bad = tmp_path / "run_results.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=message) as info:
        read_runs(bad)
    assert info.value.field == field


def test_sources_version_and_kind_are_checked(tmp_path: Path) -> None:
    data = json.loads((HOURLY_7 / "sources.json").read_text())
    data["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/sources/v2.json"
    bad = tmp_path / "sources.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="sources schema v2 is not supported"):
        read_sources(bad)
    with pytest.raises(ArtifactError, match="is a dbt run-results artifact, expected sources"):
        read_sources(HOURLY_7 / "run_results.json")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("run_results.json", "run_results"),
        ("run_70401_run_results.json.gz", "run_results"),
        ("target__sources@2025-09-16_b76c92dd.json", "sources"),
        ("transform__target__manifest@2024-09-27_eb2a5783.json.gz", "manifest"),
        ("catalog.json", None),
        ("semantic_manifest.json", None),
        ("graph_summary.json", None),
        ("sources_config.json", None),
        ("manifest.yml", None),
    ],
)
def test_artifact_kind_from_file_name(name: str, kind: str | None) -> None:
    assert artifact_kind(Path(name)) == kind


def test_a_folder_of_run_folders_names_the_job(tmp_path: Path) -> None:
    shutil.copytree(TREE / "hourly", tmp_path / "team_hourly")
    history = read_runs(tmp_path / "team_hourly")
    assert history.runs.get_column("job_id").to_list() == ["team_hourly", "team_hourly"]
    alone = read_runs(HOURLY_7 / "run_results.json")
    assert alone.runs.get_column("job_id").to_list() == [None]


def test_paths_may_be_a_generator() -> None:
    history = read_runs(p for p in [TREE / "hourly"])
    assert (history.runs.height, history.source_arrivals.height) == (2, 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 50),  # observed hour
            st.integers(0, 50),  # max_loaded_at hour
            st.sampled_from(["source.p.a", "source.p.b"]),
        ),
        max_size=30,
    )
)
def test_arrivals_invariants(observations) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(base + timedelta(hours=o), base + timedelta(hours=m), u) for o, m, u in observations]
    frame = pl.DataFrame(
        {
            "unique_id": [u for _, _, u in rows],
            "arrived_at": [m for _, m, _ in rows],
            "observed_at": [o for o, _, _ in rows],
        },
        schema={"unique_id": pl.String, "arrived_at": UTC_TIME, "observed_at": UTC_TIME},
    )
    result = arrivals(frame)
    for uid in ("source.p.a", "source.p.b"):
        mine = result.filter(pl.col("unique_id") == uid)
        seen = [(o, m) for o, m, u in rows if u == uid]
        times = mine.get_column("arrived_at").to_list()
        assert times == sorted(set(times))  # strictly increasing: each arrival is new data
        assert set(times) <= {m for _, m in seen}
        if seen:
            # the newest value ever seen is always an arrival, at its first observation
            newest = max(m for _, m in seen)
            assert times[-1] == newest
            first_seen = min(o for o, m in seen if m == newest)
            assert mine.row(-1, named=True)["observed_at"] == first_seen
        else:
            assert mine.height == 0
