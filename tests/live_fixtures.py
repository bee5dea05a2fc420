"""Helpers for the live tests: a private copy of examples/jaffle_duckdb, land.py, and one
module-scoped built copy (land --init, dbt parse, dbt build) that a test module can share.

Use in a test module::

    from tests.live_fixtures import built_jaffle  # noqa: F401  (pytest fixture)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "jaffle_duckdb"
_SKIP = shutil.ignore_patterns(
    "target", "logs", "dbt_packages", ".saosim", "*.duckdb", "*.duckdb.wal", "__pycache__"
)


def copy_example(dest: Path) -> Path:
    """Copy the example project (sources only, no build outputs) to ``dest/jaffle_duckdb``."""
    target = dest / "jaffle_duckdb"
    shutil.copytree(EXAMPLE, target, ignore=_SKIP)
    return target


def land(project_dir: Path, *args: str) -> str:
    """Run the copy's ``land.py`` as a loader would, from the repository root."""
    done = subprocess.run(
        [sys.executable, str(project_dir / "land.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def land_rows(project_dir: Path, table: str, rows: int, at: datetime) -> str:
    return land(project_dir, table, "--rows", str(rows), "--at", at.isoformat())


@dataclass
class BuiltJaffle:
    """A copy of the example after ``land.py --init``, ``dbt parse`` and a full ``dbt build``."""

    project_dir: Path
    parse: object
    build: object
    build_s: float

    @property
    def database(self) -> Path:
        return self.project_dir / "jaffle.duckdb"


@pytest.fixture(scope="module")
def built_jaffle(tmp_path_factory: pytest.TempPathFactory) -> BuiltJaffle:
    from saosim.live.dbt_runner import dbt_build, dbt_parse

    project_dir = copy_example(tmp_path_factory.mktemp("live"))
    land(project_dir, "--init")
    parsed = dbt_parse(project_dir)
    started = time.perf_counter()
    build = dbt_build(project_dir, project=parsed.project)
    return BuiltJaffle(project_dir, parsed, build, time.perf_counter() - started)
