"""saosim's ``orchestra`` profile against the real dbt-orchestra 1.5 planner.

The first tests pin what dbt-orchestra itself decides on small hand-made cases (so the harness
is known to feed it what it reads). The property tests then compare saosim's decisions with
dbt-orchestra's on generated single runs (2,000), on generated timelines where each side keeps
its own state (500), and on real DAG shapes from ``../shared/real-artifacts``; one more test
checks that the generator reaches every kind of decision dbt-orchestra makes. How each side is
fed: ``tests/orchestra_harness.py``; differences found: README, "Where saosim's `sao` profile
differs from dbt-orchestra".
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.orchestra_harness import (
    T0,
    Case,
    CaseNode,
    CaseState,
    checksum,
    run_orchestra,
    saosim_inputs,
)
from tests.orchestra_strategies import big_cases, cases, dag_from_manifest, with_build_after
from tests.orchestra_timeline import Timeline, replay, timelines

# Sources without freshness information are part of the generated cases on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::saosim.errors.SaosimWarning")

SRC = CaseNode("raw.orders", "source")
H = timedelta(hours=1)


def _chain(*, stg_after=None, fct_after=None, stg_mat="table") -> tuple[CaseNode, ...]:
    return (
        SRC,
        CaseNode("stg", "model", ("raw.orders",), stg_mat, build_after=stg_after),
        CaseNode("fct", "model", ("stg",), "table", build_after=fct_after),
    )


def _built(case: Case) -> set[str]:
    return {u.split(".")[-1] for u in run_orchestra(case).built}


# -- dbt-orchestra's own decisions, as read in its source ---------------------------------------


def test_orchestra_reuses_when_nothing_changed() -> None:
    case = Case(
        _chain(),
        {"stg": CaseState(T0, seen_sources={"raw.orders": T0}), "fct": CaseState(T0 + H)},
        {"raw.orders": T0},
        T0 + 5 * H,
    )
    assert _built(case) == set()


def test_orchestra_builds_on_new_source_data_and_downstream() -> None:
    case = Case(
        _chain(),
        {"stg": CaseState(T0, seen_sources={"raw.orders": T0}), "fct": CaseState(T0 + H)},
        {"raw.orders": T0 + 2 * H},
        T0 + 5 * H,
    )
    assert _built(case) == {"stg", "fct"}


def test_orchestra_window_holds_new_data_but_not_a_code_change() -> None:
    # stg inherits fct's 6 h window (its only child), so stg's own build is older than that.
    state = {
        "stg": CaseState(T0 - 2 * H, seen_sources={"raw.orders": T0 - 2 * H}),
        "fct": CaseState(T0 + 4 * H),
    }
    held = Case(_chain(fct_after=(6, "hour", None)), state, {"raw.orders": T0 + H}, T0 + 5 * H)
    assert _built(held) == {"stg"}
    edited = {**state, "fct": CaseState(T0 + 4 * H, code_changed=True)}
    assert _built(Case(held.nodes, edited, held.source_versions, held.at)) == {"stg", "fct"}


def test_orchestra_comment_only_edit_is_a_code_change() -> None:
    # The harness's edits only append a SQL comment; dbt-orchestra hashes the raw code.
    state = {"stg": CaseState(T0, seen_sources={"raw.orders": T0}, code_changed=True)}
    nodes = _chain()[:2]
    result = run_orchestra(Case(nodes, state, {"raw.orders": T0}, T0 + H))
    assert result.reasons["model.conf.stg"] == "Checksum changed since last run."
    assert checksum(nodes[1], -1) != checksum(nodes[1], 0)


def test_orchestra_window_ends_exactly_at_w() -> None:
    nodes = _chain(fct_after=(2, "hour", None))
    sv = {"raw.orders": T0 + 2 * H}

    def fct_built(age: timedelta) -> bool:
        at = T0 + 3 * H
        state = {"stg": CaseState(T0, seen_sources={"raw.orders": T0}), "fct": CaseState(at - age)}
        return "fct" in _built(Case(nodes, state, sv, at))

    assert not fct_built(2 * H - timedelta(seconds=1))
    assert fct_built(2 * H)


def test_orchestra_parent_inherits_smallest_child_window_only_if_every_child_has_one() -> None:
    nodes = (
        SRC,
        CaseNode("stg", "model", ("raw.orders",), "table"),
        CaseNode("a", "model", ("stg",), "table", build_after=(6, "hour", None)),
        CaseNode("b", "model", ("stg",), "table", build_after=(2, "hour", None)),
    )
    state = {
        "stg": CaseState(T0 + 4 * H, seen_sources={"raw.orders": T0}),
        "a": CaseState(T0 + 4 * H),
        "b": CaseState(T0 + 4 * H),
    }
    case = Case(nodes, state, {"raw.orders": T0 + 5 * H}, T0 + 5 * H)
    result = run_orchestra(case)
    assert "inherited from model.conf.b" in result.reasons["model.conf.stg"]
    assert result.built == frozenset()
    no_window = (*nodes[:3], CaseNode("b", "model", ("stg",), "table"))
    assert _built(Case(no_window, state, case.source_versions, case.at)) == {"stg", "b"}


def test_orchestra_reused_parent_built_after_child_counts_as_new_data() -> None:
    case = Case(
        _chain(),
        {
            "stg": CaseState(T0 + 2 * H, seen_sources={"raw.orders": T0}),
            "fct": CaseState(T0 + H),
        },
        {"raw.orders": T0},
        T0 + 5 * H,
    )
    assert _built(case) == {"fct"}


def test_orchestra_snapshots_and_seeds_always_build() -> None:
    nodes = (
        SRC,
        CaseNode("snap", "snapshot", ("raw.orders",)),
        CaseNode("seed0", "seed"),
        CaseNode("m", "model", ("seed0",), "table"),
    )
    state = {n: CaseState(T0, seen_sources={"raw.orders": T0}) for n in ("snap", "seed0", "m")}
    assert _built(Case(nodes, state, {"raw.orders": T0}, T0 + H)) == {"snap", "seed0", "m"}


def test_orchestra_source_without_freshness_info_is_always_new() -> None:
    state = {"stg": CaseState(T0, seen_sources={"raw.orders": T0}), "fct": CaseState(T0 + H)}
    assert _built(Case(_chain(), state, {}, T0 + 5 * H)) == {"stg", "fct"}


def test_orchestra_child_of_an_ephemeral_model_always_builds() -> None:
    # dbt writes no run result for an ephemeral model, so it is never in dbt-orchestra's state.
    state = {"stg": CaseState(T0), "fct": CaseState(T0 + H)}
    case = Case(_chain(stg_mat="ephemeral"), state, {"raw.orders": T0}, T0 + 5 * H)
    assert _built(case) == {"fct"}


def test_orchestra_updates_on_all_waits_for_every_parent() -> None:
    nodes = (
        SRC,
        CaseNode("raw.customers", "source"),
        CaseNode("m", "model", ("raw.orders", "raw.customers"), build_after=(1, "hour", "all")),
    )
    seen = {"raw.orders": T0, "raw.customers": T0}
    state = {"m": CaseState(T0, seen_sources=seen)}
    only_orders = {"raw.orders": T0 + H, "raw.customers": T0}
    assert _built(Case(nodes, state, only_orders, T0 + 5 * H)) == set()
    both = {"raw.orders": T0 + H, "raw.customers": T0 + H}
    assert _built(Case(nodes, state, both, T0 + 5 * H)) == {"m"}


def test_orchestra_missing_table_builds_only_with_verify_relations_exist() -> None:
    state = {
        "stg": CaseState(T0, seen_sources={"raw.orders": T0}, table_exists=False),
        "fct": CaseState(T0 + H),
    }
    case = Case(_chain(), state, {"raw.orders": T0}, T0 + 5 * H)
    assert _built(case) == {"stg", "fct"}
    assert run_orchestra(case, verify_relations_exist=False).built == frozenset()


def test_orchestra_full_refresh_runs_everything_it_selects() -> None:
    state = {"stg": CaseState(T0, seen_sources={"raw.orders": T0}), "fct": CaseState(T0 + H)}
    case = Case(_chain(), state, {"raw.orders": T0}, T0 + 5 * H, full_refresh=True)
    assert _built(case) == {"stg", "fct"}
    assert _built(replace(case, select=frozenset({"fct"}))) == {"fct"}


def test_orchestra_ignores_failed_tests_and_python() -> None:
    nodes = (SRC, CaseNode("py", "model", ("raw.orders",), "table", "python"))
    state = {"py": CaseState(T0, seen_sources={"raw.orders": T0}, tests_failed=True)}
    assert _built(Case(nodes, state, {"raw.orders": T0}, T0 + H)) == set()


# -- conformance --------------------------------------------------------------------------------


def _saosim_sets(case: Case) -> tuple[frozenset[str], frozenset[str], dict[str, str]]:
    from saosim.core.planner import ProfileOptions, plan

    project, state, source_versions = saosim_inputs(case)
    p = plan(
        project,
        state,
        at=case.at,
        source_versions=source_versions,
        profile="orchestra",
        options=ProfileOptions(
            seed_state_orchestration=case.seed_state_orchestration,
            verify_relations_exist=case.verify_relations_exist,
        ),
        # resolved unique ids, as the simulator passes a job's selection
        select=case.ids(case.select),
        full_refresh=case.full_refresh,
    )
    compared = case.compared
    return (
        frozenset(u for u in p.built if u in compared),
        frozenset(u for u in p.reused if u in compared),
        {d.node_id: f"{d.action.value} ({d.reason.value})" for d in p.decisions},
    )


@pytest.mark.slow
@settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_saosim_orchestra_profile_matches_dbt_orchestra(case: Case) -> None:
    pytest.importorskip("saosim.core.planner")
    orchestra = run_orchestra(case)
    built, reused, saosim = _saosim_sets(case)
    wrong = sorted((built ^ orchestra.built) | (reused ^ orchestra.reused))
    detail = "; ".join(
        f"{u}: saosim {saosim.get(u)}, dbt-orchestra {orchestra.freshness[u].value} "
        f"({orchestra.reasons[u]!r})"
        for u in wrong
    )
    assert (built, reused) == (orchestra.built, orchestra.reused), detail


@pytest.mark.slow
@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(timeline=timelines())
def test_saosim_orchestra_profile_matches_dbt_orchestra_over_a_timeline(timeline: Timeline) -> None:
    """Each side keeps its own state across runs (dbt-orchestra: update_state on dbt's run
    results; saosim: Plan.apply); every run's decisions must agree, skips included."""
    pytest.importorskip("saosim.core.planner")
    for step in replay(timeline):
        wrong = step.mismatches()
        assert not wrong, f"run {step.index} at {step.run.at:%Y-%m-%d %H:%M:%S}: " + "; ".join(
            wrong
        )


#: dbt-orchestra's reasons (dag.py, sao.py, relation_existence.py) → what they mean here.
_ORCHESTRA_REASONS = {
    "Snapshot is always dirty": "snapshot",
    "State orchestration for seeds currently disabled": "seed always",
    "Model from external package": "package root",
    "not previously seen in state": "never built",
    "Checksum changed since last run": "code changed",
    "still within freshness config": "within window",
    "Config inherited from": "inherited window",
    "requires all upstream dependents": "updates_on all, waiting",
    "Upstream node(s) being reused": "upstream reused",
    "has no new data since last run": "source has nothing new",
    "no longer exists in the warehouse": "table missing",
}


@pytest.mark.slow
def test_generator_reaches_every_kind_of_dbt_orchestra_decision() -> None:
    """Guards the property tests against a generator that quietly stops reaching a region."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(case=cases())
    def collect(case: Case) -> None:
        result = run_orchestra(case)
        for uid in result.compared:
            reason = result.reasons[uid]
            seen.update(v for k, v in _ORCHESTRA_REASONS.items() if k in reason)
            if "in same state as last run" in reason:
                clean = result.freshness[uid].value == "CLEAN"
                seen.add("nothing new" if clean else "dirtied by a parent")

    collect()
    expected = {*_ORCHESTRA_REASONS.values(), "nothing new", "dirtied by a parent"}
    assert expected - seen == set()


# -- real DAG shapes ----------------------------------------------------------------------------

REAL_ARTIFACTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-artifacts"
#: Real projects with ephemerals, package models, snapshots, seeds and multi-parent tests
#: (10–250 nodes); GitLab's (9,209 nodes) has its own test below.
REAL_MANIFESTS = {
    "btc": "carlosofnyc__btc/target__manifest@2025-09-19_a115559a.json",
    "balboa": "datacoves__balboa/manifest@2026-03-20_51893068.json",
    "dbt-bouncer": "godatadriven__dbt-bouncer/tests__fixtures__dbt_110__target__manifest.json",
    "jaffle-shop": "datnguye__dbterd/samples__jaffle-shop-v1.11__manifest.json",
    "shopify": "datnguye__dbterd/samples__shopify__manifest.json",
}


@cache
def _real_dag(name: str) -> tuple[CaseNode, ...]:
    path = REAL_ARTIFACTS / name
    if not path.is_file():
        pytest.skip(f"real artifacts not found at {REAL_ARTIFACTS} (they live in ../shared/)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return dag_from_manifest(json.load(f))


@pytest.mark.slow
@pytest.mark.real_artifacts
@pytest.mark.parametrize("project", REAL_MANIFESTS)
def test_saosim_orchestra_profile_matches_dbt_orchestra_on_real_dags(project: str) -> None:
    pytest.importorskip("saosim.core.planner")
    dag = with_build_after(_real_dag(REAL_MANIFESTS[project]))

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases(dag=dag))
    def check(case: Case) -> None:
        test_saosim_orchestra_profile_matches_dbt_orchestra.hypothesis.inner_test(case)

    check()


@pytest.mark.slow
@pytest.mark.real_artifacts
@pytest.mark.parametrize("project", REAL_MANIFESTS)
def test_saosim_orchestra_profile_matches_dbt_orchestra_over_a_timeline_on_real_dags(
    project: str,
) -> None:
    pytest.importorskip("saosim.core.planner")
    dag = with_build_after(_real_dag(REAL_MANIFESTS[project]))

    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(timeline=timelines(dag=dag, min_runs=3, max_runs=4))
    def check(timeline: Timeline) -> None:
        test_saosim_orchestra_profile_matches_dbt_orchestra_over_a_timeline.hypothesis.inner_test(
            timeline
        )

    check()


GITLAB = (
    "tnmy44__gitlab-analytics/"
    "transform__snowflake-dbt__target__manifest@2024-09-27_eb2a5783.json.gz"
)


@pytest.mark.slow
@pytest.mark.real_artifacts
def test_saosim_orchestra_profile_matches_dbt_orchestra_on_gitlab() -> None:
    """The largest public dbt project (2,934 models, 100 snapshots, 15 ephemerals, 47 package
    models, depth 23): too big for hypothesis's choice buffer, so the case's choices come from a
    drawn ``Random`` (``big_cases``); about 2 s a case."""
    pytest.importorskip("saosim.core.planner")
    nodes = _real_dag(GITLAB)

    @settings(
        max_examples=4,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=big_cases(nodes))
    def check(case: Case) -> None:
        test_saosim_orchestra_profile_matches_dbt_orchestra.hypothesis.inner_test(case)

    check()
