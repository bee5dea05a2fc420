"""ingest(): detect what each path is and assemble one Estate; load_project()."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest

from saosim import load_estate
from saosim.errors import ArtifactError, SaosimWarning, SchemaError
from saosim.inputs import ingest, load_project

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
MANIFEST = FIXTURES / "manifest_v12.json"
TREE = FIXTURES / "runs_tree"


def test_manifest_plus_folder_of_runs() -> None:
    estate = ingest([MANIFEST, TREE])
    summary = estate.summary()
    assert summary["nodes"]["model"] == 3
    assert (summary["runs"], summary["source_arrivals"]) == (3, 3)
    # the on-run-end hook's result is dropped without a warning: hooks are not DAG nodes
    assert summary["node_runs"] == 14
    assert not estate.node_runs["unique_id"].cast(pl.String).str.starts_with("operation.").any()


def test_target_folder_with_manifest_inside(tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(TREE / "hourly" / "2026-01-05T07" / "target", target)
    shutil.copy(MANIFEST, target / "manifest.json")
    # what else dbt leaves in target/: none of it is read
    (target / "semantic_manifest.json").write_text('{"semantic_models": [], "metrics": []}')
    (target / "graph_summary.json").write_text('{"_invocation_id": "x", "linked": {}}')
    (target / "catalog.json").write_text("{}")
    estate = ingest(target)
    assert estate.runs.height == 1
    assert estate.source_arrivals.height == 2
    assert load_project(target).counts() == load_project(MANIFEST).counts()


def test_single_files_of_each_kind() -> None:
    run_file = TREE / "hourly" / "2026-01-05T08" / "target" / "run_results.json"
    estate = ingest([MANIFEST, run_file, FIXTURES / "sources_fusion.json"])
    assert estate.runs.height == 1
    assert estate.source_arrivals.height == 2


def test_manifests_over_time_give_code_changes_and_the_newest_project() -> None:
    estate = ingest(FIXTURES / "manifests_over_time")
    assert "model.shop.stg_payments" in estate.project.nodes  # newest manifest
    assert estate.code_changes.height == 2


def test_exports_alone_and_with_a_manifest() -> None:
    alone = ingest(FIXTURES / "dbt_artifacts_export")
    assert alone.project.counts() == {"model": 3, "source": 2}
    assert alone.code_changes.height == 1
    with pytest.warns(SaosimWarning):
        both = ingest([MANIFEST, FIXTURES / "elementary_export"])
    assert both.project.counts()["test"] == 2  # the manifest's project wins
    assert both.runs.height == 3


def test_node_runs_of_unknown_nodes_are_dropped_with_a_warning_or_raise_when_strict(
    tmp_path: Path,
) -> None:
    data = json.loads(
        (TREE / "hourly" / "2026-01-05T07" / "target" / "run_results.json").read_text()
    )
    data["results"].append({**data["results"][1], "unique_id": "model.shop.deleted_model"})
    run_file = tmp_path / "run_results.json"
    run_file.write_text(json.dumps(data))
    with pytest.warns(SaosimWarning, match=r"1 rows name 1 node\(s\).*deleted_model"):
        estate = ingest([MANIFEST, run_file])
    assert "model.shop.deleted_model" not in estate.node_runs["unique_id"].to_list()
    assert estate.node_runs.height == 5
    with pytest.raises(SchemaError, match="deleted_model") as info:
        ingest([MANIFEST, run_file], strict=True)
    assert info.value.field == "node_runs.unique_id"


def test_estate_folder_round_trip(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean input gives no warning
        estate = ingest([MANIFEST, TREE])
    estate.save(tmp_path / "estate")
    again = ingest(tmp_path / "estate")
    assert again.summary() == estate.summary()
    assert load_project(tmp_path / "estate").counts() == estate.project.counts()
    assert load_estate(tmp_path / "estate").node_runs.height == estate.node_runs.height


def test_the_same_runs_twice_is_an_error(tmp_path: Path) -> None:
    shutil.copytree(TREE / "hourly", tmp_path / "copy")
    with pytest.raises(SchemaError, match="is in both") as info:
        ingest([MANIFEST, TREE / "hourly", tmp_path / "copy"])
    assert str(TREE / "hourly") in str(info.value) and str(tmp_path / "copy") in str(info.value)


def test_inputs_without_a_project_or_of_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no input holds a project"):
        ingest(TREE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="holds no dbt artifacts"):
        ingest(tmp_path / "empty")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ArtifactError, match="is not a manifest, run_results or sources"):
        ingest(notes)
    with pytest.raises(ArtifactError, match="does not exist"):
        ingest(tmp_path / "missing")
    with pytest.raises(ArtifactError, match=r"holds no manifest\.json"):
        load_project(tmp_path / "empty")


def test_a_json_file_with_an_unusual_name_is_classified_by_its_schema(tmp_path: Path) -> None:
    odd = tmp_path / "prod_snapshot_2026_01_05.json"
    shutil.copy(MANIFEST, odd)
    assert ingest(odd).project.counts()["model"] == 3


def test_compile_only_runs_are_dropped_with_a_warning(tmp_path: Path) -> None:
    data = json.loads(
        (TREE / "hourly" / "2026-01-05T07" / "target" / "run_results.json").read_text()
    )
    data["args"] = {"which": "generate", "invocation_command": "dbt docs generate"}
    docs = tmp_path / "run_results.json"
    docs.write_text(json.dumps(data))
    with pytest.warns(SaosimWarning, match=r"1 run\(s\) of compile-only commands \(generate\)"):
        estate = ingest([MANIFEST, docs, TREE / "hourly" / "2026-01-05T08"])
    assert estate.runs.get_column("command").to_list() == ["build"]
    assert set(estate.node_runs.get_column("run_id").to_list()) == set(
        estate.runs.get_column("run_id").to_list()
    )
