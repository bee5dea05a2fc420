"""dbt Cloud run exports: the Admin API v2 runs listing plus each run's downloaded artifacts."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saosim.errors import ArtifactError, SaosimWarning, SchemaError
from saosim.inputs import ingest
from saosim.inputs.cloud import cloud_runs, is_cloud_export, read_cloud_export

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
CLOUD = FIXTURES / "cloud_runs"
REAL_RUN = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "real-artifacts"
    / "mattermost__mattermost-data-warehouse"
    / "tests__utils__fixtures__dbt__run.200.completed.json"
)


def _read(folder: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = read_cloud_export(folder)
    return export, [w for w in caught if issubclass(w.category, SaosimWarning)]


def test_each_api_run_with_artifacts_is_one_run_named_by_its_cloud_id() -> None:
    export, warned = _read(CLOUD)
    runs = {r["run_id"]: r for r in export.history.runs.iter_rows(named=True)}
    assert list(runs) == ["90001", "90002", "90003"]
    assert runs["90001"]["job_id"] == "555" and runs["90003"]["job_id"] == "556"
    # times are the API's, not the artifact's
    assert runs["90001"]["started_at"] == datetime(2026, 1, 5, 7, 0, 1, 500000, tzinfo=UTC)
    assert runs["90001"]["selection"] == "tag:hourly+ stg_orders"
    assert runs["90002"]["status"] == "error"  # API status 20
    assert runs["90003"]["full_refresh"] and runs["90003"]["command"] == "build"
    per_run = dict(export.history.node_runs.group_by("run_id").len().iter_rows())
    assert per_run == {"90001": 6, "90002": 3, "90003": 6}
    assert export.history.source_arrivals.height == 3
    assert [p.name for p in export.manifests] == ["manifest.json"]
    # the cancelled run has no artifacts: dropped, and said
    assert export.dropped == 1 and len(warned) == 1 and "1 no run_results.json" in str(warned[0])


def test_ingest_reads_a_cloud_export_folder() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SaosimWarning)
        estate = ingest([CLOUD])
    assert is_cloud_export(CLOUD) and not is_cloud_export(FIXTURES / "runs_tree")
    summary = estate.summary()
    assert (summary["project"], summary["runs"], summary["node_runs"]) == ("shop", 3, 14)


def test_a_real_api_v2_run_response(tmp_path: Path) -> None:
    if not REAL_RUN.is_file():
        pytest.skip(f"{REAL_RUN} is absent: the shared real dbt artifacts are not on this machine")
    raw = json.loads(REAL_RUN.read_text())
    shutil.copy(REAL_RUN, tmp_path / "runs.json")
    (run,) = cloud_runs([tmp_path / "runs.json"])
    assert (run["id"], run["status"], run["job_definition_id"]) == (123, 10, 12345)
    export, warned = _read(tmp_path)
    assert export.history.runs.height == 0 and warned  # no artifacts downloaded: dropped
    (tmp_path / "123").mkdir()
    shutil.copy(CLOUD / "90001" / "run_results.json", tmp_path / "123" / "run_results.json")
    export, _ = _read(tmp_path)
    row = export.history.runs.row(0, named=True)
    assert row["run_id"] == "123" and row["job_id"] == "12345"
    assert row["started_at"].isoformat() == raw["data"]["started_at"].replace(" ", "T")
    assert row["finished_at"].isoformat() == raw["data"]["finished_at"].replace(" ", "T")


def _listing(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(CLOUD, folder)
    data = json.loads((folder / "runs.json").read_text())
    edit(data)
    (folder / "runs.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(
    ("edit", "error", "field"),
    [
        (lambda d: d.update(data="x"), ArtifactError, "data"),
        (lambda d: d["data"][1].update(id="90002"), ArtifactError, "data[1].id"),
        (lambda d: d["data"][0].update(started_at=17), ArtifactError, "data[0].started_at"),
        (
            lambda d: d["data"][0].update(finished_at="2020-01-01 00:00:00+00:00"),
            ArtifactError,
            "data[0].finished_at",
        ),
        (lambda d: d["data"][0].update(started_at="2026-01-05 07:00:00"), ArtifactError, None),
        (lambda d: d["data"].append(dict(d["data"][0])), SchemaError, "data[4].id"),
        (lambda d: d["data"][0].update(run_steps=[{"name": 5}]), ArtifactError, None),
    ],
)
def test_a_bad_listing_is_an_error_naming_file_and_field(tmp_path: Path, edit, error, field):
    folder = _listing(tmp_path, edit)
    with pytest.raises(error) as info:
        _read(folder)
    assert info.value.path == str(folder / "runs.json")
    if field:
        assert info.value.field == field


def test_the_same_artifacts_under_two_runs_is_an_error(tmp_path: Path) -> None:
    folder = _listing(tmp_path, lambda d: None)
    shutil.copy(folder / "90001" / "run_results.json", folder / "90002" / "run_results.json")
    with pytest.raises(SchemaError, match="saved under two runs"):
        _read(folder)
