# ruff: noqa: F811  (the module-scoped fixture is imported, then requested by name)
"""`saosim info` and `saosim ingest` through typer's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.inputs import ingest
from tests.live_fixtures import (
    BuiltJaffle,
    built_jaffle,  # noqa: F401  (a pytest fixture, used by the live tests at the end)
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
MANIFEST = FIXTURES / "manifest_v12.json"
TREE = FIXTURES / "runs_tree"
runner = CliRunner()
# The installed console script, as a user runs it (`python -m saosim.cli` would register the
# commands on a second copy of the module).
SAOSIM = str(Path(sys.executable).parent / "saosim")


def test_info_json_counts_nodes_edges_and_history() -> None:
    result = runner.invoke(app, ["info", str(MANIFEST), str(TREE), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["nodes"] == {
        "exposure": 1,
        "model": 3,
        "seed": 1,
        "snapshot": 1,
        "source": 2,
        "test": 2,
    }
    assert (summary["edges"], summary["runs"], summary["node_runs"]) == (10, 3, 14)
    assert (summary["source_arrivals"], summary["sources_with_arrivals"]) == (3, 2)
    assert summary["models_with_freshness"] == 1
    assert summary["start"] == "2026-01-05T05:00:00+00:00"
    assert summary["dialect"] == "duckdb"


def test_info_table_names_what_was_read() -> None:
    result = runner.invoke(app, ["info", str(FIXTURES / "dbt_artifacts_export")])
    assert result.exit_code == 0, result.output
    for label in ("models", "sources", "edges", "runs", "node runs", "time span"):
        assert label in result.stdout


def test_ingest_writes_an_estate_that_info_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    result = runner.invoke(app, ["ingest", str(MANIFEST), str(TREE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 models, 3 runs, 14 node runs, 3 arrivals" in result.stdout
    assert (out / "estate.json").is_file() and (out / "node_runs.parquet").is_file()
    again = runner.invoke(app, ["info", str(out), "--format", "json"])
    assert json.loads(again.stdout)["node_runs"] == 14


def test_input_errors_print_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["info", str(FIXTURES / "broken" / "manifest_unknown_parent.json")])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error:") and "model.shop.stg_refunds" in lines[0]
    assert "Traceback" not in result.output


def test_bad_format_is_a_usage_error() -> None:
    result = runner.invoke(app, ["info", str(MANIFEST), "--format", "xml"])
    assert result.exit_code == 2
    assert "table or json" in result.output


def test_real_subprocess(tmp_path: Path) -> None:
    ok = subprocess.run(
        [SAOSIM, "info", str(MANIFEST), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["nodes"]["model"] == 3
    bad = subprocess.run(
        [SAOSIM, "ingest", str(FIXTURES / "broken" / "empty.json"), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "is empty" in bad.stderr
    assert not (tmp_path / "x").exists()


# -- on the target/ folder a real dbt-core build leaves behind (semantic_manifest.json,
# graph_summary.json, compiled/ and run/ folders …)
@pytest.mark.live
@pytest.mark.slow
def test_info_on_a_real_target_folder(built_jaffle: BuiltJaffle) -> None:
    target = built_jaffle.project_dir / "target"
    assert (target / "semantic_manifest.json").is_file()  # dbt writes it; it is not a manifest
    result = CliRunner().invoke(app, ["info", str(target), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["nodes"] == {"model": 22, "seed": 2, "snapshot": 1, "source": 6, "test": 48}
    assert summary["models_with_freshness"] == 22  # build_after from dbt_project.yml and config()
    assert (summary["runs"], summary["node_runs"]) == (1, 72)  # 24 built + 48 tests


@pytest.mark.live
@pytest.mark.slow
def test_ingest_of_a_real_build_matches_what_dbt_reported(built_jaffle: BuiltJaffle) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every result names a node of the manifest
        estate = ingest(built_jaffle.project_dir / "target")
    build = built_jaffle.build
    run = estate.runs.row(0, named=True)
    assert run["run_id"] == build.invocation_id
    assert run["command"] == "build"
    statuses = dict(estate.node_runs.select("unique_id", "status").iter_rows())
    assert statuses == build.statuses


def test_info_of_one_estate_folder_is_what_ingest_of_it_reports() -> None:
    """One estate folder is loaded as it is (its node runs counted from the file, not read),
    and reports what assembling it through ``ingest`` reports."""
    from saosim.inputs import ingest

    example = Path(__file__).parents[2] / "data" / "example"
    result = runner.invoke(app, ["info", str(example), "--format", "json"])
    assert result.exit_code == 0, result.output
    estate = ingest([example])
    assert json.loads(result.stdout) == {**estate.summary(), "dialect": estate.project.dialect}
