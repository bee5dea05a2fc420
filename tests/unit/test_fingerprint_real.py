"""Fingerprints of real manifests in ../shared/real-artifacts (skipped when it is absent)."""

from __future__ import annotations

import gzip
import re
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from saosim.inputs import read_manifest
from saosim.project.fingerprint import compare_fingerprints, fingerprint_project
from saosim.project.graph import Project

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-artifacts"
GITLAB = REAL / "tnmy44__gitlab-analytics"

pytestmark = pytest.mark.real_artifacts


def _schema_version(path: Path) -> int:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    version = orjson.loads(raw)["metadata"]["dbt_schema_version"]
    return int(re.search(r"/v(\d+)\.json", version).group(1))  # type: ignore[union-attr]


def _small_v7_manifests() -> list[Path]:
    if not REAL.is_dir():
        return []
    files = sorted(p for p in REAL.glob("*/*manifest*.json") if p.is_file())
    return [p for p in files if _schema_version(p) >= 7]


def _model_fallbacks(project: Project) -> tuple[int, int]:
    """(models, models whose fingerprint fell back to text) — recomputed from the nodes."""
    from saosim.project.fingerprint import fingerprint_node

    models = project.of_type("model")
    fallback = sum(
        1 for u in models if not fingerprint_node(project.nodes[u], project.dialect).parsed
    )
    return len(models), fallback


@pytest.mark.parametrize("path", _small_v7_manifests(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_model_of_every_v7_manifest_gets_a_fingerprint(path: Path) -> None:
    project, report = fingerprint_project(read_manifest(path), warn=False)
    models = project.of_type("model")
    assert models, "a manifest without models"
    assert all(project.nodes[u].fingerprint for u in models)
    total, fallback = _model_fallbacks(project)
    print(f"{path.parent.name}/{path.name}: {fallback}/{total} models fell back ({report})")
    # Python models are the only fallbacks in these small compiled/raw projects
    python = sum(1 for u in models if project.nodes[u].language == "python")
    assert fallback <= python


def test_no_real_artifacts_means_skip() -> None:
    if not REAL.is_dir():
        pytest.skip("../shared/real-artifacts is not here; the real-manifest tests were skipped")
    assert _small_v7_manifests(), "expected v7+ manifests among the real artifacts"


@pytest.fixture(scope="module")
def gitlab_timeline() -> list[Project]:
    files = sorted(GITLAB.glob("*manifest*.json.gz")) if GITLAB.is_dir() else []
    if len(files) != 4:
        pytest.skip("the GitLab manifests are not in ../shared/real-artifacts")
    return [fingerprint_project(read_manifest(f), warn=False)[0] for f in files]


@pytest.mark.slow
def test_gitlab_fingerprints_parse_almost_everything(gitlab_timeline: list[Project]) -> None:
    for project in gitlab_timeline:
        total, fallback = _model_fallbacks(project)
        share = fallback / total
        print(f"GitLab {total} models: {fallback} fingerprinted from text ({share:.1%})")
        assert 2895 <= total <= 2934
        assert share < 0.05
        assert all(project.nodes[u].fingerprint for u in project.of_type("model"))


@pytest.mark.slow
def test_gitlab_code_changes_and_cosmetic_ones(gitlab_timeline: list[Project]) -> None:
    diffs = [compare_fingerprints(a, b) for a, b in pairwise(gitlab_timeline)]
    changed = [len(d.changed) for d in diffs]
    cosmetic = [len(d.cosmetic) for d in diffs]
    print(f"GitLab changed models {changed}, cosmetic {cosmetic}")
    # dbt's checksum moved for exactly these (a build-config change, snowplow_sessions_tmp's
    # new incremental_strategy, came with a checksum change too).
    checksum_changed = [
        sum(1 for u in d.changed if a.nodes[u].checksum != b.nodes[u].checksum)
        for d, (a, b) in zip(diffs, pairwise(gitlab_timeline), strict=True)
    ]
    assert changed == checksum_changed == [43, 71, 36]
    assert all(c <= n for c, n in zip(cosmetic, changed, strict=True))
    # As computed (benchmarks/fingerprint.py): a blank line, and a config() that only adds a tag.
    assert [d.cosmetic for d in diffs] == [
        ("model.gitlab_snowflake.rpt_gcp_billing_pl_day_ext",),
        (),
        ("model.gitlab_snowflake.rpt_gtm_crm_actuals",),
    ]
