"""SLAs, the recommendation and the summary's width from the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from saosim.cli import app
from saosim.cli.render import summary_table
from saosim.synth.estate import synthetic_estate

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "examples" / "scenarios"


@pytest.fixture(scope="module")
def estate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("estate")
    synthetic_estate(n_models=80, days=3, seed=4).save(folder)
    return folder


def _width(table, width: int = 300) -> int:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return max(len(line) for line in out.getvalue().splitlines())


def test_default_summary_fits_100_columns_and_wide_shows_every_column():
    big = pl.DataFrame(
        {
            "scenario": ["baseline", "dbt-labs-pattern", "tuned"],
            "runs": [12_345, 12_345, 12_345],
            "node_builds": [12_345_678, 9_876_543, 1_234_567],
            "reuses": [0, 2_469_135, 11_111_111],
            "reuse_pct": [0.0, 20.0, 90.0],
            "cost_usd": [1_234_567.0, 987_654.0, 123_456.0],
            "savings_pct": [0.0, 20.0, 90.0],
            "staleness_p95_hours": [22.4, 123.4, 1234.5],
            "sla_breach_pct": [5.3, 0.6, 41.7],
            "sla_breach_models": [184, 171, 1186],
            "recommended": [True, False, False],
        }
    )
    assert _width(summary_table(big, title="saosim demo — synth: 1,530 models")) <= 100
    wide = summary_table(big, wide=True)
    headings = [c.header for c in wide.columns]
    assert "models over SLA" in headings and "runs" in headings
    assert _width(wide) > 100


def test_simulate_scores_every_scenario_against_the_sla_file(estate_dir: Path, tmp_path: Path):
    slas = tmp_path / "slas.yml"
    slas.write_text("slas:\n  default: 8h\n")
    args = ["simulate", str(estate_dir), "--scenario", f"sao={SCENARIOS / 'sao.yml'}"]
    result = CliRunner().invoke(app, [*args, "--sla", str(slas), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["scenario"]: r for r in json.loads(result.stdout)}
    for row in rows.values():
        assert row["sla_breach_pct"] is not None and row["sla_models"] > 0
    assert sum(r["recommended"] for r in rows.values()) == 1
    table = CliRunner().invoke(app, [*args, "--sla", str(slas)])
    assert table.exit_code == 0, table.output
    assert "SLA breach %" in table.output and "recommended:" in table.output
    assert "SLAs: default 8h" in table.output


def test_an_sla_file_that_contradicts_the_tiers_is_an_error_naming_both(estate_dir, tmp_path):
    slas = tmp_path / "slas.yml"
    slas.write_text("slas:\n  default: 8h\n")
    tuned = SCENARIOS / "tuned.yml"
    result = CliRunner().invoke(
        app, ["simulate", str(estate_dir), "--scenario", f"t={tuned}", "--sla", str(slas)]
    )
    assert result.exit_code == 2
    assert "slas.yml" in result.output and "scenario 't', tier '" in result.output


@pytest.mark.slow
def test_demo_json_one_object_per_scenario_and_an_honest_recommendation(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "saosim", "demo", "--out", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["scenario"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"baseline", "sao", "tuned", "dbt-labs-pattern"}
    for row in rows.values():
        for key in ("savings_pct", "sla_breach_pct", "sla_breach_models", "recommended"):
            assert key in row, key
        assert isinstance(row["sla_breach_pct"], float)
    chosen = [r for r in rows.values() if r["recommended"]]
    assert len(chosen) == 1
    assert chosen[0]["sla_breach_pct"] <= rows["baseline"]["sla_breach_pct"]
    # the demo's tuned scenario is one a team could adopt: cheaper, and no worse on the SLAs
    tuned, baseline = rows["tuned"], rows["baseline"]
    assert tuned["sla_breach_pct"] <= baseline["sla_breach_pct"]
    assert tuned["bill_usd"] < baseline["bill_usd"]
    assert tuned["recommended"]


def test_tiers_warns_about_a_window_at_the_jobs_interval(estate_dir: Path, tmp_path: Path):
    tiers = tmp_path / "tiers.yml"
    tiers.write_text("tiers:\n  default: {build_after: {count: 1, period: day}}\n")
    result = CliRunner().invoke(app, ["tiers", str(estate_dir), str(tiers), "--format", "json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["cadence_warnings"]
    assert any("every 2nd run" in w and "23h" in w for w in warnings)
    tiers.write_text("tiers:\n  default: {build_after: {count: 23, period: hour}}\n")
    result = CliRunner().invoke(app, ["tiers", str(estate_dir), str(tiers), "--format", "json"])
    assert not any("every 2nd" in w for w in json.loads(result.stdout)["cadence_warnings"])
