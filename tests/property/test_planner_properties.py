"""Invariants of the planner on generated DAGs, states and clocks (SAO-SEMANTICS, STYLE §5)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from saosim.core.arrays import project_index
from saosim.core.planner import Action, ProfileOptions, State, plan
from saosim.project.freshness import FreshnessConfig
from tests.strategies import T0, full_build, minutes_after, projects, shuffled, situations

PROFILES = ("sao", "dbt_state", "orchestra")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def buildable_selected(project) -> set[str]:
    return {u for u in project.buildable if not project.nodes[u].is_ephemeral}


@FAST
@given(situations(), st.sampled_from(PROFILES))
def test_baseline_builds_every_buildable_node_and_stateful_builds_are_a_subset(s, profile) -> None:
    baseline = s.plan("baseline")
    assert set(baseline.built) == buildable_selected(s.project)
    assert all(
        d.action is Action.NO_OP
        for d in baseline.decisions
        if d.node_id not in baseline.built and not s.project.nodes[d.node_id].is_test
    )
    assert set(s.plan(profile).built) <= set(baseline.built)


OPTIONS = st.builds(
    ProfileOptions,
    code_change_overrides_window=st.booleans(),
    lag_mode=st.sampled_from(["build_age", "data_advance", "data_vs_build"]),
)


@FAST
@given(situations(), st.sampled_from(PROFILES), OPTIONS, st.data())
def test_an_arrival_never_turns_a_build_into_a_reuse(s, profile, options, data) -> None:
    before = s.plan(profile, options=options)
    source = data.draw(st.sampled_from(sorted(s.source_versions)))
    landed = data.draw(minutes_after(s.source_versions[source], 600))
    landed = min(landed, s.at)
    versions = {**s.source_versions, source: max(landed, s.source_versions[source])}
    after = s.plan(profile, source_versions=versions, options=options)
    assert set(before.built) <= set(after.built)


@FAST
@given(
    projects(python=False, seeds=True, snapshots=False),
    st.sampled_from(PROFILES),
    st.lists(st.integers(1, 600), min_size=1, max_size=5),
)
def test_nothing_new_after_a_full_build_means_everything_is_reused(project, profile, gaps) -> None:
    versions = {u: T0 - timedelta(minutes=5) for u in project.sources}
    state = full_build(project, T0, versions)
    # orchestra builds seeds at every run unless told to follow state
    options = ProfileOptions(seed_state_orchestration=True)
    # dbt-orchestra never has state for an ephemeral model, so it counts as new at every run
    below_ephemeral = {
        d
        for u in project.buildable
        if project.nodes[u].is_ephemeral
        for d in project.descendants(u)
    }
    at = T0
    for gap in gaps:
        at += timedelta(minutes=gap)
        run = plan(
            project, state, at=at, source_versions=versions, profile=profile, options=options
        )
        if profile == "orchestra":
            assert set(run.built) | set(run.ran) <= below_ephemeral, run.by_reason()
        else:
            assert run.built == () and run.ran == (), run.by_reason()
        state = run.apply(finished_at=at)


@FAST
@given(situations(config=False))
def test_no_false_reuse_without_config(s) -> None:
    run = s.plan("sao")
    built = set(run.built)
    for d in run.decisions:
        node = s.project.nodes[d.node_id]
        if d.action is not Action.REUSE or node.is_test:
            continue
        ns = s.state.get(d.node_id)
        assert ns is not None
        assert ns.fingerprint == s.fingerprints.get(d.node_id, node.fingerprint), d
        for parent in project_index(s.project).infos[d.node_id].parents:
            assert parent not in built, (d, parent)
            if parent in s.source_versions:
                assert ns.seen_versions.get(parent) is not None
                assert s.source_versions[parent] <= ns.seen_versions[parent], (d, parent)
            elif s.state.get(parent) is not None:
                assert s.state.get(parent).data_version <= ns.seen_versions.get(parent, T0), d


@FAST
@given(situations(profile="dbt_state"))
def test_dbt_state_never_reuses_a_code_change(s) -> None:
    run = s.plan("dbt_state")
    for d in run.decisions:
        node = s.project.nodes[d.node_id]
        ns = s.state.get(d.node_id)
        if node.is_test or node.is_ephemeral or ns is None:
            continue
        if ns.fingerprint != s.fingerprints.get(d.node_id, node.fingerprint):
            assert d.action is Action.BUILD, d


@FAST
@given(situations(), st.sampled_from(("baseline", *PROFILES)), st.integers(0, 2**16))
def test_same_inputs_in_another_order_give_the_same_plan(s, profile, seed) -> None:
    rnd = random.Random(seed)
    first = s.plan(profile)
    state_items = list(s.state.nodes.items())
    rnd.shuffle(state_items)
    version_items = list(s.source_versions.items())
    rnd.shuffle(version_items)
    cfg_items = list(s.freshness.per_node.items())
    rnd.shuffle(cfg_items)
    second = plan(
        shuffled(s.project, seed),
        State(dict(state_items)),
        at=s.at,
        source_versions=dict(version_items),
        freshness=FreshnessConfig(dict(cfg_items)),
        fingerprints=dict(reversed(list(s.fingerprints.items()))),
        profile=profile,
    )
    assert first.decisions == second.decisions


@FAST
@given(situations(), st.sampled_from(("baseline", *PROFILES)))
def test_a_reuse_never_changes_that_nodes_state(s, profile) -> None:
    run = s.plan(profile)
    after = run.apply(finished_at=s.at + timedelta(minutes=3))
    for d in run.decisions:
        if d.action in (Action.BUILD, Action.RUN):
            assert after.get(d.node_id) is not None
            assert after.get(d.node_id).built_at == s.at + timedelta(minutes=3)
        else:
            assert after.get(d.node_id) == s.state.get(d.node_id), d


@FAST
@given(situations(max_history=1), st.sampled_from(PROFILES))
def test_a_failed_build_leaves_the_state_and_skips_descendants(s, profile) -> None:
    run = s.plan(profile)
    if not run.built:
        return
    failed = run.built[0]
    again = s.plan(profile, failing=frozenset({failed}))
    after = again.apply(finished_at=s.at)
    assert after.get(failed) == s.state.get(failed)
    descendants = s.project.descendants(failed)
    infos = project_index(s.project).infos
    down = {failed}
    for d in again.decisions:
        node = s.project.nodes[d.node_id]
        if d.action is Action.BUILD:
            # nothing builds on top of a failed or skipped parent
            assert not down & set(infos[d.node_id].parents), d
        if d.action is Action.SKIP:
            down.add(d.node_id)
        if profile != "orchestra" and d.node_id in descendants and not node.is_ephemeral:
            assert d.action is Action.SKIP, d


def test_properties_use_real_time_zones() -> None:
    assert T0.tzinfo is not None
    assert replace(ProfileOptions(), lag_mode="data_advance").lag_mode == "data_advance"


class Timeline(RuleBasedStateMachine):
    """Job runs, arrivals and code changes in any order; the state invariants hold after each."""

    def __init__(self) -> None:
        super().__init__()
        self.project = None

    @initialize(project=projects(max_models=6), profile=st.sampled_from(("sao", "dbt_state")))
    def start(self, project, profile) -> None:
        self.project = project
        self.profile = profile
        self.now = T0
        self.versions = {u: T0 for u in project.sources}
        self.state = full_build(project, T0, self.versions)
        self.fps: dict[str, str] = {}

    @rule(minutes=st.integers(1, 180), data=st.data())
    def arrival(self, minutes, data) -> None:
        source = data.draw(st.sampled_from(self.project.sources))
        self.now += timedelta(minutes=minutes)
        self.versions[source] = self.now

    @rule(data=st.data())
    def code_change(self, data) -> None:
        uid = data.draw(st.sampled_from(self.project.buildable))
        self.fps[uid] = f"edit{len(self.fps)}:{data.draw(st.integers(0, 99))}"

    @rule(minutes=st.integers(1, 180), fail=st.booleans())
    def run(self, minutes, fail) -> None:
        self.now += timedelta(minutes=minutes)
        first = plan(
            self.project,
            self.state,
            at=self.now,
            source_versions=self.versions,
            profile=self.profile,
            fingerprints=self.fps,
        )
        failing = frozenset(first.built[:1]) if fail else frozenset()
        run = plan(
            self.project,
            self.state,
            at=self.now,
            source_versions=self.versions,
            profile=self.profile,
            fingerprints=self.fps,
            failing=failing,
        )
        after = run.apply(finished_at=self.now)
        for d in run.decisions:
            if d.action in (Action.BUILD, Action.RUN) and d.node_id not in failing:
                assert after.get(d.node_id).built_at == self.now
                if d.action is Action.BUILD:
                    assert after.get(d.node_id).fingerprint == self.fps.get(
                        d.node_id, self.project.nodes[d.node_id].fingerprint
                    )
            else:
                assert after.get(d.node_id) == self.state.get(d.node_id), d
        self.state = after

    @invariant()
    def nothing_is_newer_than_the_clock(self) -> None:
        if self.project is None:
            return
        for ns in self.state.nodes.values():
            assert ns.built_at <= self.now
            assert all(v <= self.now for v in ns.seen_versions.values())


TestTimeline = Timeline.TestCase
TestTimeline.settings = settings(
    max_examples=15,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
