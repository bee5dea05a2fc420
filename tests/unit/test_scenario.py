"""Scenario files: every file under tests/scenarios/ replays to the decisions it expects; bad
files fail with an error that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import saosim
from saosim.errors import ConfigError
from saosim.replay.scenario_file import load_scenario_file, parse_scenario_file
from saosim.replay.scenario_file import replay_scenario as replay

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))


def test_every_worked_example_has_a_scenario() -> None:
    names = {p.name.split("_")[0] for p in SCENARIOS}
    assert {f"example{i}" for i in range(1, 8)} <= names


# no_metadata_source scenarios warn on purpose
@pytest.mark.filterwarnings("ignore::saosim.errors.SaosimWarning")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_meets_its_expectations(path: Path) -> None:
    if path.name.startswith("sql_"):
        pytest.importorskip(
            "saosim.project.fingerprint", reason="SQL fingerprints need saosim.project.fingerprint"
        )
    scenario = load_scenario_file(path)
    assert scenario.expect, f"{path.name} has no expect: block"
    result = replay(scenario)
    assert result.mismatches() == []


def _doc() -> dict:
    return {
        "profile": "sao",
        "project": {
            "sources": ["raw.orders"],
            "models": [
                {"name": "stg_orders", "parents": ["raw.orders"]},
                {"name": "fct", "parents": ["stg_orders"], "tests": ["not_null"]},
            ],
        },
        "events": [{"at": "2025-01-01T00:10:00Z", "arrival": "raw.orders"}],
        "jobs": [{"name": "hourly", "cron": "0 * * * *"}],
        "window": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T02:00:00Z"},
    }


def test_mismatch_is_reported_with_what_was_got() -> None:
    doc = _doc()
    doc["expect"] = [
        {"at": "2025-01-01T01:00:00Z", "node": "fct", "action": "reuse", "reason": "no_new_data"}
    ]
    problems = replay(parse_scenario_file(doc)).mismatches()
    assert len(problems) == 1
    assert "expected reuse/no_new_data, got build/new_upstream_data" in problems[0]


def test_replay_rows_and_frame() -> None:
    result = replay(parse_scenario_file(_doc()))
    frame = result.to_frame()
    assert frame.columns == ["run_at", "job", "node", "action", "reason"]
    # 2 runs × (2 models + 1 test)
    assert frame.height == 6
    assert frame.filter(frame["node"] == "not_null_fct")["action"].to_list() == ["run", "run"]


def test_profile_override_on_replay() -> None:
    result = replay(parse_scenario_file(_doc()), profile="baseline")
    assert {r["reason"] for r in result.rows if r["node"] == "stg_orders"} == {"stateless"}


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        (
            lambda d: d["events"].append({"at": "2025-01-01T01:00:00Z", "arrival": "raw.x"}),
            "events[1].arrival",
            "'raw.x' is not a source",
        ),
        (
            lambda d: d["events"].append({"at": "2025-01-01T01:00:00Z", "arrival": "stg_orders"}),
            "events[1].arrival",
            "is not a source",
        ),
        (lambda d: d.update(colour="blue"), "colour", "unknown key"),
        (
            lambda d: d["project"]["models"][0].update(materialised="view"),
            "project.models[0].materialised",
            "unknown key",
        ),
        (
            lambda d: d["project"]["models"][1].update(parents=["nope"]),
            "project.models[1].parents[0]",
            "'nope' is not a declared node",
        ),
        (
            lambda d: d["events"].append({"at": "2025-01-01T01:00:00", "arrival": "raw.orders"}),
            "events[1].at",
            "no time zone",
        ),
        (lambda d: d["jobs"][0].update(cron="every hour"), "jobs[0].cron", "not a cron"),
        (lambda d: d.update(profile="fusion"), "profile", "not a profile"),
        (lambda d: d.update(options={"lag_mode": "x"}), "options.lag_mode", "not allowed"),
        (lambda d: d.update(options={"speed": 1}), "options.speed", "unknown option"),
        (
            lambda d: d["project"]["models"][0].update(
                freshness={"build_after": {"count": 0, "period": "hour"}}
            ),
            "project.models[0].freshness.build_after.count",
            "positive",
        ),
        (
            lambda d: d.update(
                window={"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"}
            ),
            "window.end",
            "after window.start",
        ),
        (
            lambda d: d.update(
                expect=[{"at": "2025-01-01T01:00:00Z", "node": "fct", "reason": "because"}]
            ),
            "expect[0].reason",
            "not a reason",
        ),
        (
            lambda d: d["events"].append(
                {"at": "2025-01-01T01:00:00Z", "arrival": "raw.orders", "failure": "fct"}
            ),
            "events[1]",
            "exactly one of",
        ),
    ],
)
def test_bad_scenarios_name_the_key(patch, field: str, message: str) -> None:
    doc = _doc()
    patch(doc)
    with pytest.raises(ConfigError, match=message) as err:
        parse_scenario_file(doc, path="s.yaml")
    assert err.value.field == field
    assert err.value.path in ("s.yaml", None)


def test_load_scenario_reports_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [sao\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_scenario_file(bad)
    # one line, with where: file:line:column
    assert str(err.value).startswith(f"{bad}:2:1: ") and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_scenario_file(tmp_path / "missing.yaml")


def test_initial_state_builds_seen_versions_from_arrivals(tmp_path: Path) -> None:
    doc = _doc()
    doc["initial_state"] = {"stg_orders": {"built_at": "2025-01-01T00:20:00Z"}}
    scenario = parse_scenario_file(doc)
    state = scenario.state_at_start()
    ns = state.get("model.scenario.stg_orders")
    assert ns.seen_versions == {"source.scenario.raw.orders": scenario.events[0].at}
    assert "model.scenario.fct" not in state
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_scenario_file(path).initial_state == scenario.initial_state


def test_replay_command_formats_and_errors(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from saosim.cli import app

    runner = CliRunner()
    example = str(SCENARIOS[0].parent / "example1_new_data_then_reuse.yaml")
    result = runner.invoke(app, ["replay", example, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "run_at": "2025-01-01T01:00:00Z",
        "job": "hourly",
        "node": "stg_orders",
        "action": "build",
        "reason": "new_upstream_data",
    }
    assert all(set(r) == {"run_at", "job", "node", "action", "reason"} for r in rows)
    csv_out = runner.invoke(app, ["replay", example, "-f", "csv", "--profile", "baseline"])
    assert csv_out.stdout.splitlines()[:2] == [
        "run_at,job,node,action,reason",
        "2025-01-01T01:00:00Z,hourly,stg_orders,build,stateless",
    ]
    table = runner.invoke(app, ["replay", example])
    assert table.exit_code == 0 and "new_upstream_data" in table.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: sao\nproject: {sources: [raw.a]}\nwindow: {}\njobs: []\n")
    failed = runner.invoke(app, ["replay", str(bad)])
    assert failed.exit_code == 2
    assert "jobs" in failed.output and "Traceback" not in failed.output
    for engine in ("plain", "fast"):
        same = runner.invoke(app, ["replay", example, "--format", "json", "--engine", engine])
        assert same.exit_code == 0, same.output
        assert json.loads(same.stdout) == rows
    wrong = runner.invoke(app, ["replay", example, "--engine", "turbo"])
    assert wrong.exit_code == 2 and "'turbo' is not an engine" in wrong.output


_COMPARED = (
    "run_at",
    "job",
    "unique_id",
    "action",
    "reason",
    "started_at",
    "finished_at",
    "cost_usd",
    "status",
)


@pytest.mark.filterwarnings("ignore::saosim.errors.SaosimWarning")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
@pytest.mark.parametrize("profile", [None, "baseline", "sao", "dbt_state", "orchestra"])
def test_scenario_runs_the_same_on_both_engines(path: Path, profile: str | None) -> None:
    # the file's own profile, then every other one over the same timeline
    scenario = load_scenario_file(path)
    plain = replay(scenario, profile=profile, engine="plain")
    try:
        fast = replay(scenario, profile=profile, engine="fast")
    except ConfigError as exc:
        assert "fast engine cannot run it" in str(exc)
        pytest.skip(str(exc))
    assert fast.engine == "fast" and plain.engine == "plain"
    want = [tuple(r[k] for k in _COMPARED) for r in plain.rows]
    got = [tuple(r[k] for k in _COMPARED) for r in fast.rows]
    assert got == want


def test_auto_engine_falls_back_and_says_why() -> None:
    doc = _doc()
    doc["jobs"].append({"name": "state_job", "cron": "30 * * * *", "profile": "dbt_state"})
    scenario = parse_scenario_file(doc)
    with pytest.warns(saosim.SaosimWarning, match="plain engine: job 'state_job'"):
        result = replay(scenario)
    assert result.engine == "plain"
    with pytest.raises(ConfigError, match="fast engine cannot run it"):
        replay(scenario, engine="fast")
