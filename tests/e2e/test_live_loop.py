"""The whole live loop on the example project, with real dbt-core and DuckDB: read source data
versions from the warehouse, plan with saosim's planner, lock, ``dbt build`` what the plan
builds, apply the outcome, and record plan, run and state in the state store — three times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from saosim.core.planner import Plan, plan
from saosim.inputs.estate import Estate
from saosim.live.dbt_runner import dbt_build, dbt_parse
from saosim.live.metadata import source_versions
from saosim.live.store import StateStore
from tests.live_fixtures import copy_example, land, land_rows

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _run_once(project_dir: Path, project, store: StateStore, at: datetime) -> tuple[Plan, object]:
    with duckdb.connect(str(project_dir / "jaffle.duckdb"), read_only=True) as con:
        versions = source_versions(project, con)
    store.record_source_versions(versions, observed_at=at)
    holder = f"test-{at.isoformat()}"
    made = plan(
        project,
        store.load_state(),
        at=at,
        source_versions=versions,
        in_flight=store.in_flight(at=at, holder=holder),
    )
    plan_id = store.record_plan(made, job_id="loop")
    todo = set(made.built) | set(made.ran)
    acquired, elsewhere = store.acquire(made.built, holder=holder, at=at)
    assert elsewhere == frozenset() and acquired == set(made.built)
    build = dbt_build(project_dir, todo, project=project, indirect_selection="empty")
    if not todo:
        store.release(holder=holder)
        return made, build
    assert build.success, build.by_status()
    assert set(build.statuses) == todo
    state = made.apply(build.statuses, finished_at=build.finished_at)
    store.record_run(build.run_results_path, plan_id=plan_id, state=state, holder=holder)
    return made, build


def test_plan_build_record_loop(tmp_path_factory: pytest.TempPathFactory) -> None:
    project_dir = copy_example(tmp_path_factory.mktemp("loop"))
    land(project_dir, "--init")
    project = dbt_parse(project_dir).project
    store = StateStore.for_project(project_dir)
    at0 = datetime.now(UTC).replace(microsecond=0)

    # 1. Nothing built yet: every model, seed and snapshot builds, and their tests run.
    first, build = _run_once(project_dir, project, store, at0)
    materialized = {u for u in project.buildable if not project.nodes[u].is_ephemeral}
    assert set(first.built) == materialized
    assert {d.reason.value for d in first.decisions if d.node_id in materialized} == {"never_built"}
    assert set(first.ran) == set(project.tests)
    assert set(store.load_state().nodes) == materialized | set(project.tests)

    # 2. A minute later, nothing new: everything is reused and dbt is not invoked.
    second, build = _run_once(project_dir, project, store, at0 + timedelta(minutes=1))
    assert second.built == () and second.ran == ()
    assert build.run_results_path is None

    # 3. Orders land; two hours on, only the hourly staging view over orders is due —
    #    fct_orders and the rest of the daily tier are within their one-day build_after.
    land_rows(project_dir, "shop.orders", 4, at0 + timedelta(hours=1))
    third, build = _run_once(project_dir, project, store, at0 + timedelta(hours=2))
    stg_orders = project.resolve("stg_orders")
    assert third.built == (stg_orders,)
    assert third.decision("stg_orders").reason.value == "new_upstream_data"
    assert third.decision("fct_orders").reason.value == "within_build_after"
    # the tests of what was built run; the planner may also run the landed source's own tests
    orders_tests = set(project.tests_of(project.resolve("shop.orders")))
    assert set(project.tests_of(stg_orders)) <= set(third.ran)
    assert set(third.ran) <= set(project.tests_of(stg_orders)) | orders_tests

    # The store has all three plans, both runs, and no locks left behind.
    assert store.plans().height == 3
    runs = store.runs()
    assert runs.height == 2
    last_run = store.node_runs(runs.get_column("run_id")[-1])
    assert set(last_run.get_column("unique_id")) == {stg_orders} | set(third.ran)
    assert store.locks().height == 0
    # the initial load of six sources, then the orders that landed
    arrivals = store.source_arrivals()
    assert arrivals.height == 7
    assert arrivals.row(-1, named=True)["unique_id"] == project.resolve("shop.orders")
    assert arrivals.row(-1, named=True)["arrived_at"] == at0 + timedelta(hours=1)
    # and the store's history makes an estate the simulator can replay
    estate = Estate(project, **store.history().tables())
    assert estate.summary()["runs"] == 2 and estate.summary()["source_arrivals"] == 7
    assert store.load_state().get(stg_orders).built_at > at0
