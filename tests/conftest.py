"""Shared fixtures: paths to the repository, the bundled example and ../shared/real-artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

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
