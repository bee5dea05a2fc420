from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from saosim.errors import ArtifactError, SchemaError
from saosim.inputs.estate import Estate, load_estate, project_from_frames, project_to_frames
from saosim.project.graph import Node, Project


def _project() -> Project:
    return Project(
        [
            Node("source.p.raw.a", "a", "source", package="p", loaded_at_field="loaded_at"),
            Node(
                "model.p.m",
                "m",
                "model",
                "incremental",
                "p",
                "models/m.sql",
                ("x", "y"),
                fingerprint="f1",
                checksum="c1",
                build_after_count=6,
                build_after_period="hour",
                updates_on="all",
                freshness_declared=True,
            ),
        ],
        [("source.p.raw.a", "model.p.m")],
        name="p",
        dialect="duckdb",
    )


def _estate() -> Estate:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return Estate(
        _project(),
        runs=pl.DataFrame({"run_id": ["r1"], "job_id": ["hourly"], "started_at": [t0]}),
        node_runs=pl.DataFrame(
            {
                "run_id": ["r1"],
                "unique_id": ["model.p.m"],
                "status": ["success"],
                "execution_time_s": [3.5],
            }
        ),
        source_arrivals=pl.DataFrame({"unique_id": ["source.p.raw.a"], "arrived_at": [t0]}),
    )


def test_project_frames_round_trip() -> None:
    project = _project()
    nodes, edges = project_to_frames(project)
    back = project_from_frames(nodes, edges, name="p", dialect="duckdb")
    assert back.nodes == project.nodes
    assert back.edges == project.edges


def test_estate_save_and_load(tmp_path: Path) -> None:
    estate = _estate()
    estate.save(tmp_path / "e")
    back = load_estate(tmp_path / "e")
    assert back.project.nodes == estate.project.nodes
    assert back.project.dialect == "duckdb"
    for table in ("runs", "node_runs", "source_arrivals", "code_changes"):
        assert getattr(back, table).equals(getattr(estate, table))
    assert back.summary()["runs"] == 1


def test_history_must_name_known_nodes() -> None:
    with pytest.raises(SchemaError, match="names nodes the project does not have"):
        Estate(
            _project(),
            source_arrivals=pl.DataFrame(
                {"unique_id": ["source.p.raw.zzz"], "arrived_at": ["2025-01-01T00:00:00Z"]}
            ),
        )


def test_node_runs_of_unknown_runs() -> None:
    with pytest.raises(SchemaError, match="not in the runs table"):
        Estate(
            _project(),
            node_runs=pl.DataFrame(
                {"run_id": ["r9"], "unique_id": ["model.p.m"], "status": ["success"]}
            ),
        )


def test_loading_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not an estate folder"):
        load_estate(tmp_path)
    folder = _estate().save(tmp_path / "e")
    (folder / "runs.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ArtifactError, match="cannot be read as Parquet"):
        load_estate(folder)
    (folder / "runs.parquet").unlink()
    with pytest.raises(ArtifactError, match="is missing"):
        load_estate(folder)
    (folder / "estate.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_estate(folder)
