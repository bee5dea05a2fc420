"""A sequence of manifests → code_changes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saosim.errors import ArtifactError
from saosim.inputs.changes import code_changes, manifest_versions

FOLDER = Path(__file__).parents[1] / "fixtures" / "artifacts" / "manifests_over_time"


def test_checksum_changes_and_new_nodes_count_at_the_later_manifest() -> None:
    changes = code_changes(sorted(FOLDER.glob("*.json"), reverse=True))  # order does not matter
    assert changes.rows() == [
        ("model.shop.fct_orders", datetime(2026, 1, 3, 6, tzinfo=UTC), "ccc333-v2", None),
        ("model.shop.stg_payments", datetime(2026, 1, 3, 6, tzinfo=UTC), "fff666", None),
    ]  # stg_orders only changed its tags: not a change; 01-04 changed nothing


def test_a_build_config_change_is_a_change(tmp_path: Path) -> None:
    first = FOLDER / "manifest@2026-01-01.json"
    data = json.loads(first.read_text())
    data["metadata"]["generated_at"] = "2026-01-02T00:00:00Z"
    data["nodes"]["model.shop.stg_orders"]["config"]["materialized"] = "table"
    later = tmp_path / "manifest.json"
    later.write_text(json.dumps(data))
    changes = code_changes([first, later])
    assert changes.get_column("unique_id").to_list() == ["model.shop.stg_orders"]


def test_one_manifest_has_no_changes() -> None:
    assert code_changes([FOLDER / "manifest@2026-01-01.json"]).height == 0


def test_two_manifests_with_the_same_time_are_an_error(tmp_path: Path) -> None:
    shutil.copy(FOLDER / "manifest@2026-01-01.json", tmp_path / "a_manifest.json")
    shutil.copy(FOLDER / "manifest@2026-01-01.json", tmp_path / "b_manifest.json")
    with pytest.raises(ArtifactError, match=r"same metadata\.generated_at"):
        code_changes(sorted(tmp_path.glob("*.json")))


def test_manifest_versions_lists_buildable_nodes_only() -> None:
    generated, versions = manifest_versions(FOLDER / "manifest@2026-01-01.json")
    assert generated == datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert sorted(versions) == [
        "model.shop.fct_orders",
        "model.shop.stg_customers",
        "model.shop.stg_orders",
        "seed.shop.country_codes",
        "snapshot.shop.customers_snapshot",
    ]
