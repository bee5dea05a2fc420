"""dbt selectors for unique ids (no dbt needed); dbt itself runs in tests/e2e/test_live_dbt.py."""

from __future__ import annotations

import pytest

from saosim.errors import SaosimInputError
from saosim.live.dbt_runner import BuildResult, NodeResult, dbt_selectors
from saosim.project.graph import Node, Project


def _project() -> Project:
    nodes = [
        Node("source.shop.raw.orders", "orders", "source", package="shop"),
        Node("model.shop.stg_orders", "stg_orders", "model", package="shop"),
        Node("model.shop.dim_date", "dim_date", "model", package="shop"),
        Node("model.utils.dim_date", "dim_date", "model", package="utils"),
        Node("seed.shop.country_codes", "country_codes", "seed", package="shop"),
    ]
    return Project(nodes, [("source.shop.raw.orders", "model.shop.stg_orders")], name="shop")


def test_unique_names_select_by_name_and_repeated_names_by_package() -> None:
    ids = ["model.shop.stg_orders", "model.utils.dim_date", "seed.shop.country_codes"]
    assert dbt_selectors(ids, _project()) == [
        "stg_orders",
        "package:utils,dim_date",
        "country_codes",
    ]


def test_sources_use_the_source_method_and_ids_are_deduplicated() -> None:
    ids = ["source.shop.raw.orders", "source.shop.raw.orders"]
    assert dbt_selectors(ids, _project()) == ["source:raw.orders"]


def test_an_id_outside_the_project_is_an_input_error() -> None:
    with pytest.raises(SaosimInputError) as info:
        dbt_selectors(["model.shop.nope"], _project())
    assert info.value.node_id == "model.shop.nope"


def test_build_result_feeds_plan_apply() -> None:
    from datetime import UTC, datetime

    done = datetime(2025, 1, 1, tzinfo=UTC)
    result = BuildResult(
        False,
        (
            NodeResult("model.p.a", "success", 1.5, done, done),
            NodeResult("model.p.b", "error", 0.2, done, done, "boom"),
            NodeResult("model.p.c", "skipped", 0.0),
        ),
        None,
    )
    assert result.statuses == {"model.p.a": "success", "model.p.b": "error", "model.p.c": "skipped"}
    assert result.finished_at == {"model.p.a": done, "model.p.b": done}
    assert result.by_status() == {"error": 1, "skipped": 1, "success": 1}
