"""state_at: the state a replay had, rebuilt from its decision log, equals the state a
plain plan → apply loop over the same runs reaches."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import polars as pl
import pytest

import saosim
from saosim.core.arrays import effective_parents
from saosim.errors import ConfigError
from saosim.replay.engine import Scenario, simulate
from saosim.replay.replayed_state import state_at
from saosim.replay.timeline import Timeline
from saosim.synth.estate import synthetic_estate


def _plain_states(comparison, scenario: str, profile: str):
    """Fold plan/apply over the timeline, taking finish times and outcomes from the log."""
    estate = comparison.estate
    project = estate.project
    timeline = Timeline.from_estate(estate)
    cfg = comparison.freshness[scenario]
    log = comparison.decisions_of(scenario).with_columns(
        pl.col("run_id").cast(pl.String),
        pl.col("unique_id").cast(pl.String),
        pl.col("action").cast(pl.String),
        pl.col("status").cast(pl.String),
    )
    by_run = {k[0]: g for k, g in log.group_by("run_id")}
    state = saosim.State.empty()
    for spec in timeline.runs:
        rows = by_run[spec.run_id]
        outcome = {u: s for u, s in zip(rows["unique_id"], rows["status"], strict=True) if s}
        failing = frozenset(u for u, s in outcome.items() if s in ("error", "fail"))
        p = saosim.plan(
            project,
            state,
            at=spec.at,
            source_versions=timeline.source_versions_at(spec.at),
            freshness=cfg,
            profile=profile,
            select=spec.selected,
            full_refresh=spec.full_refresh,
            failing=failing,
            fingerprints=timeline.fingerprints_at(spec.at),
        )
        actions = dict(zip(rows["unique_id"], rows["action"], strict=True))
        assert {d.node_id: d.action.value for d in p.decisions} == actions
        finished = dict(zip(rows["unique_id"], rows["finished_at"], strict=True))
        state = p.apply(outcome, finished_at=finished)
    return state


def _with_failures(estate):
    """Every 7th model run fails and every 5th test run fails (error severity)."""
    nr = estate.node_runs.with_row_index("i")
    kind = pl.col("unique_id").cast(pl.String).str.split(".").list.first()
    nr = nr.with_columns(
        pl.when((kind == "model") & (pl.col("i") % 7 == 0) & (pl.col("status") == "success"))
        .then(pl.lit("error"))
        .when((kind == "test") & (pl.col("i") % 5 == 0) & (pl.col("status") == "pass"))
        .then(pl.lit("fail"))
        .otherwise(pl.col("status"))
        .alias("status")
    ).drop("i")
    return dataclasses.replace(estate, node_runs=nr)


@pytest.fixture(scope="module", params=["clean", "failures"])
def comparison(request):
    estate = synthetic_estate(n_models=50, days=2, seed=5)
    if request.param == "failures":
        estate = _with_failures(estate)
    return simulate(estate, [Scenario("sao", "sao")], engine="plain")


@pytest.mark.parametrize(("scenario", "profile"), [("sao", "sao"), ("baseline", "baseline")])
def test_state_at_end_equals_plan_apply_loop(comparison, scenario, profile):
    expected = _plain_states(comparison, scenario, profile)
    got = state_at(comparison, scenario)
    assert set(got.nodes) == set(expected.nodes)
    for uid, want in expected.nodes.items():
        have = got.nodes[uid]
        assert have.built_at == want.built_at, uid
        assert have.fingerprint == want.fingerprint, uid
        assert dict(have.seen_versions) == dict(want.seen_versions), uid
        assert have.data_version == want.data_version, uid
        assert have.tests_failed == want.tests_failed, uid


def test_state_at_earlier_time_drops_later_builds(comparison):
    log = comparison.decisions_of("sao")
    middle = log["run_at"].min() + (log["run_at"].max() - log["run_at"].min()) / 2
    state = state_at(comparison, "sao", middle)
    assert state.nodes, "some builds finished by mid-window"
    assert all(s.built_at <= middle for s in state.nodes.values())
    # the planner accepts it: every decision of a plan at that time has a reason
    p = saosim.plan(
        comparison.estate.project,
        state,
        at=middle + timedelta(minutes=1),
        source_versions=Timeline.from_estate(comparison.estate).source_versions_at(middle),
        options=saosim.ProfileOptions(no_metadata_source="never_fresh"),
        profile="sao",
    )
    assert len(p.decisions) > 0


def test_state_at_refuses_unknown_scenario_and_naive_time(comparison):
    with pytest.raises(ConfigError, match="no scenario named"):
        state_at(comparison, "nope")
    naive = comparison.start.replace(tzinfo=None)
    with pytest.raises(ConfigError, match="no time zone"):
        state_at(comparison, "sao", naive)


def test_effective_parents_skip_ephemerals():
    from saosim.project.graph import Node, Project

    nodes = [
        Node("source.p.raw.a", "a", "source"),
        Node("model.p.eph", "eph", "model", materialization="ephemeral"),
        Node("model.p.m", "m", "model", materialization="table"),
    ]
    edges = [("source.p.raw.a", "model.p.eph"), ("model.p.eph", "model.p.m")]
    project = Project(nodes, edges, name="p")
    assert effective_parents(project, "model.p.m") == ("source.p.raw.a",)


@pytest.mark.parametrize("profile", ["sao", "orchestra"])
def test_state_at_is_the_same_from_either_engines_log(profile):
    """The fold reads only the log, and both engines write the same log: the states agree,
    at the end and halfway (a cut that drops builds still running)."""
    estate = _with_failures(synthetic_estate(n_models=40, days=2, seed=9))
    scenarios = [Scenario("s", profile)]
    plain = simulate(estate, scenarios, engine="plain")
    fast = simulate(estate, scenarios, engine="fast")
    log = plain.decisions_of("s")
    middle = log["run_at"].min() + (log["run_at"].max() - log["run_at"].min()) / 2
    for at in (None, middle):
        want, got = state_at(plain, "s", at), state_at(fast, "s", at)
        assert want == got
        assert len(got) > 0


def test_state_at_refuses_dbt_state():
    cmp = simulate(synthetic_estate(n_models=20, days=1, seed=1), [Scenario("d", "dbt_state")])
    with pytest.raises(ConfigError, match="dbt_state"):
        state_at(cmp, "d")
