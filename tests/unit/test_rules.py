"""The rules as plain functions of a facts record, and the compiled decide that runs them.

``saosim.core.rules`` is the only decision code: each rule reads a ``Facts`` record, a profile
is a tuple of rules, and the compiled ``decide`` (which the planner and the fast replay call)
must pick what trying the tuple in order picks.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.core import codes, rules
from saosim.core.codes import NO_MATCH, NONE
from saosim.core.decision import Action, Reason, Tolerance
from saosim.core.facts import Facts, Options
from saosim.core.planner import State, plan
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Project

HOUR = 3_600_000_000
PROFILES = dict(enumerate(codes.PROFILES))


def facts(**kw: object) -> Facts:
    base = dict(
        flags=codes.F_DECIDED,
        at=10 * HOUR,
        built_at=8 * HOUR,
        has_state=True,
        table_exists=True,
        tests_failed=False,
        code_changed=False,
        full_refresh=False,
        in_flight=False,
        n_failed=0,
        n_built_parents=0,
        n_fresh=1,
        has_stale=False,
        n_upstream_code=0,
        window_s=0.0,
        tol_s=2700.0,
        latest_now=NONE,
        latest_seen=NONE,
    )
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def options(profile: int = codes.P_SAO, **kw: object) -> Options:
    base = dict(
        profile=profile,
        lag_mode=codes.LAG_BUILD_AGE,
        code_change_overrides_window=False,
        meta_fresh=True,
        seed_state_orchestration=False,
        verify_relations_exist=True,
    )
    base.update(kw)
    return Options(**base)  # type: ignore[arg-type]


def first_match_in_python(f: Facts, o: Options) -> tuple[int, int]:
    name = PROFILES[o.profile]
    table = rules.PROFILE_TEST_RULES if f.flags & codes.F_TEST else rules.PROFILE_RULES
    for rule in table[name]:
        act, rsn = rule(f, o)
        if act != NO_MATCH:
            return act, rsn
    raise AssertionError("no rule matched")


def test_within_build_after_is_a_function_of_the_facts() -> None:
    inside = facts(window_s=6 * 3600.0)
    assert rules.within_build_after(inside, options()) == (codes.REUSE, codes.R_WITHIN_BUILD_AFTER)
    passed = facts(window_s=3600.0)
    assert rules.within_build_after(passed, options()) == (NO_MATCH, 0)


def test_lag_modes_read_the_data_versions() -> None:
    # built 08:00, a parent's data at 09:30 now, 08:00 at the build; tolerance 1 h
    f = facts(tol_s=3600.0, latest_now=int(9.5 * HOUR), latest_seen=8 * HOUR)
    o = options(codes.P_DBT_STATE, lag_mode=codes.LAG_DATA_ADVANCE)
    assert rules.within_lag_tolerance(f, o)[1] == codes.R_NEW_UPSTREAM_DATA
    o = options(codes.P_DBT_STATE, lag_mode=codes.LAG_DATA_VS_BUILD)
    assert rules.within_lag_tolerance(f._replace(tol_s=2 * 3600.0), o)[1] == (
        codes.R_WITHIN_LAG_TOLERANCE
    )


_FLAGS = st.sampled_from(
    [
        codes.F_DECIDED,
        codes.F_DECIDED | codes.F_VIEW,
        codes.F_DECIDED | codes.F_EPHEMERAL,
        codes.F_DECIDED | codes.F_PYTHON,
        codes.F_DECIDED | codes.F_SEED,
        codes.F_DECIDED | codes.F_SNAPSHOT,
        codes.F_DECIDED | codes.F_UPDATES_ALL,
        codes.F_DECIDED | codes.F_CUSTOM,
        codes.F_DECIDED | codes.F_FOREIGN_ROOT,
        codes.F_DECIDED | codes.F_TEST,
    ]
)
_TIME = st.one_of(st.just(NONE), st.integers(0, 20 * HOUR))


@settings(max_examples=400, deadline=None)
@given(
    flags=_FLAGS,
    has_state=st.booleans(),
    table_exists=st.booleans(),
    tests_failed=st.booleans(),
    code_changed=st.booleans(),
    full_refresh=st.booleans(),
    in_flight=st.booleans(),
    n_failed=st.integers(0, 2),
    n_built_parents=st.integers(0, 2),
    n_fresh=st.integers(0, 2),
    has_stale=st.booleans(),
    n_upstream_code=st.integers(0, 1),
    window_s=st.sampled_from([0.0, 59.0, 3600.0, 21600.0, 86400.0]),
    tol_s=st.sampled_from([0.0, 2700.0, 3600.0]),
    latest_now=_TIME,
    latest_seen=_TIME,
    profile=st.integers(0, 3),
    lag_mode=st.integers(0, 2),
    ccow=st.booleans(),
    sso=st.booleans(),
    verify=st.booleans(),
)
def test_compiled_decide_tries_the_profile_tuple_in_order(
    flags, has_state, profile, lag_mode, ccow, sso, verify, **kw
) -> None:
    f = facts(flags=flags, has_state=has_state, **kw)
    o = options(
        profile,
        lag_mode=lag_mode,
        code_change_overrides_window=ccow,
        seed_state_orchestration=sso,
        verify_relations_exist=verify,
    )
    assert rules.decide(f, o) == first_match_in_python(f, o)


def test_profiles_are_tuples_a_reader_can_diff() -> None:
    sao = [r.__name__ for r in rules.PROFILE_RULES["sao"]]
    dbt_state = [r.__name__ for r in rules.PROFILE_RULES["dbt_state"]]
    assert sao.index("never_built") < sao.index("within_build_after")
    assert "within_lag_tolerance" in dbt_state and "within_build_after" not in dbt_state


def _t(h: int, m: int = 0) -> datetime:
    return datetime(2025, 1, 1, h, m, tzinfo=UTC)


@pytest.fixture
def project() -> Project:
    return Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "fct_orders": ["stg_orders"]}
    )


def test_decisions_carry_typed_evidence(project: Project) -> None:
    orders = "source.demo.raw.orders"
    state = plan(project, State.empty(), at=_t(1), source_versions={orders: _t(0, 50)})
    state = state.apply(finished_at=_t(1))
    cfg = FreshnessConfig({"model.demo.fct_orders": NodeFreshness(BuildAfter(6, "hour"))})
    run = plan(project, state, at=_t(3), source_versions={orders: _t(2, 10)}, freshness=cfg)
    fct = run.decision("fct_orders")
    assert (fct.action, fct.reason) == (Action.REUSE, Reason.WITHIN_BUILD_AFTER)
    assert fct.window_s == 6 * 3600 and fct.built_at == _t(1)
    assert fct.window_ends_at == _t(7) and fct.fresh_parents == ("model.demo.stg_orders",)
    stg = run.decision("stg_orders")
    assert stg.reason is Reason.NEW_UPSTREAM_DATA and stg.fresh_parents == (orders,)


def test_failed_parents_and_tolerance_are_fields(project: Project) -> None:
    orders = "source.demo.raw.orders"
    first = plan(project, State.empty(), at=_t(1), source_versions={orders: _t(0)})
    state = first.apply(finished_at=_t(1))
    failing = plan(
        project,
        state,
        at=_t(2),
        source_versions={orders: _t(1, 30)},
        failing=frozenset({"model.demo.stg_orders"}),
    )
    skipped = failing.decision("fct_orders")
    assert skipped.reason is Reason.UPSTREAM_FAILED
    assert skipped.failed_parents == ("model.demo.stg_orders",)
    tolerant = plan(
        project, state, at=_t(1, 30), source_versions={orders: _t(1, 10)}, profile="dbt_state"
    )
    d = tolerant.decision("stg_orders")
    assert d.reason is Reason.WITHIN_LAG_TOLERANCE
    assert d.tolerance == Tolerance(2700.0, "project default", "build_age")
