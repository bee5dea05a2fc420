"""The live planner end to end, real dbt-core on a copy of examples/jaffle_duckdb, on DuckDB and
on a real PostgreSQL server (dbt-postgres, the profile's ``postgres`` target):
build everything, land data in one source, edit a model's SQL (cosmetically, then for real), put
a 6-hour build_after on a mart — each time ``saosim.live.plan(...).execute()`` builds exactly
what SAO builds, for the right reason, and dbt's run_results and the tables agree. The clock is
advanced through ``at``, never by sleeping. Last, the recorded runs replay in the simulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import saosim.live as live
from saosim.cli import app
from saosim.replay.engine import Scenario, simulate
from tests.pg_server import Warehouse, example_on, postgres_server  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.slow]

T0 = datetime(2025, 1, 2, tzinfo=UTC)
#: every materialized node downstream of billing.payments
PAYMENTS_DOWNSTREAM = {
    "stg_payments",
    "fct_payments",
    "finance_payment_method_mix",
    "int_order_payments",
    "fct_orders",
    "finance_daily_revenue",
    "rpt_store_performance",
    "rpt_customer_ltv",
}


def _names(plan, ids) -> set[str]:
    return {plan.project.nodes[u].name for u in ids}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest, tmp_path: Path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    with example_on(request.param, tmp_path, server) as warehouse:
        yield warehouse


def _timed(wh: Warehouse, timings: dict, step: str, at: datetime):
    started = time.perf_counter()
    made = live.plan(wh.project_dir, at=at, target=wh.target)
    timings[f"{step}_plan_s"] = round(time.perf_counter() - started, 2)
    return made


def _execute(made, timings: dict, step: str):
    started = time.perf_counter()
    done = made.execute()
    timings[f"{step}_execute_s"] = round(time.perf_counter() - started, 2)
    return done


def test_live_plan_execute_end_to_end(wh: Warehouse) -> None:
    jaffle, timings = wh.project_dir, {}
    # 1. First run: nothing in the store, so every materialized node builds (never_built).
    first = _timed(wh, timings, "first", T0)
    assert isinstance(first, live.LivePlan) and first.counts() == {
        "build": 24,
        "no_op": 1,
        "run": 48,
    }
    done = _execute(first, timings, "first")
    assert done.counts() == {"built": 24, "reused": 0, "failed": 0, "skipped": 0, "tests_run": 48}
    assert set(done.statuses.values()) == {"success", "pass"}
    assert wh.count("main.fct_payments") == 232
    store = first.store
    # recorded on the given clock: the state says the run finished just after T0
    built_at = store.load_state().get(first.project.resolve("fct_payments")).built_at
    assert T0 <= built_at < T0 + timedelta(minutes=5)

    # 2. Five payments land; a day later only what is downstream of billing.payments builds.
    wh.land_rows("billing.payments", 5, T0 + timedelta(hours=24))
    second = _timed(wh, timings, "landed", T0 + timedelta(hours=25))
    reasons = {second.project.nodes[d.node_id].name: d.reason.value for d in second.decisions}
    built = _names(second, second.built)
    # rpt_customer_ltv has updates_on: all and dim_customers has nothing new
    assert built == PAYMENTS_DOWNSTREAM - {"rpt_customer_ltv"}
    assert reasons["rpt_customer_ltv"] == "waiting_for_all_upstreams"
    assert all(reasons[n] == "new_upstream_data" for n in built)
    others = [d for d in second.decisions if d.action.value in ("build", "reuse", "no_op")]
    for d in others:
        name = second.project.nodes[d.node_id].name
        if second.project.nodes[d.node_id].is_buildable and name not in PAYMENTS_DOWNSTREAM:
            assert d.reason.value in ("no_new_data", "ephemeral"), (name, d.reason)
    tests_run = set(second.ran)
    assert tests_run == {t for u in second.built for t in second.project.tests_of(u)}
    done = _execute(second, timings, "landed")
    assert {u for u, s in done.statuses.items() if s == "success"} == set(second.built)
    assert {u for u, s in done.statuses.items() if s == "pass"} == tests_run
    assert wh.count("main.stg_payments") == 265
    # 5 landed payments, of which those that succeeded (every 9th fails) reach fct_payments
    assert wh.count("main.fct_payments") == 232 + 4
    assert wh.count("main.dim_customers") == 60  # reused, untouched

    # 3. A comment-only, reformatted edit: dbt's checksum changes, the fingerprint does not.
    dim_products = jaffle / "models/marts/core/dim_products.sql"
    _edit(dim_products, "select\n", "-- products with a premium flag\nSELECT\n")
    cosmetic = _timed(wh, timings, "cosmetic", T0 + timedelta(hours=26))
    assert cosmetic.live.fingerprints_parsed == 1  # only the edited file was parsed again
    assert cosmetic.decision("dim_products").reason.value == "no_new_data"
    assert cosmetic.built == () and cosmetic.ran == ()
    nothing = cosmetic.execute()
    assert nothing.build is None and nothing.run_id is None

    # 4. A logic change: dim_products builds (code_changed), its child builds after it.
    _edit(
        dim_products, "price >= 8 as is_premium", "price >= 8 as is_premium,\n    price * 2 as p2"
    )
    logic = _timed(wh, timings, "logic", T0 + timedelta(hours=26))
    assert logic.decision("dim_products").reason.value == "code_changed"
    assert _names(logic, logic.built) == {"dim_products", "rpt_product_sales"}
    assert logic.decision("rpt_product_sales").reason.value == "new_upstream_data"
    done = _execute(logic, timings, "logic")
    assert done.statuses[logic.project.resolve("dim_products")] == "success"
    assert "p2" in wh.columns("main.dim_products")

    # 5. fct_payments gets build_after 6 h: new payments wait inside the window…
    fct_payments = jaffle / "models/marts/finance/fct_payments.sql"
    # (written as rpt_customer_ltv.sql writes it: saosim's Jinja splitter ends `{{ … }}` at the
    # first `}}`, so a one-line nested dict would fall back to a text fingerprint)
    config = (
        "{{\n    config(\n        freshness={\n"
        '            "build_after": {"count": 6, "period": "hour", "updates_on": "any"}\n'
        "        }\n    )\n}}\n"
    )
    fct_payments.write_text(config + fct_payments.read_text())
    wh.land_rows("billing.payments", 3, T0 + timedelta(hours=26, minutes=30))
    held = live.plan(jaffle, at=T0 + timedelta(hours=27), target=wh.target)
    fct = held.decision("fct_payments")
    assert fct.reason.value == "within_build_after"
    assert fct.window_ends_at is not None
    assert (
        timedelta(hours=6)
        <= fct.window_ends_at - (T0 + timedelta(hours=25))
        < timedelta(hours=6, minutes=5)
    )
    assert held.decision("stg_payments").reason.value == "new_upstream_data"
    done = held.execute()
    assert held.project.resolve("fct_payments") not in done.statuses
    assert wh.count("main.stg_payments") == 268  # the view shows them…
    assert wh.count("main.fct_payments") == 236  # …the table does not, yet

    # …and build once `at` passes the window.
    late = live.plan(jaffle, at=T0 + timedelta(hours=31, minutes=5), target=wh.target)
    assert late.decision("fct_payments").reason.value == "new_upstream_data"
    done = late.execute()
    assert done.statuses[late.project.resolve("fct_payments")] == "success"
    assert wh.count("main.fct_payments") == 236 + 3

    # 6. The closed loop: the recorded runs are an estate the simulator replays.
    recorded = live.estate(jaffle, project=late.project, target=wh.target)
    assert recorded.runs.height == 5  # the cosmetic plan built nothing, so ran nothing
    builds = recorded.node_runs.filter(
        recorded.node_runs.get_column("unique_id").cast(pl.String).str.starts_with("model.")
    )
    executed = (first, second, logic, held, late)
    assert builds.height == sum(1 for p in executed for u in p.built if u.startswith("model."))
    # arrivals: the initial load of six sources and two payment landings
    assert recorded.source_arrivals.height == 8
    assert (
        recorded.code_changes.filter(
            recorded.code_changes.get_column("unique_id") == late.project.resolve("dim_products")
        ).height
        == 2
    )  # first sighting and the logic change (the comment edit is not one)
    comparison = simulate(recorded, [Scenario("sao", "sao")], engine="plain")
    summary = {r["scenario"]: r for r in comparison.summary().iter_rows(named=True)}
    # the baseline replays what ran; SAO from the same history builds no more than that
    assert (
        summary["baseline"]["node_builds"]
        == recorded.node_runs.filter(
            ~recorded.node_runs.get_column("unique_id").cast(pl.String).str.starts_with("test.")
        ).height
    )
    assert 0 < summary["sao"]["node_builds"] <= summary["baseline"]["node_builds"]

    # 7. A broken model: dbt reports the error, its child is skipped, and the state keeps the
    #    last good build, so the next plan tries it again.
    _edit(dim_products, "price * 2 as p2", "price * 2 as p2 from nowhere_at_all")
    broken = live.plan(jaffle, at=T0 + timedelta(hours=51), target=wh.target)
    assert broken.decision("dim_products").reason.value == "code_changed"
    done = broken.execute()
    uid = broken.project.resolve("dim_products")
    assert done.statuses[uid] == "error" and uid in done.failed
    assert done.statuses[broken.project.resolve("rpt_product_sales")] == "skipped"
    assert done.counts()["failed"] >= 1 and done.counts()["skipped"] >= 1
    kept = broken.store.load_state().get(uid)
    assert kept.built_at < T0 + timedelta(hours=27)
    # the CLI tries it again (code_changed), reports dbt's status, and exits 1 as dbt does
    at = (T0 + timedelta(hours=52)).isoformat()
    target = ["--target", wh.target] if wh.target else []
    cli = CliRunner().invoke(
        app, ["plan", str(jaffle), "--execute", "--at", at, "--format", "json", *target]
    )
    assert cli.exit_code == 1, cli.output
    rows = {r["node"]: r for r in json.loads(cli.stdout)}
    assert rows[uid]["action"] == "build" and rows[uid]["reason"] == "code_changed"
    assert rows[uid]["status"] == "error"

    # 8. Shadow mode on this warehouse: a full build, data hashes read through dbt's connection
    _edit(dim_products, "price * 2 as p2 from nowhere_at_all", "price * 2 as p2")
    wh.land_rows("shop.orders", 2, T0 + timedelta(hours=52, minutes=30))
    at = (T0 + timedelta(hours=53)).isoformat()
    runner = CliRunner()
    shadow = runner.invoke(
        app, ["plan", str(jaffle), "--shadow", "--at", at, "--format", "json", *target]
    )
    assert shadow.exit_code == 0, shadow.output
    report = runner.invoke(app, ["shadow-report", str(jaffle), "--latest", "--format", "json"])
    assert report.exit_code == 0, report.output
    result = json.loads(report.stdout)
    by_name = {r["name"]: r for r in result["rows"]}
    assert len(by_name) == 24 and sum(result["summary"].values()) == 24
    # the view shows the landed orders before and after the build; the incremental table, built
    # inside its daily build_after window, gains them — a reuse the config chose
    assert by_name["stg_orders"]["rows_after"] == by_name["stg_orders"]["rows_before"] == 242
    fct = by_name["fct_orders"]
    assert (fct["predicted"], fct["reason"]) == ("reuse", "within_build_after")
    assert fct["rows_after"] == fct["rows_before"] + 2
    assert (fct["verdict"], fct["mismatch"]) == ("false_reuse", "deliberate_reuse")
    assert by_name["dim_products"]["verdict"] == "correct_reuse"
    assert by_name["dim_products"]["rows_after"] == by_name["dim_products"]["rows_before"]
    print(f"\n{wh.name} timings: {json.dumps(timings)}")
