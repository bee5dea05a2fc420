"""The in-run clock (SAO-SEMANTICS "t"): a node is judged when the job reaches it, dbt's
threads decide when that is, and a replayed history keeps the starts it recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from saosim.core.decision import Action, ProfileOptions, Reason
from saosim.core.planner import plan
from saosim.core.schedule import RunSchedule
from saosim.core.state import NodeState, State
from saosim.core.times import to_us
from saosim.inputs.estate import load_estate
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Project
from saosim.replay.engine import Scenario, simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
T0 = datetime(2025, 1, 1, 6, tzinfo=UTC)
SRC = "source.demo.raw.a"
STG = "model.demo.stg"
FCT = "model.demo.fct"
H = timedelta(hours=1)


def _chain_plan(clock: str):
    """stg takes 2 h; fct (build_after 3 h) was built 2 h before the run started."""
    project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
    before = T0 - 2 * H
    state = State.empty().with_nodes(
        {
            STG: NodeState.built(before, seen={SRC: before}),
            FCT: NodeState.built(before, seen={STG: before}),
        }
    )
    freshness = FreshnessConfig({FCT: NodeFreshness(BuildAfter(3, "hour", "any"))})
    schedule = RunSchedule(threads=1, durations_s={STG: 7200.0, FCT: 600.0})
    return plan(
        project, state, at=T0, source_versions={SRC: T0 - H}, freshness=freshness,
        options=ProfileOptions(clock=clock), schedule=schedule,
    )  # fmt: skip


def test_a_node_is_judged_when_the_run_reaches_it() -> None:
    result = _chain_plan("node")
    stg, fct = result.decision("stg"), result.decision("fct")
    assert (stg.started_at, stg.finished_at) == (T0, T0 + 2 * H)
    # reached when stg ends, 4 h after fct's last build: its 3 h window has passed
    assert fct.reached_at == T0 + 2 * H
    assert (fct.action, fct.reason) == (Action.BUILD, Reason.NEW_UPSTREAM_DATA)
    assert fct.finished_at == T0 + 2 * H + timedelta(minutes=10)


def test_run_start_clock_judges_every_node_at_the_start() -> None:
    fct = _chain_plan("run_start").decision("fct")
    # 2 h after its last build at the run's start: still inside the window
    assert (fct.action, fct.reason) == (Action.REUSE, Reason.WITHIN_BUILD_AFTER)
    assert fct.reached_at == T0 + 2 * H  # the schedule still unfolds


@pytest.mark.parametrize(
    ("threads", "reached"), [(1, [0, 1, 2, 3]), (2, [0, 0, 1, 1]), (4, [0] * 4)]
)
def test_threads_decide_when_independent_nodes_are_reached(
    threads: int, reached: list[int]
) -> None:
    names = ["m1", "m2", "m3", "m4"]
    project = Project.from_spec({"raw.a": [], **{n: ["raw.a"] for n in names}})
    schedule = RunSchedule(threads=threads, durations_s={f"model.demo.{n}": 3600.0 for n in names})
    result = plan(
        project, State.empty(), at=T0, source_versions={SRC: T0}, profile="baseline",
        schedule=schedule,
    )  # fmt: skip
    got = sorted(result.decision(n).reached_at for n in names)
    assert got == [T0 + k * H for k in reached]
    ends = [result.decision(n).finished_at for n in names]
    assert max(ends) == T0 + (reached[-1] + 1) * H


def test_a_recorded_start_is_kept_when_the_parents_are_done() -> None:
    project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
    schedule = RunSchedule(
        threads=4,
        durations_s={STG: 60.0, FCT: 60.0},
        recorded={STG: (T0 + timedelta(minutes=5), 60.0), FCT: (T0 + timedelta(minutes=30), 60.0)},
    )
    result = plan(
        project, State.empty(), at=T0, source_versions={SRC: T0}, profile="baseline",
        schedule=schedule,
    )  # fmt: skip
    assert result.decision("stg").started_at == T0 + timedelta(minutes=5)
    assert result.decision("fct").started_at == T0 + timedelta(minutes=30)


def test_a_node_waits_for_a_parent_that_now_takes_longer() -> None:
    project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
    schedule = RunSchedule(
        threads=4,
        durations_s={STG: 3600.0, FCT: 60.0},
        recorded={STG: (T0, 60.0), FCT: (T0 + timedelta(minutes=2), 60.0)},
    )
    result = plan(
        project, State.empty(), at=T0, source_versions={SRC: T0}, profile="baseline",
        schedule=schedule,
    )  # fmt: skip
    assert result.decision("fct").started_at == T0 + H


@pytest.mark.parametrize("profile", ["baseline", "sao"])
def test_a_node_waits_for_what_its_ephemeral_parent_reads(profile: str) -> None:
    # dbt inlines an ephemeral model and never runs it (a history's run_results do not list
    # it): fct waits for stg, which now takes an hour, through eph
    project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "eph": ["stg"], "fct": ["eph"]})
    project = project.replace_node("model.demo.eph", materialization="ephemeral")
    schedule = RunSchedule(
        threads=4,
        durations_s={STG: 3600.0, FCT: 60.0},
        recorded={STG: (T0, 60.0), FCT: (T0 + timedelta(minutes=2), 60.0)},
    )
    result = plan(
        project, State.empty(), at=T0, source_versions={SRC: T0}, profile=profile,
        select=[STG, FCT], schedule=schedule,
    )  # fmt: skip
    assert result.decision("fct").reached_at == T0 + H
    assert result.decision("fct").started_at == T0 + H


@pytest.mark.parametrize("engine", ["plain", "fast"])
def test_baseline_replay_keeps_the_historys_start_times(engine: str) -> None:
    if not EXAMPLE.is_dir():
        pytest.skip("data/example is not in this checkout")
    estate = load_estate(EXAMPLE)
    # the plain engine plans every run: three days keep the test short
    first = estate.runs["started_at"].min()
    end = first + timedelta(days=3)
    log = simulate(
        estate, [Scenario("baseline", profile="baseline")], engine=engine, start=first, end=end
    )
    replayed = log.decisions_of("baseline").select(
        pl.col("run_id").cast(pl.String),
        pl.col("unique_id").cast(pl.String),
        pl.col("started_at").alias("replayed"),
    )
    history = (
        estate.node_runs.join(
            estate.runs.filter(pl.col("started_at") < end).select("run_id"), on="run_id"
        )
        .with_columns(pl.col("run_id", "unique_id").cast(pl.String))
        .filter(pl.col("status") != "skipped")
        .select("run_id", "unique_id", pl.col("started_at").alias("recorded"))
    )
    both = history.join(replayed, on=["run_id", "unique_id"], how="inner")
    assert both.height == history.height
    kept = both.filter(pl.col("recorded") == pl.col("replayed")).height
    # the baseline builds what the history built, so every node run keeps its recorded start
    assert kept == both.height


def _landing_mid_run(clock: str):
    """z_late, fed by raw.a, is reached two hours into the run (the history started it then);
    raw.a's data lands an hour into the run."""
    project = Project.from_spec(
        {"raw.a": [], "raw.b": [], "a_slow": ["raw.b"], "z_late": ["raw.a"]}
    )
    a, b = SRC, "source.demo.raw.b"
    late, slow = "model.demo.z_late", "model.demo.a_slow"
    before = T0 - 2 * H
    state = State.empty().with_nodes(
        {
            slow: NodeState.built(before, seen={b: before}),
            late: NodeState.built(before, seen={a: before}),
        }
    )
    schedule = RunSchedule(
        threads=1,
        durations_s={slow: 7200.0, late: 60.0},
        recorded={late: (T0 + 2 * H, 60.0)},
        arrivals={a: np.array([to_us(before), to_us(T0 + H)]), b: np.array([to_us(T0 - H)])},
    )
    return plan(
        project, state, at=T0, source_versions={a: before, b: T0 - H}, profile="sao",
        options=ProfileOptions(clock=clock), schedule=schedule,
    )  # fmt: skip


def test_data_that_lands_before_the_run_reaches_a_node_counts_for_it() -> None:
    result = _landing_mid_run("node")
    late = result.decision("z_late")
    assert late.reached_at == T0 + 2 * H
    assert (late.action, late.reason) == (Action.BUILD, Reason.NEW_UPSTREAM_DATA)
    # the state remembers the version it read: the arrival an hour into the run
    after = result.apply(
        finished_at={"model.demo.a_slow": T0 + 2 * H, "model.demo.z_late": T0 + 3 * H}
    )
    assert after.get("model.demo.z_late").seen_versions[SRC] == T0 + H


def test_run_start_clock_reads_the_sources_at_the_start() -> None:
    late = _landing_mid_run("run_start").decision("z_late")
    assert (late.action, late.reason) == (Action.REUSE, Reason.NO_NEW_DATA)


def test_threads_come_from_the_rates_else_the_history(tmp_path: Path) -> None:
    import json

    from saosim.cost.rates import CostModel
    from saosim.inputs.runs import read_runs

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts" / "runs_tree"
    data = json.loads((fixture / "hourly/2026-01-05T08/target/run_results.json").read_text())
    data["args"]["threads"] = 8
    (tmp_path / "run_results.json").write_text(json.dumps(data))
    assert read_runs(tmp_path / "run_results.json").runs["threads"].to_list() == [8]
    # the history's most common threads, unless the rates name them
    assert CostModel().with_history_threads(8).threads == 8
    assert CostModel.from_config({"threads": 2}).with_history_threads(8).threads == 2
    assert CostModel().with_history_threads(None).threads == 4
    if EXAMPLE.is_dir():
        assert load_estate(EXAMPLE).history_threads == 6  # the hourly job's, the most runs
