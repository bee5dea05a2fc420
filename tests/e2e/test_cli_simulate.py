"""`saosim simulate` and `saosim demo` from the command line, and the backtest on the example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.cost.runtime import history_cost
from saosim.inputs.estate import load_estate
from saosim.replay.engine import Scenario, simulate
from saosim.synth.estate import synthetic_estate
from saosim.tune.demo import bundled_example

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "examples" / "scenarios"


@pytest.fixture(scope="module")
def estate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("estate")
    synthetic_estate(n_models=120, days=4, seed=3).save(folder)
    return folder


def test_simulate_json_has_one_object_per_scenario(estate_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "decisions.parquet"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(estate_dir),
            "--scenario",
            f"base={SCENARIOS / 'baseline.yml'}",
            "--scenario",
            f"sao={SCENARIOS / 'sao.yml'}",
            "--scenario",
            f"tuned={SCENARIOS / 'tuned.yml'}",
            "--format",
            "json",
            "--decisions",
            str(log),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["scenario"] for r in rows] == ["base", "sao", "tuned"]
    for key in (
        "node_builds",
        "reuses",
        "skips",
        "reuse_pct",
        "cost",
        "savings_pct",
        "staleness_p95_hours",
    ):
        assert all(key in r for r in rows), key
    base, sao, tuned = rows
    assert base["reuses"] == 0 and base["savings_pct"] == 0
    assert sao["node_builds"] <= base["node_builds"]
    assert tuned["reuse_pct"] >= sao["reuse_pct"]
    decisions = pl.read_parquet(log)
    assert set(decisions["scenario"]) == {"base", "sao", "tuned"}
    builds = decisions.filter(pl.col("action") == "build").group_by("scenario").len()
    assert dict(builds.rows())["sao"] == sao["node_builds"]


def test_simulate_bad_scenario_is_one_line_and_exit_2(estate_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("profile: sao\ntiers:\n  default: {build_after: {count: 1, period: weeks}}\n")
    result = CliRunner().invoke(app, ["simulate", str(estate_dir), "--scenario", f"x={bad}"])
    assert result.exit_code == 2
    assert "weeks" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["simulate", str(estate_dir), "--scenario", "no-equals"])
    assert result.exit_code == 2 and "NAME=CONFIG.yml" in result.output


@pytest.mark.slow
def test_backtest_baseline_reproduces_the_bundled_history_cost() -> None:
    """Baseline is what really ran, so its replay must cost what the history cost."""
    estate = load_estate(bundled_example())
    comparison = simulate(estate, [Scenario("baseline", "baseline")])
    replayed = comparison.summary()["cost_usd"][0]
    assert replayed == pytest.approx(history_cost(estate).total_usd, rel=0.01)


@pytest.mark.slow
def test_demo_subprocess_prints_the_comparison(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "saosim", "demo", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("baseline", "sao", "tuned", "dbt-labs-pattern", "recommended:"):
        assert name in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()[:12]) <= 100
    assert (tmp_path / "out" / "decisions.parquet").is_file()
    log = pl.read_parquet(tmp_path / "out" / "decisions.parquet")
    assert set(log["scenario"]) == {"baseline", "sao", "tuned", "dbt-labs-pattern"}
