"""``saosim tiers`` and ``saosim fingerprint`` through typer's runner (real files, real project)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from saosim.cli import app
from saosim.inputs import load_project
from saosim.project.freshness_yaml import read_project_freshness

ARTIFACTS = Path(__file__).parents[1] / "fixtures" / "artifacts"
MANIFEST = ARTIFACTS / "manifest_v12.json"
TIERS = """
tiers:
  default: {build_after: {count: 1, period: day}, sla: 26h}
  hourly: {select: "tag:hourly", build_after: {count: 1, period: hour}, sla: 2h}
"""

runner = CliRunner()


def test_tiers_writes_dbt_yaml_that_reads_back(tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.yml"
    tiers.write_text(TIERS)
    out = tmp_path / "out"
    result = runner.invoke(app, ["tiers", str(MANIFEST), str(tiers), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hourly" in result.output and "wrote" in result.output
    back = read_project_freshness(out, load_project(MANIFEST))
    assert back.for_node("model.shop.fct_orders").window_s == 3600
    assert back.for_node("model.shop.stg_orders").window_s == 86400


def test_tiers_json_and_bad_tier_file(tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.yml"
    tiers.write_text(TIERS)
    result = runner.invoke(app, ["tiers", str(MANIFEST), str(tiers), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nodes_per_tier"] == {"default": 4, "hourly": 1}
    assert "+freshness" in yaml.safe_load(data["files"]["dbt_project.yml"])["models"]["shop"]
    tiers.write_text("tiers: {hourly: {select: 'tag:nope'}}\n")
    bad = runner.invoke(app, ["tiers", str(MANIFEST), str(tiers)])
    assert bad.exit_code == 2
    assert "tag:nope" in bad.output


def test_fingerprint_report_and_previous() -> None:
    over_time = sorted((ARTIFACTS / "manifests_over_time").glob("*.json"))
    result = runner.invoke(
        app,
        ["fingerprint", str(over_time[-1]), "--previous", str(over_time[0]), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] >= 5 and data["parsed"] + data["fallback"] == data["total"]
    assert set(data["cosmetic"]) <= set(data["changed"])
    table = runner.invoke(app, ["fingerprint", str(MANIFEST)])
    assert table.exit_code == 0 and "parsed by sqlglot" in table.output
