"""Two ``saosim plan --execute`` processes on one project at once (SAO's concurrency rule), then
shadow mode and its report, through the real CLI on a copy of examples/jaffle_duckdb."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.live.dbt_runner import dbt_parse
from saosim.live.store import StateStore
from tests.live_fixtures import REPO, copy_example, land, land_rows

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _saosim(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "saosim", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[dict]]]:
    """A fresh copy (raw tables loaded, nothing built) that two processes execute at once."""
    project_dir = copy_example(tmp_path_factory.mktemp("race"))
    land(project_dir, "--init")
    dbt_parse(project_dir)  # both processes read this manifest: no concurrent `dbt parse`
    args = ("plan", str(project_dir), "--execute", "--format", "json", "--manifest")
    procs = [_saosim(*args, str(project_dir / "target")) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    return project_dir, outputs


def test_two_concurrent_executions_never_build_a_model_twice(raced) -> None:
    project_dir, outputs = raced
    built = [{r["node"] for r in rows if r["action"] == "build"} for rows in outputs]
    # one run built all 24 materialized nodes; the other waited for it and reused them all
    first, second = sorted(built, key=len, reverse=True)
    assert len(first) == 24 and second == set()
    winner = outputs[[len(b) for b in built].index(24)]
    loser = outputs[1 - [len(b) for b in built].index(24)]
    assert {r["status"] for r in winner if r["action"] == "build"} == {"success"}
    assert {r["status"] for r in winner if r["action"] == "run"} == {"pass"}
    reused = {r["node"]: r["reason"] for r in loser if r["node"] in first}
    assert set(reused) == first
    assert set(reused.values()) == {"no_new_data"}
    assert all(r["status"] is None for r in loser)

    store = StateStore.for_project(project_dir)
    # one dbt invocation in all, each node built once, no locks left behind
    assert store.runs().height == 1
    node_runs = store.node_runs()
    assert node_runs.group_by("unique_id").len().get_column("len").max() == 1
    assert store.locks().height == 0
    # both plans are recorded; the later one reuses everything the earlier one built
    plans = store.plans()
    assert plans.height == 2
    later = store.decisions(plans.get_column("plan_id")[-1])
    assert set(later.filter(later["unique_id"].is_in(list(first)))["action"]) == {"reuse"}
    # …and decided them only once the first run's builds had ended (it waited, or came later)
    last_build = node_runs.get_column("completed_at").max()
    assert plans.get_column("run_at")[-1] >= last_build


def test_shadow_run_and_report(raced) -> None:
    project_dir, _ = raced
    store = StateStore.for_project(project_dir)
    runs_before = store.runs().height
    # new orders land; a shadow run builds everything but records what SAO would reuse
    land_rows(project_dir, "shop.orders", 4, datetime.now(UTC) - timedelta(minutes=1))
    runner = CliRunner()
    target = str(project_dir / "target")
    shadow = runner.invoke(
        app, ["plan", str(project_dir), "--shadow", "--manifest", target, "--format", "json"]
    )
    assert shadow.exit_code == 0, shadow.output
    rows = json.loads(shadow.stdout)
    assert {"node", "action", "reason", "status"} <= set(rows[0])
    # a full build: every materialized node ran, whatever the prediction
    statuses = {r["node"]: r["status"] for r in rows}
    assert sum(1 for s in statuses.values() if s == "success") == 24
    assert store.runs().height == runs_before + 1

    report = runner.invoke(app, ["shadow-report", str(project_dir), "--format", "json"])
    assert report.exit_code == 0, report.output
    result = json.loads(report.stdout)
    by_name = {r["name"]: r for r in result["rows"]}
    assert len(by_name) == 24
    # stg_orders is a view: its data moved with the source, and within its hourly window SAO
    # reuses it, so the tables built from it are stale — the report calls them false reuses
    assert by_name["stg_orders"]["predicted"] == "reuse"
    assert by_name["fct_orders"]["rows_after"] == by_name["fct_orders"]["rows_before"] + 4
    assert by_name["fct_orders"]["verdict"] == "false_reuse"
    # … a deliberate one: the staleness comes from stg_orders' build_after window upstream
    assert by_name["stg_orders"]["reason"] == "within_build_after"
    assert by_name["fct_orders"]["mismatch"] == "deliberate_reuse"
    assert by_name["dim_products"]["mismatch"] is None
    reuse = result["reuse"]
    assert reuse["within_points"] == pytest.approx(
        abs(reuse["predicted_pct"] - reuse["actual_pct"])
    )
    assert sum(result["mismatches"].values()) == (
        result["summary"]["false_reuse"] + result["summary"]["wasted_build"]
    )
    # nothing reached products: reused and unchanged
    assert by_name["dim_products"]["verdict"] == "correct_reuse"
    assert by_name["dim_products"]["rows_after"] == by_name["dim_products"]["rows_before"]
    assert sum(result["summary"].values()) == 24
    assert result["summary"]["false_reuse"] >= 1 and result["summary"]["correct_reuse"] >= 1


def test_plan_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plan", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a dbt project" in result.output
    assert len(result.output.strip().splitlines()) == 1
