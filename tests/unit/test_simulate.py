"""The replay around the planner: shared state, concurrency, failures, cron what-ifs, backtest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from saosim.cost.rates import CostModel
from saosim.cost.runtime import history_cost
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.project.graph import Project
from saosim.replay.engine import Scenario, simulate
from saosim.replay.scenario_config import scenario_from_dict
from saosim.replay.timeline import Job

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SRC, STG, FCT = "source.demo.raw.orders", "model.demo.stg_orders", "model.demo.fct_orders"


def _estate(runs: list[tuple[str, str, datetime, dict[str, tuple[str, float]]]], arrivals):
    project = Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "fct_orders": ["stg_orders"]}
    )
    node_runs = [
        {
            "run_id": run_id,
            "unique_id": uid,
            "status": status,
            "started_at": at,
            "execution_time_s": seconds,
        }
        for run_id, _, at, nodes in runs
        for uid, (status, seconds) in nodes.items()
    ]
    return Estate(
        project,
        runs=pl.DataFrame(
            {
                "run_id": [r[0] for r in runs],
                "job_id": [r[1] for r in runs],
                "started_at": [r[2] for r in runs],
            }
        ),
        node_runs=pl.DataFrame(node_runs),
        source_arrivals=pl.DataFrame({"unique_id": [SRC] * len(arrivals), "arrived_at": arrivals}),
    )


def _hourly(n: int, *, job: str = "hourly", offset=timedelta(0), seconds: float = 60.0):
    ok = {STG: ("success", seconds), FCT: ("success", seconds)}
    return [(f"{job}-{i}", job, T0 + timedelta(hours=i) + offset, dict(ok)) for i in range(n)]


def _actions(cmp, scenario: str, uid: str) -> list[tuple[str, str]]:
    log = cmp.decisions_of(scenario).filter(pl.col("unique_id") == uid).sort("run_at")
    return list(zip(log["action"], log["reason"], strict=True))


def test_baseline_builds_what_history_ran_and_sao_reuses_without_new_data() -> None:
    estate = _estate(_hourly(4), [T0 - timedelta(minutes=5)])
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="plain")
    assert [a for a, _ in _actions(cmp, "baseline", FCT)] == ["build"] * 4
    assert _actions(cmp, "sao", STG) == [("build", "never_built")] + [("reuse", "no_new_data")] * 3


def test_backtest_baseline_reproduces_history_cost() -> None:
    estate = _estate(_hourly(6, seconds=120.0), [T0 + timedelta(minutes=30)])
    model = CostModel(usd_per_hour=7.2)
    cmp = simulate(estate, [Scenario("sao", "sao")], cost_model=model, engine="plain")
    replayed = cmp.summary().filter(pl.col("scenario") == "baseline")["cost_usd"][0]
    assert replayed == pytest.approx(history_cost(estate, model).total_usd, rel=0.01)


def test_state_is_shared_between_jobs() -> None:
    runs = _hourly(1, job="a") + _hourly(1, job="b", offset=timedelta(minutes=30))
    estate = _estate(runs, [T0 - timedelta(minutes=5)])
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="plain")
    log = cmp.decisions_of("sao").filter(pl.col("job_id") == "b")
    assert set(log["action"]) == {"reuse"}


def test_overlapping_runs_double_build_only_without_a_guard() -> None:
    # job a starts 00:00 and builds for 40 minutes per node; job b starts 00:10 while a is busy
    slow = {STG: ("success", 2400.0), FCT: ("success", 2400.0)}
    runs = [
        ("a-0", "a", T0, dict(slow)),
        ("b-0", "b", T0 + timedelta(minutes=10), dict(slow)),
    ]
    estate = _estate(runs, [T0 - timedelta(minutes=5)])
    cmp = simulate(estate, [Scenario("sao", "sao"), Scenario("state", "dbt_state")], engine="plain")
    sao_b = cmp.decisions_of("sao").filter(pl.col("run_id") == "b-0")
    state_b = cmp.decisions_of("state").filter(pl.col("run_id") == "b-0")
    assert set(sao_b["action"]) == {"reuse"}
    # SAO waits for the build in flight: b's reuse of stg happens when a's build ends
    stg = sao_b.filter(pl.col("unique_id") == STG)
    assert stg["started_at"][0] == T0 + timedelta(minutes=40)
    assert set(state_b["action"]) == {"build"}
    costs = cmp.summary().select("scenario", "cost_usd").rows()
    assert dict(costs)["state"] > dict(costs)["sao"]


def test_history_failure_fails_the_replayed_build_and_skips_children() -> None:
    runs = _hourly(3)
    runs[1][3][STG] = ("error", 5.0)
    runs[1][3][FCT] = ("skipped", 0.0)
    estate = _estate(runs, [T0 - timedelta(minutes=5), T0 + timedelta(minutes=30)])
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="plain")
    assert _actions(cmp, "sao", FCT)[1] == ("skip", "upstream_failed")
    log = cmp.decisions_of("sao").filter(pl.col("run_id") == "hourly-1", pl.col("unique_id") == STG)
    assert log["status"][0] == "error"
    # the failed build left stg's state as it was: it is tried again at the next run
    assert _actions(cmp, "sao", STG)[2] == ("build", "new_upstream_data")


def test_cron_what_if_schedule() -> None:
    estate = _estate(_hourly(6), [T0 + timedelta(minutes=30), T0 + timedelta(hours=3, minutes=5)])
    scenario = Scenario("two-hourly", "sao", jobs=(Job("every2", "0 */2 * * *"),))
    cmp = simulate(estate, [scenario], engine="plain")
    log = cmp.decisions_of("two-hourly")
    assert sorted(set(log["run_at"].dt.hour())) == [0, 2, 4]
    assert _actions(cmp, "two-hourly", STG) == [
        ("build", "never_built"),
        ("build", "new_upstream_data"),
        ("build", "new_upstream_data"),
    ]


def test_scenario_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="profile"):
        scenario_from_dict({"profile": "turbo"}, "x")
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.cron"):
        scenario_from_dict({"profile": "sao", "jobs": [{"name": "a", "cron": "often"}]}, "x")
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.when"):
        scenario_from_dict(
            {"profile": "sao", "jobs": [{"name": "a", "cron": "* * * * *", "when": 1}]}, "x"
        )
    with pytest.raises(ConfigError, match="rates"):
        scenario_from_dict({"profile": "sao", "rates": {"dollars": 3}}, "x")
    assert scenario_from_dict({"profile": "sao"}, "x").jobs is None


def test_duplicate_scenario_names() -> None:
    estate = _estate(_hourly(2), [])
    with pytest.raises(ConfigError, match="given twice"):
        simulate(estate, [Scenario("a", "sao"), Scenario("a", "dbt_state")], engine="plain")


def test_a_cosmetic_code_change_does_not_rebuild() -> None:
    estate = _estate(_hourly(4), [T0 - timedelta(minutes=5)])
    changes = pl.DataFrame(
        {
            "unique_id": [STG, STG],
            "changed_at": [T0 + timedelta(minutes=30), T0 + timedelta(hours=1, minutes=30)],
            "fingerprint": ["v2", "v2"],  # the second edit only touched comments
        }
    )
    estate = Estate(
        estate.project,
        runs=estate.runs,
        node_runs=estate.node_runs,
        source_arrivals=estate.source_arrivals,
        code_changes=changes,
    )
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="plain")
    assert _actions(cmp, "sao", STG) == [
        ("build", "never_built"),
        ("build", "code_changed"),
        ("reuse", "no_new_data"),
        ("reuse", "no_new_data"),
    ]


def test_a_what_if_job_of_its_own_profile_is_refused_by_name() -> None:
    # one Job for scenario files and simulate; only scenario files run a job's own profile
    from saosim.replay.timeline import Job

    with pytest.raises(ConfigError, match=r"jobs\.ci\.profile") as err:
        Scenario("sao", "sao", jobs=(Job("ci", "0 * * * *", profile="baseline"),))
    assert "scenario files" in str(err.value)
