"""Synthetic estate → real dbt artifacts → the readers → the same estate."""

from __future__ import annotations

import gzip
import json
import warnings
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from saosim.inputs.estate import Estate
from saosim.inputs.schema import ID
from saosim.inputs.write import manifest_dict, write_artifacts
from saosim.project.graph import Node
from saosim.synth.estate import synthetic_estate, synthetic_history

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-artifacts"
# What a manifest carries of a node; fingerprints are computed from code, not written by dbt.
_NOT_IN_MANIFEST = {"meta", "fingerprint"}


@pytest.fixture(scope="module")
def estate() -> Estate:
    # Seed 11 has an error, a failing test and skipped nodes in 6 days: every status round-trips.
    est = synthetic_estate(n_models=200, days=6, seed=11, query_ids=True)
    assert {"error", "fail", "skipped"} <= set(est.node_runs.get_column("status"))
    return est


@pytest.fixture(scope="module")
def read_back(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> Estate:
    from saosim.inputs import ingest

    out = write_artifacts(estate, tmp_path_factory.mktemp("artifacts"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every row must name a node of the manifest
        return ingest([out])


def test_layout_is_one_target_folder_per_run(estate: Estate, tmp_path: Path) -> None:
    out = write_artifacts(estate, tmp_path)
    assert (out / "manifest.json").is_file()
    runs = sorted(out.glob("*/*/run_results.json"))
    assert len(runs) == estate.runs.height
    assert {p.parts[-3] for p in runs} == set(estate.runs.get_column("job_id"))
    data = json.loads(runs[0].read_text())
    assert data["metadata"]["dbt_schema_version"].endswith("run-results/v6.json")
    result = next(r for r in data["results"] if r["status"] == "success")
    assert [t["name"] for t in result["timing"]] == ["compile", "execute"]
    assert {"rows_affected", "code"} <= set(result["adapter_response"])
    sources = json.loads((runs[0].parent / "sources.json").read_text())
    assert sources["metadata"]["dbt_schema_version"].endswith("sources/v3.json")
    assert {"unique_id", "max_loaded_at", "snapshotted_at", "status"} <= set(sources["results"][0])


@pytest.mark.real_artifacts
def test_manifest_has_the_v12_layout_of_a_real_one(estate: Estate) -> None:
    real_file = REAL / "yu-iskw__dbt-artifacts-parser"
    real_file = real_file / "tests__resources__manifest__v12__jaffle_shop__manifest_1.12.json"
    if not real_file.is_file():
        pytest.skip(f"real artifacts not found at {real_file}")
    real = json.loads(real_file.read_text())
    ours = manifest_dict(estate.project, generated_at=datetime(2025, 1, 5, tzinfo=UTC))
    assert set(ours) <= set(real)
    assert set(ours["metadata"]) >= {"dbt_schema_version", "generated_at", "adapter_type"}
    for kind in ("model", "test"):
        real_node = next(v for v in real["nodes"].values() if v["resource_type"] == kind)
        our_node = next(v for v in ours["nodes"].values() if v["resource_type"] == kind)
        missing = set(real_node) - set(our_node)
        # Fields dbt ≥1.11 added, or that we have no value for, are allowed to be absent.
        assert missing <= {"functions", "primary_key", "time_spine", "version", "latest_version",
                           "deprecation_date", "constraints", "access"}, missing  # fmt: skip
    real_source = next(iter(real["sources"].values()))
    assert set(real_source) - set(next(iter(ours["sources"].values()))) <= {
        "unrendered_database",
        "unrendered_schema",
    }


def test_round_trip_nodes_and_edges(estate: Estate, read_back: Estate) -> None:
    a, b = estate.project, read_back.project
    assert sorted(a.nodes) == sorted(b.nodes)
    assert a.edges == b.edges
    assert (a.name, a.dialect) == (b.name, b.dialect)
    for uid, node in a.nodes.items():
        for f in fields(Node):
            if f.name in _NOT_IN_MANIFEST:
                continue
            assert getattr(node, f.name) == getattr(b.nodes[uid], f.name), (uid, f.name)


def test_round_trip_runs_and_node_runs(estate: Estate, read_back: Estate) -> None:
    assert estate.runs.sort("run_id").equals(read_back.runs.sort("run_id"))
    assert estate.node_runs.sort("run_id", "unique_id").equals(
        read_back.node_runs.sort("run_id", "unique_id")
    )


def test_round_trip_arrivals_at_the_precision_of_sources_json(
    estate: Estate, read_back: Estate
) -> None:
    # sources.json says only the newest load at each freshness check (each run's start), so
    # the arrivals that come back are, per check, the latest arrival at or before it.
    checks = estate.runs.select(pl.col("started_at").alias("check")).sort("check")
    latest = (
        checks.join(
            pl.DataFrame({"unique_id": list(estate.project.sources)}, schema={"unique_id": ID}),
            how="cross",
        )
        .sort("check")
        .join_asof(
            estate.source_arrivals.sort("arrived_at"),
            left_on="check",
            right_on="arrived_at",
            by="unique_id",
            check_sortedness=False,
        )
        .drop_nulls("arrived_at")
        .select("unique_id", "arrived_at")
        .unique()
        .sort("unique_id", "arrived_at")
    )
    got = read_back.source_arrivals.select("unique_id", "arrived_at").sort(
        "unique_id", "arrived_at"
    )
    assert got.equals(latest)
    assert got.height > len(estate.project.sources)


@pytest.mark.slow
@pytest.mark.real_artifacts
def test_synthetic_history_for_the_gitlab_manifest() -> None:
    folder = REAL / "tnmy44__gitlab-analytics"
    files = sorted(folder.glob("*manifest*.json.gz")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"the GitLab manifest is not in {folder}")
    from saosim.inputs import read_manifest

    project = read_manifest(files[-1])
    with gzip.open(files[-1]) as fh:
        raw = json.loads(fh.read())
    assert len(project.of_type("model")) == sum(
        1 for v in raw["nodes"].values() if v["resource_type"] == "model"
    )
    est = synthetic_history(project, days=2, seed=0)
    assert est.project is project
    jobs = set(est.runs.get_column("job_id"))
    assert jobs == {"daily_full", "midday_full", "hourly", "six_hourly"}
    ran = set(est.node_runs.get_column("unique_id"))
    assert ran >= {u for u in project.buildable if not project.nodes[u].is_ephemeral}
    assert est.source_arrivals.get_column("unique_id").n_unique() == len(project.sources)


def test_round_trip_code_changes_through_manifests_over_time(tmp_path: Path) -> None:
    from saosim.inputs import ingest

    est = synthetic_estate(n_models=60, days=7, seed=4, code_changes_per_week=12)
    assert est.code_changes.height > 3
    out = write_artifacts(est, tmp_path, sources_json=False, manifest_history=True)
    back = ingest([out])
    key = ["unique_id", "changed_at", "checksum"]
    assert back.code_changes.select(key).sort(key).equals(est.code_changes.select(key).sort(key))
    # The newest manifest is the project: the code as of the end.
    for uid in est.code_changes.get_column("unique_id").unique():
        assert back.project.nodes[uid].checksum == est.project.nodes[uid].checksum


def test_query_ids_are_unique_and_carried(estate: Estate, read_back: Estate) -> None:
    ran = estate.node_runs.filter(pl.col("status").is_in(["success", "pass", "fail", "warn"]))
    assert ran.get_column("query_id").null_count() == 0
    assert ran.get_column("query_id").n_unique() == ran.height
    back = read_back.node_runs.filter(pl.col("status").is_in(["success", "pass", "fail", "warn"]))
    assert back.get_column("query_id").null_count() == 0


def test_dbt_core_itself_reads_every_artifact(estate: Estate, tmp_path: Path) -> None:
    pytest.importorskip("dbt.artifacts.schemas.run", reason="dbt-core (the dbt extra) is needed")
    from dbt.artifacts.schemas.freshness import FreshnessExecutionResultArtifact
    from dbt.artifacts.schemas.manifest import WritableManifest
    from dbt.artifacts.schemas.run import RunResultsArtifact

    out = write_artifacts(estate, tmp_path)
    manifest = WritableManifest.read_and_check_versions(str(out / "manifest.json"))
    assert len(manifest.nodes) + len(manifest.sources) == len(estate.project.nodes)
    statuses = set()
    for file in sorted(out.glob("*/*/run_results.json")):
        run = RunResultsArtifact.read_and_check_versions(str(file))
        statuses |= {str(r.status) for r in run.results}
        FreshnessExecutionResultArtifact.read_and_check_versions(str(file.parent / "sources.json"))
    assert {"success", "error", "skipped", "pass", "fail"} <= statuses
