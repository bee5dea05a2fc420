"""``saosim synth`` end to end: CliRunner and a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from saosim.cli import app
from saosim.inputs.estate import load_estate
from saosim.synth.estate import DEFAULT_START as START
from saosim.synth.estate import synthetic_estate

runner = CliRunner()


def test_synth_writes_an_estate_and_artifacts(tmp_path: Path) -> None:
    out, art = tmp_path / "estate", tmp_path / "artifacts"
    result = runner.invoke(
        app,
        ["synth", "--models", "60", "--days", "2", "--seed", "4", "--out", str(out),
         "--artifacts", str(art)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    estate = load_estate(out)
    expected = synthetic_estate(60, 2, 4)
    assert estate.node_runs.equals(expected.node_runs)
    assert estate.runs.equals(expected.runs)
    assert (art / "manifest.json").is_file()
    assert len(list(art.glob("*/*/run_results.json"))) == estate.runs.height


def test_synth_from_a_manifest(tmp_path: Path) -> None:
    from saosim.inputs.write import write_manifest
    from saosim.synth.estate import synthetic_project

    manifest = write_manifest(synthetic_project(50, seed=2), tmp_path / "m", generated_at=START)
    out = tmp_path / "estate"
    result = runner.invoke(
        app, ["synth", "--from-manifest", str(manifest), "--days", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    estate = load_estate(out)
    assert estate.project.counts()["model"] == 50
    assert estate.runs.height > 0


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--start", "2025-01-01"])
    assert result.exit_code == 2
    assert "time zone" in result.output
    missing = runner.invoke(
        app, ["synth", "--out", str(tmp_path), "--from-manifest", str(tmp_path / "nope.json")]
    )
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output


def test_synth_in_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "saosim"), "synth", "--models", "40", "--days", "1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert load_estate(out).project.counts()["model"] == 40
