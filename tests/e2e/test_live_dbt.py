# ruff: noqa: F811  (the module-scoped fixture is imported, then requested by name)
"""The live path against real dbt-core and a real DuckDB file: the example project builds, its
manifest carries the freshness configs, and landed rows move exactly one source's data version."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb
import orjson
import pytest

from saosim.live.dbt_runner import DbtRunError, dbt_build, dbt_parse
from saosim.live.metadata import source_versions
from saosim.project.freshness import FreshnessConfig
from tests.live_fixtures import (
    BuiltJaffle,
    built_jaffle,  # noqa: F401  (a pytest fixture)
    land_rows,
)

pytestmark = [pytest.mark.live, pytest.mark.slow]

INITIAL = datetime(2025, 1, 1, 6, tzinfo=UTC)


def _uid(built: BuiltJaffle, name: str) -> str:
    return built.parse.project.resolve(name)


def test_init_then_build_succeeds_with_every_node(built_jaffle: BuiltJaffle) -> None:
    project, build = built_jaffle.parse.project, built_jaffle.build
    assert build.success
    statuses = build.statuses
    buildable = {uid for uid in project.buildable if not project.nodes[uid].is_ephemeral}
    assert {u for u, s in statuses.items() if s == "success"} == buildable
    assert {u for u, s in statuses.items() if s == "pass"} == set(project.tests)
    # 21 materialized models (22 less the ephemeral one), 2 seeds, 1 snapshot; 48 data tests.
    assert build.by_status() == {"pass": 48, "success": 24}
    assert build.run_results_path.is_file()
    run_results = orjson.loads(build.run_results_path.read_bytes())
    assert run_results["metadata"]["invocation_id"] == build.invocation_id
    assert all(t.tzinfo is UTC for t in build.finished_at.values())
    assert (built_jaffle.project_dir / "logs" / "dbt.log").is_file()


def test_manifest_carries_freshness_configs(built_jaffle: BuiltJaffle) -> None:
    project = built_jaffle.parse.project
    config = FreshnessConfig.from_project(project)
    expected = {
        "stg_orders": (3600, "any"),  # staging folder: hourly tier
        "fct_payments": (3600, "any"),  # finance folder: hourly tier
        "dim_customers": (86400, "any"),  # project default: daily
        "fct_orders": (86400, "any"),
        "rpt_customer_ltv": (4 * 3600, "all"),  # SQL config() override
    }
    for name, (window_s, updates_on) in expected.items():
        node_freshness = config.for_node(_uid(built_jaffle, name))
        assert (node_freshness.window_s, node_freshness.updates_on) == (window_s, updates_on)
    assert "hourly" in project.nodes[_uid(built_jaffle, "finance_daily_revenue")].tags
    manifest = orjson.loads(built_jaffle.parse.manifest_path.read_bytes())
    raw = manifest["nodes"][_uid(built_jaffle, "stg_orders")]["config"]["freshness"]
    assert raw == {"build_after": {"count": 1, "period": "hour", "updates_on": "any"}}
    sources = [project.nodes[u] for u in project.sources]
    assert len(sources) == 6
    assert {(s.schema, s.loaded_at_field) for s in sources} == {("raw", "loaded_at")}


def test_landing_moves_exactly_that_source(built_jaffle: BuiltJaffle) -> None:
    project = built_jaffle.parse.project
    with duckdb.connect(str(built_jaffle.database), read_only=True) as con:
        before = source_versions(project, con)
    assert before == dict.fromkeys(project.sources, INITIAL)
    landed_at = datetime(2025, 1, 3, 9, 30, tzinfo=UTC)
    land_rows(built_jaffle.project_dir, "shop.orders", 3, landed_at)
    with duckdb.connect(str(built_jaffle.database), read_only=True) as con:
        after = source_versions(project, con)
    orders = _uid(built_jaffle, "shop.orders")
    assert after == {**before, orders: landed_at}


def test_build_selected_nodes_after_landing(built_jaffle: BuiltJaffle) -> None:
    project = built_jaffle.parse.project
    land_rows(built_jaffle.project_dir, "billing.payments", 2, datetime(2025, 1, 4, tzinfo=UTC))
    with duckdb.connect(str(built_jaffle.database), read_only=True) as con:
        orders_before = con.execute("select count(*) from main.fct_orders").fetchone()[0]
        raw_orders = con.execute("select count(*) from raw.orders").fetchone()[0]
    chosen = [_uid(built_jaffle, n) for n in ("stg_orders", "fct_orders", "fct_payments")]
    handlers = list(logging.getLogger().handlers)
    build = dbt_build(built_jaffle.project_dir, chosen, project=project)
    assert logging.getLogger().handlers == handlers  # dbt leaves the caller's logging alone
    assert build.success
    built = {u for u, s in build.statuses.items() if not project.nodes[u].is_test}
    assert built == set(chosen)
    # eager indirect selection: the tests of the chosen nodes ran too
    assert any(project.nodes[u].is_test for u in build.statuses)
    with duckdb.connect(str(built_jaffle.database), read_only=True) as con:
        orders_after = con.execute("select count(*) from main.fct_orders").fetchone()[0]
    assert orders_after == raw_orders >= orders_before
    # nothing selected: dbt is not invoked at all
    empty = dbt_build(built_jaffle.project_dir, [], project=project)
    assert (empty.success, empty.results, empty.run_results_path) == (True, (), None)


def test_failing_model_skips_its_children(tmp_path) -> None:
    folder = tmp_path / "broken"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: broken\nversion: '1.0.0'\nconfig-version: 2\nprofile: broken\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (folder / "profiles.yml").write_text(
        "broken:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: broken.duckdb\n      threads: 1\n"
    )
    (folder / "models" / "good.sql").write_text("select 1 as id")
    (folder / "models" / "bad.sql").write_text("select * from no_such_table")
    (folder / "models" / "child.sql").write_text("select * from {{ ref('bad') }}")
    build = dbt_build(folder)
    assert not build.success
    assert build.statuses == {
        "model.broken.good": "success",
        "model.broken.bad": "error",
        "model.broken.child": "skipped",
    }
    assert (
        "no_such_table"
        in build.results[[r.unique_id for r in build.results].index("model.broken.bad")].message
    )
    assert (folder / "broken.duckdb").is_file()  # relative path resolved in the project


def test_dbt_that_cannot_run_is_a_dbt_run_error(tmp_path) -> None:
    folder = tmp_path / "nope"
    folder.mkdir()
    (folder / "dbt_project.yml").write_text("name: nope\nversion: '1.0.0'\nprofile: missing\n")
    with pytest.raises(DbtRunError, match="dbt parse"):
        dbt_parse(folder)
