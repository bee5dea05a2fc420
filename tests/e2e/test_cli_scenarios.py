"""Scenario files on any project: the shipped files need no tag, selectors are checked before
the history loads (with suggestions), `window:` / `--start/--end` for estates without runs, and
scenario names never merge two decision logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate, load_estate
from saosim.project.graph import Project
from saosim.replay.engine import Scenario, simulate
from saosim.replay.scenario_config import load_scenario
from saosim.synth.estate import synthetic_estate
from saosim.synth.history import synthetic_history

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "examples" / "scenarios"

_SPEC = {
    "raw.orders": [],
    "raw.customers": [],
    "stg_orders": ["raw.orders"],
    "stg_customers": ["raw.customers"],
    "fct_orders": ["stg_orders", "stg_customers"],
    "rpt_revenue": ["fct_orders"],
}


@pytest.fixture(scope="module")
def untagged_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project without a single tag, with a few days of history."""
    folder = tmp_path_factory.mktemp("untagged")
    synthetic_history(Project.from_spec(_SPEC), days=3, seed=1).save(folder)
    return folder


@pytest.fixture(scope="module")
def no_runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only a project (as `saosim ingest manifest.json` gives): no runs, no arrivals."""
    folder = tmp_path_factory.mktemp("no-runs")
    Estate(Project.from_spec(_SPEC)).save(folder)
    return folder


@pytest.fixture(scope="module")
def tagged_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tagged")
    synthetic_estate(n_models=80, days=2, seed=5).save(folder)
    return folder


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_shipped_scenarios_run_on_a_project_without_tags(untagged_dir: Path) -> None:
    code, out = _run(
        "simulate",
        untagged_dir,
        "--scenario",
        f"sao={SCENARIOS / 'sao.yml'}",
        "--scenario",
        f"tuned={SCENARIOS / 'tuned.yml'}",
        "--scenario",
        f"two_jobs={SCENARIOS / 'two-jobs.yml'}",
        "--format",
        "json",
    )
    assert code == 0, out
    rows = {r["scenario"]: r for r in json.loads(out)}
    assert set(rows) == {"baseline", "sao", "tuned", "two_jobs"}
    # the daily default tier reuses more than SAO with the project's own (empty) settings
    assert rows["tuned"]["reuses"] > rows["sao"]["reuses"]
    assert rows["two_jobs"]["runs"] > 0


def test_a_selector_naming_nothing_fails_before_the_history_loads(
    tagged_dir: Path, tmp_path: Path
) -> None:
    # a copy of the estate whose history is unreadable: the selector error must come first
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tagged_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "node_runs.parquet").write_bytes(b"not parquet")
    tiers = tmp_path / "hourli.yml"
    tiers.write_text(
        "profile: sao\ntiers:\n  fast: {select: 'tag:hourli', "
        "build_after: {count: 1, period: hour}}\n"
        "  default: {build_after: {count: 1, period: day}}\n"
    )
    code, out = _run("simulate", broken, "--scenario", f"t={tiers}")
    assert code == 2, out
    line = " ".join(out.split())
    assert "node_runs.parquet" not in line
    assert str(tiers) in line and "tiers.fast.select" in line
    assert "tags: " in line and "hourly" in line  # the project's tags are listed
    assert "closest tags: tag:hourly" in line
    assert "folders: models/" in line
    # the same for a job's selector, with the closest model names
    job = tmp_path / "job.yml"
    job.write_text("profile: sao\njobs:\n  - {name: j, cron: '0 * * * *', select: 'fct_ordr+'}\n")
    code, out = _run("simulate", broken, "--scenario", f"j={job}")
    line = " ".join(out.split())
    assert code == 2 and "jobs[0].select" in line and "closest names: " in line, line
    assert "node_runs.parquet" not in line


def test_window_in_a_scenario_file_replays_an_estate_without_runs(
    no_runs_dir: Path, tmp_path: Path
) -> None:
    code, out = _run("simulate", no_runs_dir, "--scenario", f"w={SCENARIOS / 'two-jobs.yml'}")
    assert code == 2 and "window" in out and "--start/--end" in " ".join(out.split()), out
    windowed = tmp_path / "windowed.yml"
    windowed.write_text(
        (SCENARIOS / "two-jobs.yml").read_text()
        + 'window: {start: "2025-01-01T00:00:00Z", end: "2025-01-03T00:00:00Z"}\n'
    )
    code, out = _run("simulate", no_runs_dir, "--scenario", f"w={windowed}", "--format", "json")
    assert code == 0, out
    rows = {r["scenario"]: r for r in json.loads(out)}
    assert rows["w"]["runs"] == 10  # 4 + 1 a day for two days
    # no history to compare with: the baseline rebuilds everything on the same schedule
    assert rows["baseline"]["runs"] == 10 and rows["w"]["savings_pct"] > 0
    code, out = _run(
        "simulate",
        no_runs_dir,
        "--scenario",
        f"w={SCENARIOS / 'two-jobs.yml'}",
        "--start",
        "2025-01-01T00:00:00Z",
        "--end",
        "2025-01-02T00:00:00+00:00",
        "--format",
        "json",
    )
    assert code == 0, out
    assert {r["scenario"]: r for r in json.loads(out)}["w"]["runs"] == 5
    code, out = _run(
        "simulate", no_runs_dir, "--scenario", f"w={windowed}", "--start", "2025-01-01"
    )
    assert code == 2 and "--start" in out and "time zone" in out, out


def test_bad_window_in_a_scenario_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        'profile: sao\nwindow: {start: "2025-01-02T00:00:00Z", end: "2025-01-01T00:00:00Z"}\n'
    )
    with pytest.raises(ConfigError, match=r"bad.yml, field \"window.end\": must be after"):
        load_scenario(bad)
    scenario = load_scenario(SCENARIOS / "sao.yml")
    assert scenario.window is None and scenario.source == str(SCENARIOS / "sao.yml")


def test_baseline_is_reserved_and_names_are_unique(tagged_dir: Path) -> None:
    code, out = _run("simulate", tagged_dir, "--scenario", f"baseline={SCENARIOS / 'sao.yml'}")
    assert code == 2
    assert len(out.strip().splitlines()) == 1 or "\n" not in " ".join(out.split())
    line = " ".join(out.split())
    assert "scenario 'baseline'" in line and str(SCENARIOS / "sao.yml") in line
    assert "reserved for the baseline profile" in line
    code, out = _run(
        "simulate",
        tagged_dir,
        "--scenario",
        f"x={SCENARIOS / 'sao.yml'}",
        "--scenario",
        f"x={SCENARIOS / 'tuned.yml'}",
    )
    line = " ".join(out.split())
    assert code == 2 and "'x' is given twice" in line and "tuned.yml" in line, line
    # a baseline-profile file may be called baseline
    code, out = _run("simulate", tagged_dir, "--scenario", f"baseline={SCENARIOS / 'baseline.yml'}")
    assert code == 0, out


def test_python_api_refuses_the_same_merges() -> None:
    estate = synthetic_estate(n_models=30, days=1, seed=2)
    with pytest.raises(ConfigError, match="scenario 'baseline' has profile sao"):
        simulate(estate, [Scenario("baseline", "sao")])
    sao = load_scenario(SCENARIOS / "sao.yml", "baseline")
    with pytest.raises(ConfigError, match=r"sao\.yml.*reserved for the baseline profile"):
        simulate(estate, [sao])
    with pytest.raises(ConfigError, match="'a' is given twice"):
        simulate(estate, [Scenario("a", "sao"), Scenario("a", "dbt_state")])
    w1 = Scenario(
        "a", "sao", window=(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    )
    w2 = Scenario(
        "b", "sao", window=(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC))
    )
    with pytest.raises(ConfigError, match="different windows"):
        simulate(estate, [w1, w2])


def test_example_estate_loads_its_project_alone() -> None:
    from saosim.inputs.estate import load_estate_project
    from saosim.tune.demo import bundled_example

    project = load_estate_project(bundled_example())
    assert project.counts() == load_estate(bundled_example()).project.counts()


def test_run_limit_counts_the_cli_window(no_runs_dir: Path, tmp_path: Path) -> None:
    minutely = tmp_path / "minutely.yml"
    minutely.write_text("profile: sao\njobs: [{name: m, cron: '* * * * *'}]\n")
    code, out = _run(
        "simulate",
        no_runs_dir,
        "--scenario",
        f"m={minutely}",
        "--start",
        "2025-01-01T00:00:00Z",
        "--end",
        "2025-04-01T00:00:00Z",
    )
    line = " ".join(out.split())
    assert code == 2 and "would replay about 129," in line and "--max-runs" in line, line


def test_report_dag_flag_and_recommend_checked_up_front(tagged_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    sao = f"sao={SCENARIOS / 'sao.yml'}"
    code, text = _run("report", tagged_dir, "--scenario", sao, "--out", out, "--no-dag")
    assert code == 0, text
    page = out.read_text()
    assert "is not drawn" in page and "DAG coloured by reuse" not in page
    code, text = _run("report", tagged_dir, "--scenario", sao, "--out", out, "--dag")
    assert code == 0 and "DAG coloured by reuse" in out.read_text(), text
    code, text = _run("report", tagged_dir, "--scenario", sao, "--recommend", "nope")
    assert code == 2 and "no scenario named 'nope'" in text, text
