"""Shared fixtures: paths to the repository, the bundled example and ../shared/real-artifacts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# `make test` draws the same examples every run, so main stays green or red for a reason in the
# code; SAOSIM_HYPOTHESIS=explore draws fresh ones (new seeds every run) to hunt for new cases
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("SAOSIM_HYPOTHESIS", "repeatable"))

REPO = Path(__file__).resolve().parents[1]
REAL_ARTIFACTS = REPO.parent / "shared" / "real-artifacts"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_artifacts() -> Path:
    """The folder of real dbt artifacts beside the clone; tests that need it skip without it."""
    if not REAL_ARTIFACTS.is_dir():
        pytest.skip(f"real artifacts not found at {REAL_ARTIFACTS} (they live in ../shared/)")
    return REAL_ARTIFACTS
