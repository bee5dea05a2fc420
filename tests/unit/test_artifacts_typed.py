"""Typed readers: each one-field edit of a fixture that used to crash or be accepted silently
(issue 17) is now a SaosimInputError naming the file, the JSON path and the node or row."""

from __future__ import annotations

import copy
import gzip
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from saosim.errors import ArtifactError, ConfigError, SaosimInputError
from saosim.inputs import ingest, read_manifest, read_runs, read_sources
from saosim.inputs._io import read_json

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
MANIFEST = FIXTURES / "manifest_v12.json"
HOURLY_7 = FIXTURES / "runs_tree" / "hourly" / "2026-01-05T07" / "target"
MODEL = "model.shop.stg_orders"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    out = tmp_path / name
    out.write_text(json.dumps(data))
    return out


def _set(data: dict[str, Any], dotted: list[Any], value: Any) -> None:
    target = data
    for key in dotted[:-1]:
        target = target[key]
    target[dotted[-1]] = value


# (where in the manifest, value, the field the error must name, a node id or None)
MANIFEST_EDITS = [
    (["nodes", MODEL, "config"], ["x"], "config", MODEL),
    (["nodes", MODEL, "tags"], True, "tags", MODEL),
    (["metadata", "adapter_type"], 5, "metadata.adapter_type", None),
    (["nodes", MODEL, "depends_on", "nodes"], [None], "depends_on.nodes[0]", MODEL),
    (["nodes", MODEL, "resource_type"], ["model"], "resource_type", MODEL),
    (["nodes", MODEL, "resource_type"], 5, "resource_type", MODEL),
    (["nodes", MODEL, "resource_type"], "source", "resource_type", MODEL),
    (["metadata", "dbt_schema_version"], 12, "metadata.dbt_schema_version", None),
    (["nodes", MODEL, "checksum"], 7, "checksum", MODEL),
    (["nodes", MODEL, "depends_on", "nodes"], [MODEL], "depends_on.nodes", MODEL),
    (["nodes", MODEL, "config", "enabled"], "false", "config.enabled", MODEL),
]


@pytest.mark.parametrize(("where", "value", "field", "node"), MANIFEST_EDITS)
def test_a_flipped_manifest_field_is_an_error_naming_file_field_and_node(
    tmp_path: Path, where, value, field, node
) -> None:
    data = _load(MANIFEST)
    _set(data, where, value)
    bad = _write(tmp_path, "manifest.json", data)
    with pytest.raises(ArtifactError) as info:
        read_manifest(bad)
    assert info.value.path == str(bad)
    assert info.value.field == field
    assert info.value.node_id == node


def test_a_source_with_a_models_id_does_not_replace_the_model(tmp_path: Path) -> None:
    data = _load(MANIFEST)
    source = copy.deepcopy(next(iter(data["sources"].values())))
    data["sources"][MODEL] = {**source, "resource_type": "model"}
    with pytest.raises(ArtifactError, match="in both nodes and sources") as info:
        read_manifest(_write(tmp_path, "manifest.json", data))
    assert info.value.node_id == MODEL


def test_a_checksum_string_reads_the_same_in_read_manifest_and_ingest(tmp_path: Path) -> None:
    data = _load(MANIFEST)
    data["nodes"][MODEL]["checksum"] = "abc123"
    path = _write(tmp_path, "manifest.json", data)
    assert read_manifest(path).nodes[MODEL].checksum == "abc123"
    assert ingest([path]).project.nodes[MODEL].checksum == "abc123"


@pytest.mark.parametrize(
    ("build_after", "field"),
    [
        ({"count": 1, "period": "weeks"}, "config.freshness.build_after.period"),
        ({"count": 1, "period": None}, "config.freshness.build_after.period"),
        ({"count": 1, "period": 3}, "config.freshness.build_after.period"),
        ({"count": 1, "period": "hour", "updates_on": "some"}, "updates_on"),
        ({"count": 0, "period": "hour"}, "config.freshness.build_after.count"),
        ({"count": -1, "period": "hour"}, "config.freshness.build_after.count"),
        ({"count": 400, "period": "day"}, "config.freshness.build_after.count"),
        ({"count": "x", "period": "day"}, "config.freshness.build_after.count"),
    ],
)
def test_bad_build_after_in_a_manifest_names_file_node_and_field(
    tmp_path: Path, build_after, field
) -> None:
    data = _load(MANIFEST)
    data["nodes"][MODEL]["config"]["freshness"] = {"build_after": build_after}
    bad = _write(tmp_path, "manifest.json", data)
    with pytest.raises(ConfigError) as info:
        read_manifest(bad)
    assert (info.value.path, info.value.node_id) == (str(bad), MODEL)
    assert info.value.field is not None and info.value.field.endswith(field.split(".")[-1])


def test_dbt_1_10_unset_build_after_is_no_config(tmp_path: Path) -> None:
    data = _load(MANIFEST)
    unset = {"count": None, "period": None, "updates_on": "any"}
    data["nodes"][MODEL]["config"]["freshness"] = {"build_after": unset}
    node = read_manifest(_write(tmp_path, "manifest.json", data)).nodes[MODEL]
    assert node.build_after_count is None and node.build_after_period is None


# (where in run_results.json, value, the field the error must name, the row or None)
RUN_EDITS = [
    (["metadata", "invocation_id"], 1.5, "metadata.invocation_id", None),
    (["results", 2, "timing"], 5, "results.timing", 2),
    (["results", 1, "adapter_response"], "x", "results.adapter_response", 1),
    (["results", 1, "adapter_response", "rows_affected"], 1e30, "rows_affected", 1),
    (["metadata", "env"], ["x"], "metadata.env", None),
    (["results", 0, "execution_time"], -3.0, "results.execution_time", 0),
    (["results", 0, "unique_id"], 7, "results.unique_id", 0),
    (["args", "full_refresh"], "no", "args.full_refresh", None),
]


@pytest.mark.parametrize(("where", "value", "field", "row"), RUN_EDITS)
def test_a_flipped_run_results_field_is_an_error_naming_file_field_and_row(
    tmp_path: Path, where, value, field, row
) -> None:
    data = _load(HOURLY_7 / "run_results.json")
    data.setdefault("args", {})
    _set(data, where, value)
    bad = _write(tmp_path, "run_results.json", data)
    with pytest.raises(ArtifactError) as info:
        read_runs(bad)
    assert info.value.path == str(bad)
    assert info.value.field is not None and info.value.field.endswith(field.split(".")[-1])
    assert info.value.row == row


def test_a_step_completed_before_it_started_is_an_error(tmp_path: Path) -> None:
    data = _load(HOURLY_7 / "run_results.json")
    step = next(t for t in data["results"][2]["timing"] if t["name"] == "execute")
    step["started_at"], step["completed_at"] = step["completed_at"], step["started_at"]
    bad = _write(tmp_path, "run_results.json", data)
    with pytest.raises(ArtifactError, match="is before started_at") as info:
        read_runs(bad)
    assert (info.value.row, info.value.field) == (2, "timing.completed_at")


def test_a_run_written_before_it_started_is_an_error(tmp_path: Path) -> None:
    data = _load(HOURLY_7 / "run_results.json")
    data["metadata"]["invocation_started_at"] = "2027-01-01T00:00:00Z"
    with pytest.raises(ArtifactError, match="before the run started") as info:
        read_runs(_write(tmp_path, "run_results.json", data))
    assert info.value.field == "metadata.generated_at"


@pytest.mark.parametrize(
    ("value", "message"),
    [(1735689600, "is not a string"), ("2999-01-01T00:00:00Z", "data from the future")],
)
def test_bad_max_loaded_at_is_an_error_naming_the_row(tmp_path: Path, value, message) -> None:
    data = _load(HOURLY_7 / "sources.json")
    data["results"][0]["max_loaded_at"] = value
    bad = _write(tmp_path, "sources.json", data)
    with pytest.raises(ArtifactError, match=message) as info:
        read_sources(bad)
    assert (info.value.path, info.value.row) == (str(bad), 0)
    assert info.value.field is not None and info.value.field.endswith("max_loaded_at")


def test_several_problems_are_reported_once_with_a_count(tmp_path: Path) -> None:
    data = _load(HOURLY_7 / "run_results.json")
    for result in data["results"]:
        result["execution_time"] = "slow"
    with pytest.raises(ArtifactError, match=r"also .* more") as info:
        read_runs(_write(tmp_path, "run_results.json", data))
    assert info.value.row == 0


# -- bounded reads --------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_bound_naming_file_and_bound(tmp_path: Path) -> None:
    bomb = tmp_path / "manifest.json.gz"
    with gzip.open(bomb, "wb") as handle:
        handle.write(b'{"metadata": {"x": "' + b"a" * (8 << 20) + b'"}}')
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ArtifactError, match=r"decompresses to more than 2 MB") as info:
        read_json(bomb, max_bytes=2 << 20)
    assert info.value.path == str(bomb)


def test_the_bound_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "m.json"
    big.write_text('{"a": "' + "x" * (3 << 20) + '"}')
    monkeypatch.setenv("SAOSIM_MAX_JSON_MB", "1")
    with pytest.raises(ArtifactError, match="SAOSIM_MAX_JSON_MB"):
        read_json(big)
    monkeypatch.setenv("SAOSIM_MAX_JSON_MB", "10")
    assert len(read_json(big)["a"]) == 3 << 20


def test_a_gzip_of_blanks_is_refused_without_decompressing_it_all(tmp_path: Path) -> None:
    import tracemalloc

    blanks = tmp_path / "manifest.json.gz"
    with gzip.open(blanks, "wb", compresslevel=9) as handle:
        for _ in range(64):
            handle.write(b" " * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match="blank bytes"):
            read_json(blanks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # 64 MB of blanks; never held


@pytest.mark.parametrize("members", [1, 2])
def test_gzip_members_and_truncation(tmp_path: Path, members: int) -> None:
    body = MANIFEST.read_bytes()
    half = len(body) // 2
    parts = [body] if members == 1 else [body[:half], body[half:]]
    path = tmp_path / "manifest.json.gz"
    path.write_bytes(b"".join(gzip.compress(p) for p in parts))
    assert read_json(path) == json.loads(body)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ArtifactError, match="damaged or truncated gzip"):
        read_json(path)


def test_every_error_here_is_an_input_error() -> None:
    assert issubclass(ArtifactError, SaosimInputError)
    assert issubclass(ConfigError, SaosimInputError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_manifest(MANIFEST).counts()["model"] == 3


# -- exports ------------------------------------------------------------------------------------


def _export_with(tmp_path: Path, table: str, column: str, row: int, value: str) -> Path:
    import shutil

    import polars as pl

    folder = tmp_path / "export"
    shutil.copytree(FIXTURES / "elementary_export", folder)
    frame = pl.read_csv(folder / table, infer_schema=False)
    cells = frame.get_column(column).to_list()
    cells[row] = value
    frame.with_columns(pl.Series(column, cells, dtype=pl.String)).write_csv(folder / table)
    return folder


@pytest.mark.parametrize(
    ("table", "column", "value", "message"),
    [
        ("dbt_run_results.csv", "rows_affected", "1e30", "more than a 64-bit count"),
        ("dbt_models.csv", "depends_on_nodes", "not a time", "is not a node id"),
        ("dbt_models.csv", "unique_id", "orders", "is not a model id"),
    ],
)
def test_a_bad_export_cell_names_file_column_and_row(
    tmp_path: Path, table, column, value, message
) -> None:
    from saosim.inputs import read_export

    folder = _export_with(tmp_path, table, column, 1, value)
    with pytest.raises(SaosimInputError, match=message) as info:
        read_export(folder)
    assert (info.value.path, info.value.field, info.value.row) == (str(folder / table), column, 2)


def test_random_bytes_as_the_models_table_are_an_error_not_an_empty_project(tmp_path) -> None:
    import random

    from saosim.inputs import read_export

    folder = _export_with(tmp_path, "dbt_models.csv", "name", 0, "x")
    (folder / "dbt_models.csv").write_bytes(random.Random(7).randbytes(3000))
    with pytest.raises(SaosimInputError) as info:
        read_export(folder)
    assert "dbt_models" in str(info.value)
