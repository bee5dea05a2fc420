"""What sets `dbt_state` and `orchestra` apart from `sao` (SAO-SEMANTICS profile sections)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from saosim.core.planner import Action, NodeState, ProfileOptions, Reason, State, plan
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project

SRC = "source.demo.raw.orders"
STG = "model.demo.stg_orders"
FCT = "model.demo.fct_orders"


def t(h: int, m: int = 0) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h, minutes=m)


def chain() -> Project:
    return Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "fct_orders": ["stg_orders"]}
    )


def decided(run, uid: str) -> tuple[str, str]:
    d = run.decision(uid)
    return d.action.value, d.reason.value


# -- dbt_state ---------------------------------------------------------------------------------
def lagging_state() -> State:
    """fct_orders built 02:00 having seen stg_orders' 00:30 data; stg_orders rebuilt at 02:30."""
    return State(
        {
            STG: NodeState(t(2, 30), None, {SRC: t(2, 20)}, t(2, 30)),
            FCT: NodeState(t(2), None, {STG: t(0, 30)}, t(2)),
        }
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # 03:00 − 02:00 = 1h, not more than the 1h tolerance
        ("build_age", ("reuse", "within_lag_tolerance")),
        # stg_orders' data advanced 2h (00:30 → 02:30) since fct_orders' last build
        ("data_advance", ("build", "new_upstream_data")),
        # stg_orders' data is only 30 min newer than fct_orders' build
        ("data_vs_build", ("reuse", "within_lag_tolerance")),
    ],
)
def test_dbt_state_lag_modes(mode: str, expected: tuple[str, str]) -> None:
    cfg = FreshnessConfig({FCT: NodeFreshness(lag_tolerance_s=3600)})
    run = plan(
        chain(),
        lagging_state(),
        at=t(3),
        source_versions={SRC: t(2, 20)},
        freshness=cfg,
        profile="dbt_state",
        options=ProfileOptions(lag_mode=mode),  # type: ignore[arg-type]
        select="fct_orders",
    )
    assert decided(run, FCT) == expected
    assert f"lag_mode={mode}" in run.decision(FCT).detail


def test_dbt_state_default_tolerance_is_45_minutes() -> None:
    state = State(
        {
            STG: NodeState(t(0), None, {SRC: t(0)}, t(0)),
            FCT: NodeState(t(0), None, {STG: t(0)}, t(0)),
        }
    )
    args = dict(source_versions={SRC: t(0, 10)}, profile="dbt_state", select="stg_orders")
    early = plan(chain(), state, at=t(0, 40), **args)
    assert decided(early, STG) == ("reuse", "within_lag_tolerance")
    assert "lag_tolerance=45m (project default)" in early.decision(STG).detail
    assert early.decision(STG).window_ends_at == t(0, 45)
    late = plan(chain(), state, at=t(0, 50), **args)
    assert decided(late, STG) == ("build", "new_upstream_data")
    custom = plan(
        chain(), state, at=t(0, 50), options=ProfileOptions(default_lag_tolerance_s=3600), **args
    )
    assert decided(custom, STG) == ("reuse", "within_lag_tolerance")


def test_dbt_state_tolerance_falls_back_to_build_after_and_updates_on() -> None:
    project = Project.from_spec({"raw.a": [], "raw.b": [], "m": ["raw.a", "raw.b"]})
    m, a, b = "model.demo.m", "source.demo.raw.a", "source.demo.raw.b"
    state = State({m: NodeState(t(0), None, {a: t(0), b: t(0)}, t(0))})
    cfg = FreshnessConfig({m: NodeFreshness(BuildAfter(2, "hour", "all"))})
    run = plan(
        project,
        state,
        at=t(3),
        source_versions={a: t(1), b: t(0)},
        freshness=cfg,
        profile="dbt_state",
    )
    assert decided(run, m) == ("reuse", "waiting_for_all_upstreams")
    run = plan(
        project,
        state,
        at=t(1, 30),
        source_versions={a: t(1), b: t(1)},
        freshness=cfg,
        profile="dbt_state",
    )
    assert decided(run, m) == ("reuse", "within_lag_tolerance")
    assert "(build_after)" in run.decision(m).detail
    cfg = FreshnessConfig({m: NodeFreshness(require_fresh_data_from="any")})
    run = plan(
        project,
        state,
        at=t(3),
        source_versions={a: t(1), b: t(0)},
        freshness=cfg,
        profile="dbt_state",
    )
    assert decided(run, m) == ("build", "new_upstream_data")


def test_dbt_state_data_tests_use_tolerance_zero() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node(STG, "stg_orders", "model", "table"),
        Node("test.demo.nn", "nn", "test", severity="error"),
    ]
    project = Project(nodes, [(SRC, STG), (STG, "test.demo.nn")], name="demo")
    state = State(
        {STG: NodeState(t(0), None, {SRC: t(0)}, t(0)), "test.demo.nn": NodeState.built(t(0))}
    )
    run = plan(
        project,
        state,
        at=t(1),
        source_versions={SRC: t(0, 10)},
        profile="dbt_state",
        fingerprints={},
    )
    assert decided(run, STG) == ("build", "new_upstream_data")
    assert decided(run, "test.demo.nn") == ("run", "tested_node_built")


# -- orchestra -------------------------------------------------------------------------------
def test_orchestra_inheritance_is_transitive_and_needs_every_child() -> None:
    project = Project.from_spec(
        {
            "raw.a": [],
            "a": ["raw.a"],
            "b": ["a"],
            "c": ["b"],
            "d": ["a"],
            "e": ["raw.a"],
            "f": ["e"],
        }
    )
    ids = {n: f"model.demo.{n}" for n in "abcdef"}
    cfg = FreshnessConfig(
        {
            ids["c"]: NodeFreshness(BuildAfter(2, "hour")),
            ids["d"]: NodeFreshness(BuildAfter(3, "hour")),
        }
    )
    state = State(
        {
            u: NodeState(t(0), None, {p: t(0) for p in project.parents(u)}, t(0))
            for u in ids.values()
        }
    )
    run = plan(
        project,
        state,
        at=t(1),
        source_versions={"source.demo.raw.a": t(0, 30)},
        freshness=cfg,
        profile="orchestra",
    )
    # a's children b (inherits 2h from c) and d (3h) → a inherits 2h from b
    d = run.decision(ids["a"])
    assert (d.action, d.reason) == (Action.REUSE, Reason.WITHIN_BUILD_AFTER)
    assert "inherited from model.demo.b" in d.detail
    assert d.window_ends_at == t(2)
    # e's only child f has no build_after → nothing to inherit
    assert decided(run, ids["e"]) == ("build", "new_upstream_data")
    sao = plan(
        project,
        state,
        at=t(1),
        source_versions={"source.demo.raw.a": t(0, 30)},
        freshness=cfg,
        profile="sao",
    )
    assert decided(sao, ids["a"]) == ("build", "new_upstream_data")


def test_orchestra_parent_built_more_recently_counts_as_new_data() -> None:
    # fct_orders already saw stg_orders' current version, but stg_orders was built after it
    state = State(
        {
            STG: NodeState(t(2), None, {SRC: t(0)}, t(2)),
            FCT: NodeState(t(1), None, {STG: t(2)}, t(1)),
        }
    )
    args = dict(at=t(3), source_versions={SRC: t(0)}, select="fct_orders")
    assert decided(plan(chain(), state, profile="orchestra", **args), FCT) == (
        "build",
        "new_upstream_data",
    )
    assert decided(plan(chain(), state, profile="sao", **args), FCT) == ("reuse", "no_new_data")


@pytest.mark.filterwarnings("ignore::saosim.errors.SaosimWarning")
def test_orchestra_source_without_metadata_is_always_fresh() -> None:
    state = State({STG: NodeState(t(0), None, {SRC: t(0)}, t(0))})
    opts = ProfileOptions(no_metadata_source="never_fresh")
    args = dict(at=t(1), source_versions={}, options=opts, select="stg_orders")
    assert decided(plan(chain(), state, profile="orchestra", **args), STG)[0] == "build"
    assert decided(plan(chain(), state, profile="sao", **args), STG) == ("reuse", "no_new_data")


def test_orchestra_seed_state_orchestration_option() -> None:
    project = Project([Node("seed.demo.codes", "codes", "seed", "seed")], [], name="demo")
    state = State({"seed.demo.codes": NodeState.built(t(0))})
    run = plan(project, state, at=t(1), source_versions={}, profile="orchestra")
    assert decided(run, "seed.demo.codes") == ("build", "always_builds")
    run = plan(
        project,
        state,
        at=t(1),
        source_versions={},
        profile="orchestra",
        options=ProfileOptions(seed_state_orchestration=True),
    )
    assert decided(run, "seed.demo.codes") == ("reuse", "no_new_data")
    sao = plan(project, state, at=t(1), source_versions={}, fingerprints={"seed.demo.codes": "x"})
    assert decided(sao, "seed.demo.codes") == ("build", "code_changed")


def test_orchestra_window_in_whole_minutes() -> None:
    cfg = FreshnessConfig({STG: NodeFreshness(BuildAfter(90, "minute"))})
    state = State({STG: NodeState(t(0), None, {SRC: t(0)}, t(0))})
    args = dict(
        source_versions={SRC: t(0, 10)}, freshness=cfg, profile="orchestra", select="stg_orders"
    )
    inside = plan(chain(), state, at=t(1, 29) + timedelta(seconds=59), **args)
    assert decided(inside, STG) == ("reuse", "within_build_after")
    assert decided(plan(chain(), state, at=t(1, 30), **args), STG)[0] == "build"


def test_orchestra_decides_before_dbt_runs_failures_skip_only_chosen_builds() -> None:
    project = Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "a": ["stg_orders"], "b": ["stg_orders"]}
    )
    a, b = "model.demo.a", "model.demo.b"
    state = State(
        {u: NodeState(t(0), None, {p: t(0) for p in project.parents(u)}, t(0)) for u in (STG, a, b)}
    )
    cfg = FreshnessConfig({a: NodeFreshness(BuildAfter(6, "hour"))})
    args = dict(at=t(1), source_versions={SRC: t(0, 30)}, freshness=cfg, failing=frozenset({STG}))
    orch = plan(project, state, profile="orchestra", **args)
    assert decided(orch, a) == ("reuse", "within_build_after")
    assert decided(orch, b) == ("skip", "upstream_failed")
    sao = plan(project, state, profile="sao", **args)
    assert decided(sao, a) == ("skip", "upstream_failed")


def test_orchestra_unselected_parent_that_would_build_is_new_data() -> None:
    state = State(
        {
            STG: NodeState(t(0), None, {SRC: t(0)}, t(0)),
            FCT: NodeState(t(1), None, {STG: t(0)}, t(1)),
        }
    )
    args = dict(
        at=t(2), source_versions={SRC: t(0)}, fingerprints={STG: "edited"}, select="fct_orders"
    )
    assert decided(plan(chain(), state, profile="orchestra", **args), FCT)[0] == "build"
    assert decided(plan(chain(), state, profile="sao", **args), FCT) == ("reuse", "no_new_data")


def test_orchestra_ephemeral_parent_is_always_new_and_package_roots_always_build() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node("model.demo.eph", "eph", "model", "ephemeral"),
        Node(FCT, "fct_orders", "model", "table"),
        Node("model.dates.dates", "dates", "model", "table", package="dates"),
    ]
    project = Project(nodes, [(SRC, "model.demo.eph"), ("model.demo.eph", FCT)], name="demo")
    state = State(
        {
            FCT: NodeState(t(0), None, {SRC: t(0)}, t(0)),
            "model.dates.dates": NodeState.built(t(0)),
        }
    )
    orch = plan(project, state, at=t(1), source_versions={SRC: t(0)}, profile="orchestra")
    assert decided(orch, FCT) == ("build", "new_upstream_data")
    assert decided(orch, "model.dates.dates") == ("build", "always_builds")
    sao = plan(project, state, at=t(1), source_versions={SRC: t(0)}, profile="sao")
    assert sao.built == ()


def test_orchestra_ignores_test_failures_and_can_skip_the_table_check() -> None:
    state = State(
        {STG: NodeState(t(0), None, {SRC: t(0)}, t(0), table_exists=False, tests_failed=True)}
    )
    args = dict(at=t(1), source_versions={SRC: t(0)}, select="stg_orders", profile="orchestra")
    assert decided(plan(chain(), state, **args), STG) == ("build", "table_missing")
    off = ProfileOptions(verify_relations_exist=False)
    assert decided(plan(chain(), state, options=off, **args), STG) == ("reuse", "no_new_data")


@pytest.mark.filterwarnings("ignore::saosim.errors.SaosimWarning")
@pytest.mark.parametrize("mode", ["build_age", "data_advance", "data_vs_build"])
def test_dbt_state_source_without_metadata_counts_as_landing_now(mode: str) -> None:
    state = State({STG: NodeState(t(0), None, {}, t(0))})
    run = plan(
        chain(),
        state,
        at=t(2),
        source_versions={},
        profile="dbt_state",
        options=ProfileOptions(lag_mode=mode),
        select="stg_orders",
    )  # type: ignore[arg-type]
    assert decided(run, STG) == ("build", "new_upstream_data")
