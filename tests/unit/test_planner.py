"""The planner's rules for `sao` and `baseline`, one behaviour per test (SAO-SEMANTICS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from saosim.core.planner import (
    Action,
    NodeState,
    Plan,
    Profile,
    ProfileOptions,
    Reason,
    State,
    plan,
)
from saosim.errors import ConfigError, SaosimWarning
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project

SRC = "source.demo.raw.orders"
STG = "model.demo.stg_orders"
FCT = "model.demo.fct_orders"


def t(h: int, m: int = 0) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h, minutes=m)


@pytest.fixture
def chain() -> Project:
    return Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "fct_orders": ["stg_orders"]}
    )


def window(uid: str, count: int, period: str = "hour", updates_on: str = "any") -> FreshnessConfig:
    return FreshnessConfig({uid: NodeFreshness(BuildAfter(count, period, updates_on))})


def built_state(project: Project, at: datetime, arrival: datetime) -> State:
    first = plan(project, State.empty(), at=at, source_versions={SRC: arrival})
    return first.apply(finished_at=at)


def reasons(p: Plan) -> dict[str, tuple[str, str]]:
    return {d.node_id: (d.action.value, d.reason.value) for d in p.decisions}


def test_first_run_builds_everything_never_built(chain: Project) -> None:
    p = plan(chain, State.empty(), at=t(1), source_versions={SRC: t(0, 10)})
    assert reasons(p) == {STG: ("build", "never_built"), FCT: ("build", "never_built")}


def test_worked_example_1_new_data_then_nothing(chain: Project) -> None:
    state = built_state(chain, t(0), t(0))
    run1 = plan(chain, state, at=t(1), source_versions={SRC: t(0, 10)})
    assert reasons(run1) == {
        STG: ("build", "new_upstream_data"),
        FCT: ("build", "new_upstream_data"),
    }
    assert run1.decision("fct_orders").fresh_parents == (STG,)
    state = run1.apply(finished_at=t(1))
    run2 = plan(chain, state, at=t(2), source_versions={SRC: t(0, 10)})
    assert reasons(run2) == {STG: ("reuse", "no_new_data"), FCT: ("reuse", "no_new_data")}


def test_worked_example_2_build_after_holds_back_then_builds(chain: Project) -> None:
    cfg = window(FCT, 6)
    state = built_state(chain, t(1), t(0, 30))
    for hour in range(2, 7):
        run = plan(chain, state, at=t(hour), source_versions={SRC: t(hour - 1, 30)}, freshness=cfg)
        assert reasons(run)[STG] == ("build", "new_upstream_data")
        d = run.decision(FCT)
        assert (d.action, d.reason) == (Action.REUSE, Reason.WITHIN_BUILD_AFTER)
        assert d.window_ends_at == t(7)
        state = run.apply(finished_at=t(hour))
    run = plan(chain, state, at=t(7), source_versions={SRC: t(6, 30)}, freshness=cfg)
    assert reasons(run)[FCT] == ("build", "new_upstream_data")


def test_reuse_leaves_state_untouched(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(2), source_versions={SRC: t(1, 30)}, freshness=window(FCT, 6))
    after = run.apply(finished_at=t(2))
    assert after.get(FCT) == state.get(FCT)
    assert after.get(STG).built_at == t(2)
    assert after.get(STG).seen_versions == {SRC: t(1, 30)}


def test_worked_example_3_updates_on_all_waits() -> None:
    project = Project.from_spec(
        {
            "raw.orders": [],
            "raw.customers": [],
            "stg_orders": ["raw.orders"],
            "stg_customers": ["raw.customers"],
            "fct_customer_orders": ["stg_orders", "stg_customers"],
        }
    )
    fco = "model.demo.fct_customer_orders"
    cfg = window(fco, 1, "minute", "all")
    cust = "source.demo.raw.customers"
    versions = {SRC: t(0), cust: t(0)}
    state = plan(project, State.empty(), at=t(0), source_versions=versions).apply(finished_at=t(0))
    versions[SRC] = t(0, 30)
    run = plan(project, state, at=t(1), source_versions=versions, freshness=cfg)
    d = run.decision(fco)
    assert (d.action, d.reason) == (Action.REUSE, Reason.WAITING_FOR_ALL_UPSTREAMS)
    assert d.fresh_parents == ("model.demo.stg_orders",)
    state = run.apply(finished_at=t(1))
    versions[cust] = t(1, 30)
    run = plan(project, state, at=t(2), source_versions=versions, freshness=cfg)
    assert reasons(run)[fco] == ("build", "new_upstream_data")


def test_worked_example_4_code_change(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    same = plan(chain, state, at=t(2), source_versions={SRC: t(0)}, fingerprints={})
    assert same.built == ()
    run = plan(chain, state, at=t(2), source_versions={SRC: t(0)}, fingerprints={STG: "v2"})
    assert reasons(run) == {STG: ("build", "code_changed"), FCT: ("build", "new_upstream_data")}
    after = run.apply(finished_at=t(2))
    assert after.get(STG).fingerprint == "v2"


def test_worked_example_5_failure_skips_children_and_retries(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(3), source_versions={SRC: t(2, 10)}, failing=frozenset({STG}))
    assert reasons(run) == {STG: ("build", "new_upstream_data"), FCT: ("skip", "upstream_failed")}
    after = run.apply(finished_at=t(3))
    assert after == state
    retry = plan(chain, after, at=t(4), source_versions={SRC: t(2, 10)})
    assert reasons(retry) == {
        STG: ("build", "new_upstream_data"),
        FCT: ("build", "new_upstream_data"),
    }


def test_outcome_overrides_default_success(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(2), source_versions={SRC: t(1, 30)})
    after = run.apply({STG: "error", FCT: "skipped"}, finished_at=t(2))
    assert after == state


def test_worked_example_6_code_change_held_by_window(chain: Project) -> None:
    cfg = window(FCT, 6)
    state = built_state(chain, t(1), t(0))
    fps = {FCT: "edited"}
    for hour in range(3, 7):
        run = plan(
            chain, state, at=t(hour), source_versions={SRC: t(0)}, freshness=cfg, fingerprints=fps
        )
        d = run.decision(FCT)
        assert (d.action, d.reason) == (Action.REUSE, Reason.WITHIN_BUILD_AFTER)
        assert "code_change_overrides_window=False" in d.detail
    run = plan(chain, state, at=t(7), source_versions={SRC: t(0)}, freshness=cfg, fingerprints=fps)
    assert reasons(run)[FCT] == ("build", "code_changed")
    opts = ProfileOptions(code_change_overrides_window=True)
    run = plan(
        chain,
        state,
        at=t(3),
        source_versions={SRC: t(0)},
        freshness=cfg,
        fingerprints=fps,
        options=opts,
    )
    d = run.decision(FCT)
    assert (d.action, d.reason, d.detail) == (
        Action.BUILD,
        Reason.CODE_CHANGED,
        "code_change_overrides_window=True",
    )


def test_baseline_builds_everything_and_skips_after_failure(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(2), source_versions={SRC: t(0)}, profile="baseline")
    assert reasons(run) == {STG: ("build", "stateless"), FCT: ("build", "stateless")}
    run = plan(
        chain,
        state,
        at=t(2),
        source_versions={SRC: t(0)},
        profile=Profile.BASELINE,
        failing=frozenset({STG}),
    )
    assert reasons(run)[FCT] == ("skip", "upstream_failed")


def test_full_refresh_builds_all_selected(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(
        chain, state, at=t(2), source_versions={SRC: t(0)}, full_refresh=True, select="fct_orders"
    )
    assert reasons(run) == {FCT: ("build", "full_refresh")}


def test_table_missing_and_previous_test_failed(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    dropped = state.with_table_dropped(STG)
    run = plan(chain, dropped, at=t(2), source_versions={SRC: t(0)})
    assert reasons(run)[STG] == ("build", "table_missing")
    flagged = state.with_nodes({FCT: NodeState(t(1), None, {STG: t(1)}, t(1), tests_failed=True)})
    run = plan(chain, flagged, at=t(2), source_versions={SRC: t(0)})
    assert reasons(run) == {STG: ("reuse", "no_new_data"), FCT: ("build", "previous_test_failed")}


def test_no_metadata_source_option(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    with pytest.warns(SaosimWarning, match=r"1 source\(s\) have no arrival data.*never_fresh"):
        run = plan(chain, state, at=t(2), source_versions={})
    d = run.decision(STG)
    assert (d.action, d.reason) == (Action.BUILD, Reason.NEW_UPSTREAM_DATA)
    assert "no_metadata_source=always_fresh" in d.detail
    opts = ProfileOptions(no_metadata_source="never_fresh")
    run = plan(chain, state, at=t(2), source_versions={}, options=opts)
    assert run.built == ()


def test_ephemeral_is_no_op_and_is_looked_through() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node("model.demo.eph", "eph", "model", materialization="ephemeral"),
        Node(FCT, "fct_orders", "model", materialization="table"),
    ]
    project = Project(nodes, [(SRC, "model.demo.eph"), ("model.demo.eph", FCT)], name="demo")
    state = plan(project, State.empty(), at=t(0), source_versions={SRC: t(0)}).apply(
        finished_at=t(0)
    )
    assert state.get(FCT).seen_versions == {SRC: t(0)}
    run = plan(project, state, at=t(1), source_versions={SRC: t(0, 30)})
    assert reasons(run) == {
        "model.demo.eph": ("no_op", "ephemeral"),
        FCT: ("build", "new_upstream_data"),
    }
    assert run.decision(FCT).fresh_parents == (SRC,)


def test_python_model_always_builds_under_sao() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node("model.demo.py", "py", "model", "table", language="python"),
    ]
    project = Project(nodes, [(SRC, "model.demo.py")], name="demo")
    state = plan(project, State.empty(), at=t(0), source_versions={SRC: t(0)}).apply(
        finished_at=t(0)
    )
    run = plan(project, state, at=t(1), source_versions={SRC: t(0)})
    assert reasons(run) == {"model.demo.py": ("build", "python_model")}


def test_in_flight_elsewhere_reuses_only_under_sao(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    args = dict(at=t(2), source_versions={SRC: t(1, 30)}, in_flight=frozenset({STG}))
    run = plan(chain, state, **args)
    assert reasons(run) == {STG: ("reuse", "in_flight_elsewhere"), FCT: ("reuse", "no_new_data")}
    run = plan(chain, state, profile="dbt_state", **args)
    assert reasons(run)[STG] == ("build", "new_upstream_data")


def test_selection_limits_decisions(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(2), source_versions={SRC: t(1, 30)}, select="stg_orders")
    assert [d.node_id for d in run.decisions] == [STG]
    run = plan(chain, state, at=t(2), source_versions={SRC: t(1, 30)}, exclude="stg_orders")
    # the unselected parent keeps its old data version, so its child has nothing new
    assert reasons(run) == {FCT: ("reuse", "no_new_data")}


def test_bad_inputs_raise_config_errors(chain: Project) -> None:
    with pytest.raises(ConfigError, match="not a profile"):
        plan(chain, State.empty(), at=t(0), source_versions={}, profile="fusion")
    with pytest.raises(ConfigError, match="no time zone"):
        plan(chain, State.empty(), at=datetime(2025, 1, 1), source_versions={})
    with pytest.raises(ConfigError, match="lag_mode"):
        ProfileOptions(lag_mode="fast")  # type: ignore[arg-type]


def test_plan_views_and_frame(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    run = plan(chain, state, at=t(2), source_versions={SRC: t(1, 30)}, freshness=window(FCT, 6))
    assert run.built == (STG,)
    assert run.reused == (FCT,)
    assert run.by_reason() == {Reason.NEW_UPSTREAM_DATA: (STG,), Reason.WITHIN_BUILD_AFTER: (FCT,)}
    assert run.counts() == {"build": 1, "reuse": 1}
    frame = run.to_frame()
    assert frame.columns[:6] == ["run_at", "unique_id", "name", "action", "reason", "detail"]
    assert frame["reason"].to_list() == ["new_upstream_data", "within_build_after"]
    assert run.explain("fct_orders").startswith("reused: built 1h ago, build_after 6h")
    assert "stg_orders was built in this run" in run.explain("fct_orders")


def test_explain_sentences_name_the_evidence(chain: Project) -> None:
    state = built_state(chain, t(1), t(0))
    held = plan(chain, state, at=t(3), source_versions={SRC: t(2, 10)}, freshness=window(FCT, 6))
    assert held.explain("fct_orders") == (
        "reused: built 2h ago, build_after 6h not yet passed (until 07:00); "
        "stg_orders was built in this run"
    )
    assert held.explain("stg_orders") == (
        "built: new upstream data (built 2h ago); new data landed in raw.orders at 02:10"
    )
    failed = plan(chain, state, at=t(3), source_versions={SRC: t(2, 10)}, failing=frozenset({STG}))
    assert failed.explain(FCT) == (
        "skipped: an upstream node failed or was skipped in this run (model.demo.stg_orders)"
    )
    quiet = plan(chain, state, at=t(3), source_versions={SRC: t(0)})
    assert (
        quiet.explain("stg_orders") == "reused: nothing changed since its last build 2h ago (01:00)"
    )
    lag = plan(chain, state, at=t(1, 30), source_versions={SRC: t(1, 10)}, profile="dbt_state")
    assert lag.explain("stg_orders").startswith(
        "reused: built 30m ago, within lag tolerance (until 01:45) "
        "[lag_mode=build_age, lag_tolerance=45m (project default)]"
    )
    assert lag.explain("stg_orders").endswith("new data landed in raw.orders at 01:10 since")
    with pytest.raises(KeyError):
        held.explain("raw.orders")


def test_tests_come_with_the_nodes_they_test() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node(STG, "stg_orders", "model", "table"),
        Node(FCT, "fct_orders", "model", "table"),
        Node("test.demo.nn_stg", "nn_stg", "test", severity="error"),
        Node("test.demo.rel", "rel", "test", severity="error"),
    ]
    edges = [
        (SRC, STG),
        (STG, FCT),
        (STG, "test.demo.nn_stg"),
        (STG, "test.demo.rel"),
        (FCT, "test.demo.rel"),
    ]
    project = Project(nodes, edges, name="demo")
    run = plan(project, State.empty(), at=t(0), source_versions={SRC: t(0)}, select="stg_orders")
    assert [d.node_id for d in run.decisions] == [STG, "test.demo.nn_stg", "test.demo.rel"]
    assert run.ran == ("test.demo.nn_stg", "test.demo.rel")
    run = plan(
        project,
        State.empty(),
        at=t(0),
        source_versions={SRC: t(0)},
        select="stg_orders",
        exclude="rel",
    )
    assert [d.node_id for d in run.decisions] == [STG, "test.demo.nn_stg"]
    # an already-resolved selection is taken as it is
    run = plan(
        project, State.empty(), at=t(0), source_versions={SRC: t(0)}, select=frozenset({FCT})
    )
    assert [d.node_id for d in run.decisions] == [FCT]


def test_a_plans_decisions_are_frozen_decisions_equal_to_built_ones(chain: Project) -> None:
    from dataclasses import FrozenInstanceError, replace

    from saosim.core.decision import Decision

    p = plan(chain, State.empty(), at=t(1), source_versions={SRC: t(0, 10)})
    d = p.decisions[0]
    assert type(d) is Decision
    assert d == Decision(STG, Action.BUILD, Reason.NEVER_BUILT) and hash(d) == hash(
        Decision(STG, Action.BUILD, Reason.NEVER_BUILT)
    )
    with pytest.raises(FrozenInstanceError):
        d.node_id = FCT  # type: ignore[misc]
    assert replace(d, node_id=FCT).node_id == FCT


@pytest.mark.parametrize("profile", ["sao", "dbt_state", "orchestra"])
def test_seen_versions_in_another_order_or_with_gaps_plan_alike(profile: str) -> None:
    # the state's seen versions are read in one pass when each node lists every parent in
    # edge order; a map in another order, with an extra or a missing parent, is read per node
    p = Project.from_spec({"raw.a": [], "raw.b": [], "m": ["raw.a", "raw.b"], "n": ["m"]})
    a, b, m = "source.demo.raw.a", "source.demo.raw.b", "model.demo.m"
    arrivals = {a: t(0), b: t(0)}
    state = plan(p, State.empty(), at=t(1), source_versions=arrivals).apply(finished_at=t(1))
    ns = state.nodes[m]

    def planned(seen: dict[str, datetime]) -> tuple:
        other = state.with_nodes({m: NodeState(ns.built_at, ns.fingerprint, seen, ns.data_version)})
        run = plan(p, other, at=t(3), source_versions=arrivals, profile=profile)
        return run.decisions

    as_applied = plan(p, state, at=t(3), source_versions=arrivals, profile=profile).decisions
    assert planned({b: ns.seen_versions[b], a: ns.seen_versions[a]}) == as_applied
    assert planned({**ns.seen_versions, "source.demo.raw.gone": t(0)}) == as_applied
    # a parent missing from the map was never seen: its data is new to m
    unseen = {d.node_id: d for d in planned({a: ns.seen_versions[a]})}
    assert unseen[m].action is Action.BUILD and b in unseen[m].fresh_parents
