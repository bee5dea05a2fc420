"""One line, always: the CLI's handling of bad input (exit 2) and of bugs (exit 3, --debug), and
settings files (scenario, tiers) whose errors name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from saosim.cli import app, friendly_errors
from saosim.errors import ConfigError, reading
from saosim.project.tiers import load_tiers
from saosim.replay.scenario_config import load_scenario

runner = CliRunner()
FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"


def _app_raising(exc: Exception) -> typer.Typer:
    # a command of the real handler whose work fails while a named file is being read
    bug_app = typer.Typer()

    @bug_app.command()
    @friendly_errors
    def explode() -> None:
        with reading("runs/run_results.json"):
            raise exc

    @bug_app.command()
    @friendly_errors
    def other() -> None:  # a second command, so typer keeps command names
        pass

    return bug_app


def test_an_unexpected_exception_is_one_line_naming_command_file_and_type() -> None:
    result = runner.invoke(_app_raising(KeyError("timing")), ["explode"])
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "saosim explode failed while reading runs/run_results.json: KeyError" in lines[0]
    assert "--debug" in lines[0] and "Traceback" not in result.output


def test_debug_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("SAOSIM_DEBUG", "1")
    result = runner.invoke(_app_raising(IndexError("boom")), ["explode"])
    assert isinstance(result.exception, IndexError)


def test_the_debug_flag_is_a_global_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "info", str(FIXTURES / "manifest_v12.json")])
    assert result.exit_code == 0, result.output
    missing = runner.invoke(app, ["info", str(tmp_path / "nothing.json")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_a_yaml_syntax_error_is_one_line_with_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "sao.yml"
    bad.write_text("profile: sao\njobs:\n  - {name: h, cron: '0 * * * *'\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(bad)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{bad}:4:1: is not valid YAML")


def test_yaml_nested_thousands_deep_is_a_clean_error(tmp_path: Path) -> None:
    deep = tmp_path / "tiers.yml"
    deep.write_text("tiers: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deep"):
        load_tiers(deep)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "jobs: [{name: h, cron: '0 0 * * *', full_refresh: 'no'}]",
            "jobs[0].full_refresh",
            "true or",
        ),
        ("jobs: [{name: h, cron: '0 0 30 2 *'}]", "jobs[0].cron", "never fires"),
        ("jobs: [{name: h, cron: '* * * * * *'}]", "jobs[0].cron", "five fields"),
        ("jobs: [{name: h, cron: '@hourly', select: [a, b]}]", "jobs[0].select", "selector"),
        (
            "tiers: {default: {build_after: {count: 100000000000000000000, period: hour}}}",
            "tiers.default.build_after.count",
            "more than a year",
        ),
        ("tiers: {default: {sla: .nan}}", "tiers.default.sla", "not a duration"),
        ("tiers: {default: {sla: 1000000000000}}", "tiers.default.sla", "ten years"),
        ("options: {default_lag_tolerance_s: .inf}", "options.default_lag_tolerance_s", "finite"),
        ("rates: {dbt_startup_s: .nan}", "rates.dbt_startup_s", "number"),
    ],
)
def test_scenario_values_are_checked_with_their_field(tmp_path: Path, text, field, message) -> None:
    path = tmp_path / "s.yml"
    path.write_text("profile: sao\n" + text + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(path)
    assert (info.value.path, info.value.field) == (str(path), field)


EXAMPLE = Path(__file__).parents[2] / "data" / "example"


def test_a_replay_over_the_run_limit_says_so_up_front(tmp_path: Path) -> None:
    every_minute = tmp_path / "minutely.yml"
    every_minute.write_text("profile: sao\njobs: [{name: m, cron: '* * * * *'}]\n")
    result = runner.invoke(app, ["simulate", str(EXAMPLE), "--scenario", f"m={every_minute}"])
    assert result.exit_code == 2
    line = " ".join(result.stderr.split())
    assert "would replay about 129," in line and "--max-runs" in line and "minutely.yml" in line
    history = tmp_path / "history.yml"
    history.write_text("profile: sao\n")
    small = ["simulate", str(EXAMPLE), "--scenario", f"h={history}", "--max-runs", "100"]
    assert "about 1,410 runs" in " ".join(runner.invoke(app, small).stderr.split())


def test_a_job_selector_that_matches_nothing_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("profile: sao\njobs: [{name: d, cron: '0 6 * * *', select: 'tag:nope'}]\n")
    result = runner.invoke(app, ["simulate", str(EXAMPLE), "--scenario", f"s={path}"])
    assert result.exit_code == 2
    line = " ".join(result.stderr.split())
    assert f'{path}, field "jobs[0].select"' in line and "matches no node" in line
