"""The bundled example in data/ loads, and is exactly what its documented command regenerates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from saosim.inputs.estate import load_estate, project_to_frames
from saosim.synth.estate import synthetic_estate

DATA = Path(__file__).resolve().parents[2] / "data"
EXAMPLE = DATA / "example"


def _documented_command() -> dict[str, int]:
    text = (DATA / "README.md").read_text()
    command = re.search(
        r"saosim synth (--models \d+ --days \d+ --seed \d+) --out data/example", text
    )
    assert command, "data/README.md must give the exact saosim synth command"
    args = dict(re.findall(r"--(\w+) (\d+)", command.group(1)))
    return {k: int(v) for k, v in args.items()}


def test_bundled_example_loads_and_is_small() -> None:
    if not EXAMPLE.is_dir():
        pytest.skip("data/example is not in this checkout")
    estate = load_estate(EXAMPLE)
    assert estate.project.counts()["model"] == 1500
    jobs = {"daily_full", "midday_full", "hourly", "six_hourly"}
    assert set(estate.runs.get_column("job_id")) == jobs
    assert estate.synthetic
    size = sum(f.stat().st_size for f in EXAMPLE.iterdir())
    assert size < 16 * 2**20


@pytest.mark.slow
def test_bundled_example_matches_its_regeneration() -> None:
    if not EXAMPLE.is_dir():
        pytest.skip("data/example is not in this checkout")
    args = _documented_command()
    regenerated = synthetic_estate(n_models=args["models"], days=args["days"], seed=args["seed"])
    stored = load_estate(EXAMPLE)
    for got, want in zip(
        project_to_frames(stored.project), project_to_frames(regenerated.project), strict=True
    ):
        assert got.equals(want)
    for table in ("runs", "node_runs", "source_arrivals", "code_changes"):
        assert getattr(stored, table).equals(getattr(regenerated, table)), table
