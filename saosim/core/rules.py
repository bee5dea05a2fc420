"""The planner's rules, one small function each, and the profiles as ordered tuples of them.

Each rule takes the run's context and one node's facts and returns a :class:`Decision` or
``None``; the first rule that returns a decision wins (SAO-SEMANTICS: "the first rule that
matches wins"). A profile is a tuple of rules, so two profiles can be compared by reading two
tuples (see :data:`PROFILE_RULES`).

One deliberate ordering choice: ``upstream_failed`` comes right after ``ephemeral``, before
``never_built``. dbt itself skips every child of a failed node whatever SAO would decide, so a
never-built child of a failed parent is skipped, not built.

>>> [r.__name__ for r in PROFILE_RULES[Profile.BASELINE]]
['ephemeral', 'upstream_failed', 'full_refresh', 'stateless']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from saosim.core.decision import Action, Decision, Profile, ProfileOptions, Reason
from saosim.core.state import NodeState
from saosim.project.freshness import NodeFreshness

__all__ = [
    "PROFILE_FINISH",
    "PROFILE_RULES",
    "PROFILE_TEST_RULES",
    "TEST_RULES",
    "Facts",
    "RunContext",
    "format_duration",
]

#: dbt's built-in materializations; anything else is custom (dbt_state always builds it).
BUILTIN_MATERIALIZATIONS = frozenset(
    {"table", "view", "incremental", "ephemeral", "materialized_view", "seed", "snapshot"}
)


@dataclass(slots=True)
class RunContext:
    """What is true for the whole run (filled in by :func:`saosim.core.planner.plan`)."""

    at: datetime
    options: ProfileOptions
    full_refresh: bool
    in_flight: frozenset[str]
    #: dbt_state: nodes built in this run because of their own or an upstream code change
    code_now: set[str]


@dataclass(slots=True)
class Facts:
    """What the rules need to know about one node; computed once per node and run."""

    uid: str
    resource_type: str
    materialization: str | None
    language: str
    ns: NodeState | None
    fingerprint: str | None
    fingerprint_changed: bool
    fresh: tuple[str, ...]
    #: some direct (effective) parent is not fresh
    has_stale: bool
    #: the direct parents that failed or were skipped in this run
    failed: tuple[str, ...]
    #: the fresh parents are sources without metadata (named in ``detail``)
    no_metadata: tuple[str, ...]
    freshness: NodeFreshness
    window_s: float
    updates_on: str
    #: orchestra: the child whose build_after this node inherited
    inherited_from: str | None
    #: tests: buildable parents built in this run; sources with new data
    tested_built: tuple[str, ...] = ()
    #: dbt_state: a direct parent was built in this run because of a code change
    upstream_code: tuple[str, ...] = ()
    #: dbt_state: the latest data version among the parents now (``t`` for a parent
    #: built in this run) and the latest among what N saw at its last build
    latest_parent_dv: datetime | None = None
    latest_seen: datetime | None = None
    #: a model from another dbt package with no parents
    foreign_root: bool = False


Rule = Callable[[RunContext, Facts], Decision | None]


def format_duration(seconds: float) -> str:
    """A short human duration.

    >>> format_duration(21600), format_duration(2700), format_duration(5400), format_duration(90061)
    ('6h', '45m', '1h30m', '1d1h1m1s')
    """
    total = round(seconds)
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "w" and total % size:
            continue
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def _d(f: Facts, action: Action, reason: Reason, **kw: object) -> Decision:
    return Decision(f.uid, action, reason, **kw)  # type: ignore[arg-type]


def _window_detail(f: Facts) -> str:
    if f.window_s == 0:
        return "build_after=none"
    text = f"build_after={format_duration(f.window_s)}, updates_on={f.updates_on}"
    if f.inherited_from:
        text += f" (inherited from {f.inherited_from})"
    return text


def _fresh_detail(f: Facts, c: RunContext) -> str:
    if f.no_metadata:
        return f"no_metadata_source={c.options.no_metadata_source}: {', '.join(f.no_metadata)}"
    return ""


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# -- rules shared by every profile ------------------------------------------------------------
def ephemeral(c: RunContext, f: Facts) -> Decision | None:
    """Rule 1: an ephemeral model is inlined into its children, never built."""
    if f.materialization == "ephemeral" and f.resource_type == "model":
        return _d(f, Action.NO_OP, Reason.EPHEMERAL)
    return None


def upstream_failed(c: RunContext, f: Facts) -> Decision | None:
    """Rule 5 (checked early, as dbt does): a parent failed or was skipped in this run."""
    if f.failed:
        return _d(f, Action.SKIP, Reason.UPSTREAM_FAILED, detail=f"failed: {', '.join(f.failed)}")
    return None


def full_refresh(c: RunContext, f: Facts) -> Decision | None:
    """``--full-refresh`` builds every selected node."""
    if c.full_refresh:
        return _d(f, Action.BUILD, Reason.FULL_REFRESH, detail="full_refresh=True")
    return None


def stateless(c: RunContext, f: Facts) -> Decision | None:
    """baseline: dbt without state builds everything it selects."""
    return _d(f, Action.BUILD, Reason.STATELESS)


def in_flight_elsewhere(c: RunContext, f: Facts) -> Decision | None:
    """SAO concurrency: another job is building N; this job waits and re-evaluates."""
    if f.uid in c.in_flight:
        return _d(
            f,
            Action.REUSE,
            Reason.IN_FLIGHT_ELSEWHERE,
            detail="another job is building it; re-evaluate when that build ends",
        )
    return None


def python_model(c: RunContext, f: Facts) -> Decision | None:
    """Rule 1: SAO does not support Python models; they always build."""
    if f.language == "python":
        return _d(f, Action.BUILD, Reason.PYTHON_MODEL)
    return None


def never_built(c: RunContext, f: Facts) -> Decision | None:
    """Rule 2: no state → build, even with build_after."""
    if f.ns is None:
        return _d(f, Action.BUILD, Reason.NEVER_BUILT)
    return None


def table_missing(c: RunContext, f: Facts) -> Decision | None:
    """Rule 3: the relation is missing from the warehouse."""
    if f.ns is not None and not f.ns.table_exists:
        return _d(f, Action.BUILD, Reason.TABLE_MISSING)
    return None


def previous_test_failed(c: RunContext, f: Facts) -> Decision | None:
    """Rule 4: an error-severity data test on N failed after its last build."""
    if f.ns is not None and f.ns.tests_failed:
        return _d(f, Action.BUILD, Reason.PREVIOUS_TEST_FAILED)
    return None


def no_new_data(c: RunContext, f: Facts) -> Decision | None:
    """Rule 6: fingerprint equal and no fresh parent → reuse."""
    if not f.fingerprint_changed and not f.fresh:
        return _d(f, Action.REUSE, Reason.NO_NEW_DATA)
    return None


def waiting_for_all_upstreams(c: RunContext, f: Facts) -> Decision | None:
    """Rule 7: ``updates_on: all`` waits until every direct parent is fresh."""
    if f.updates_on == "all" and not f.fingerprint_changed and f.has_stale:
        return _d(
            f,
            Action.REUSE,
            Reason.WAITING_FOR_ALL_UPSTREAMS,
            fresh_parents=f.fresh,
            detail=_join(_window_detail(f), _fresh_detail(f, c)),
        )
    return None


def code_change_overrides_window(c: RunContext, f: Facts) -> Decision | None:
    """Option ``code_change_overrides_window``: an edit builds even inside the window."""
    if c.options.code_change_overrides_window and f.fingerprint_changed:
        return _d(
            f,
            Action.BUILD,
            Reason.CODE_CHANGED,
            fresh_parents=f.fresh,
            detail="code_change_overrides_window=True",
        )
    return None


def within_build_after(c: RunContext, f: Facts) -> Decision | None:
    """Rule 8: ``t − last_build < W`` → reuse (holds back a code change too)."""
    assert f.ns is not None
    if f.window_s and (c.at - f.ns.built_at).total_seconds() < f.window_s:
        detail = _window_detail(f)
        if f.fingerprint_changed:
            detail += ", code_change_overrides_window=False"
        return _d(
            f,
            Action.REUSE,
            Reason.WITHIN_BUILD_AFTER,
            fresh_parents=f.fresh,
            window_ends_at=f.ns.built_at + timedelta(seconds=f.window_s),
            detail=_join(detail, _fresh_detail(f, c)),
        )
    return None


def build_changed(c: RunContext, f: Facts) -> Decision | None:
    """Rule 9: build, because the code changed or a parent has new data."""
    reason = Reason.CODE_CHANGED if f.fingerprint_changed else Reason.NEW_UPSTREAM_DATA
    detail = _window_detail(f) if f.window_s else ""
    return _d(
        f, Action.BUILD, reason, fresh_parents=f.fresh, detail=_join(detail, _fresh_detail(f, c))
    )


# -- orchestra --------------------------------------------------------------------------------
def snapshot_always_builds(c: RunContext, f: Facts) -> Decision | None:
    """orchestra: snapshots always build."""
    if f.resource_type == "snapshot":
        return _d(f, Action.BUILD, Reason.ALWAYS_BUILDS, detail="orchestra: snapshots")
    return None


def seed_always_builds(c: RunContext, f: Facts) -> Decision | None:
    """orchestra: seeds build unless ``seed_state_orchestration`` is on."""
    if f.resource_type == "seed" and not c.options.seed_state_orchestration:
        return _d(f, Action.BUILD, Reason.ALWAYS_BUILDS, detail="seed_state_orchestration=False")
    return None


def package_model_without_parents(c: RunContext, f: Facts) -> Decision | None:
    """orchestra: a model from another package whose ``depends_on`` is empty always builds."""
    if f.foreign_root:
        return _d(
            f,
            Action.BUILD,
            Reason.ALWAYS_BUILDS,
            detail="orchestra: package model without parents",
        )
    return None


def table_missing_if_verified(c: RunContext, f: Facts) -> Decision | None:
    """orchestra: a missing table is noticed only with ``verify_relations_exist``."""
    if c.options.verify_relations_exist:
        return table_missing(c, f)
    return None


def skip_builds_below_failures(c: RunContext, f: Facts, d: Decision) -> Decision:
    """orchestra: nodes are decided before dbt runs; dbt then skips a chosen build whose parent
    failed, while a node the planner reused is not in the command and stays reused."""
    if f.failed and d.action is Action.BUILD:
        return _d(f, Action.SKIP, Reason.UPSTREAM_FAILED, detail=f"failed: {', '.join(f.failed)}")
    return d


def code_changed_always(c: RunContext, f: Facts) -> Decision | None:
    """orchestra / dbt_state: a code change builds whatever the window or tolerance."""
    if f.fingerprint_changed:
        c.code_now.add(f.uid)
        return _d(f, Action.BUILD, Reason.CODE_CHANGED, fresh_parents=f.fresh)
    return None


def within_build_after_minutes(c: RunContext, f: Facts) -> Decision | None:
    """orchestra: the window in whole minutes (minutes since the build, rounded down)."""
    assert f.ns is not None
    window_min = int(f.window_s // 60)
    if window_min and int((c.at - f.ns.built_at).total_seconds() / 60) < window_min:
        return _d(
            f,
            Action.REUSE,
            Reason.WITHIN_BUILD_AFTER,
            fresh_parents=f.fresh,
            window_ends_at=f.ns.built_at + timedelta(minutes=window_min),
            detail=_join(_window_detail(f), "whole minutes"),
        )
    return None


# -- dbt_state ----------------------------------------------------------------------------------
def always_builds_python_custom(c: RunContext, f: Facts) -> Decision | None:
    """dbt_state: Python models and custom materializations always build."""
    if f.language == "python":
        return _d(f, Action.BUILD, Reason.ALWAYS_BUILDS, detail="python model")
    if f.materialization is not None and f.materialization not in BUILTIN_MATERIALIZATIONS:
        return _d(
            f,
            Action.BUILD,
            Reason.ALWAYS_BUILDS,
            detail=f"custom materialization {f.materialization}",
        )
    return None


def upstream_code_changed(c: RunContext, f: Facts) -> Decision | None:
    """dbt_state: a SQL change in any upstream model builds N, whatever the tolerance."""
    if f.upstream_code:
        c.code_now.add(f.uid)
        return _d(
            f,
            Action.BUILD,
            Reason.UPSTREAM_CODE_CHANGED,
            fresh_parents=f.fresh,
            detail=f"changed upstream: {', '.join(f.upstream_code)}",
        )
    return None


def view_logic_unchanged(c: RunContext, f: Facts) -> Decision | None:
    """dbt_state: a view is reused while its logic is unchanged; data flows through it."""
    if f.materialization == "view":
        return _d(
            f,
            Action.REUSE,
            Reason.NO_NEW_DATA,
            fresh_parents=f.fresh,
            detail="dbt_state: a view's logic is unchanged, new data flows through it",
        )
    return None


def _tolerance(c: RunContext, f: Facts) -> tuple[float, str]:
    if f.freshness.lag_tolerance_s is not None:
        return f.freshness.lag_tolerance_s, "lag_tolerance"
    if f.freshness.build_after is not None:
        return float(f.freshness.build_after.window_s), "build_after"
    return c.options.default_lag_tolerance_s, "project default"


def within_lag_tolerance(c: RunContext, f: Facts) -> Decision | None:
    """dbt_state rule 8: the tolerance test, in the mode ``lag_mode`` names.

    A parent built in this run counts with data version ``t``.
    """
    assert f.ns is not None
    tol, source = _tolerance(c, f)
    mode = c.options.lag_mode
    detail = f"lag_mode={mode}, lag_tolerance={format_duration(tol)} ({source})"
    built = f.ns.built_at
    now, then = f.latest_parent_dv, f.latest_seen
    ends = None
    if mode == "build_age":
        build = (c.at - built).total_seconds() > tol
        ends = built + timedelta(seconds=tol)
    elif mode == "data_advance":
        build = now is not None and (then is None or (now - then).total_seconds() > tol)
    else:  # data_vs_build
        build = now is not None and (now - built).total_seconds() >= tol
    if build:
        return _d(f, Action.BUILD, Reason.NEW_UPSTREAM_DATA, fresh_parents=f.fresh, detail=detail)
    return _d(
        f,
        Action.REUSE,
        Reason.WITHIN_LAG_TOLERANCE,
        fresh_parents=f.fresh,
        window_ends_at=ends,
        detail=_join(detail, _fresh_detail(f, c)),
    )


# -- data tests -------------------------------------------------------------------------------
def data_test_upstream_failed(c: RunContext, f: Facts) -> Decision | None:
    """A test of a node that failed or was skipped in this run is skipped."""
    return upstream_failed(c, f)


def data_test_node_built(c: RunContext, f: Facts) -> Decision | None:
    """A data test runs when a node it tests was built in this run (tolerance 0)."""
    if f.tested_built:
        return _d(f, Action.RUN, Reason.TESTED_NODE_BUILT, fresh_parents=f.tested_built)
    return None


def data_test_never_run(c: RunContext, f: Facts) -> Decision | None:
    """A data test with no recorded run runs."""
    if f.ns is None:
        return _d(f, Action.RUN, Reason.NEVER_BUILT)
    return None


def data_test_code_changed(c: RunContext, f: Facts) -> Decision | None:
    """A data test whose own code changed runs."""
    if f.fingerprint_changed:
        return _d(f, Action.RUN, Reason.TEST_CODE_CHANGED)
    return None


def data_test_node_reused(c: RunContext, f: Facts) -> Decision | None:
    """Otherwise the last result stands."""
    return _d(f, Action.REUSE, Reason.TESTED_NODE_REUSED)


TEST_RULES: tuple[Rule, ...] = (
    data_test_upstream_failed,
    data_test_node_built,
    data_test_never_run,
    data_test_code_changed,
    data_test_node_reused,
)

#: The rule order of each profile (SAO-SEMANTICS).
PROFILE_RULES: dict[Profile, tuple[Rule, ...]] = {
    Profile.BASELINE: (ephemeral, upstream_failed, full_refresh, stateless),
    Profile.SAO: (
        ephemeral,
        upstream_failed,
        full_refresh,
        in_flight_elsewhere,
        python_model,
        never_built,
        table_missing,
        previous_test_failed,
        no_new_data,
        waiting_for_all_upstreams,
        code_change_overrides_window,
        within_build_after,
        build_changed,
    ),
    Profile.DBT_STATE: (
        ephemeral,
        upstream_failed,
        full_refresh,
        always_builds_python_custom,
        never_built,
        table_missing,
        previous_test_failed,
        code_changed_always,
        upstream_code_changed,
        view_logic_unchanged,
        no_new_data,
        waiting_for_all_upstreams,
        within_lag_tolerance,
    ),
    # no upstream_failed here (see PROFILE_FINISH) and no previous_test_failed: dbt-orchestra's
    # state holds no test results
    Profile.ORCHESTRA: (
        ephemeral,
        full_refresh,
        snapshot_always_builds,
        package_model_without_parents,
        seed_always_builds,
        never_built,
        table_missing_if_verified,
        code_changed_always,
        no_new_data,
        waiting_for_all_upstreams,
        within_build_after_minutes,
        build_changed,
    ),
}

#: Data-test rules per profile. dbt-orchestra does not plan tests: dbt's indirect selection runs
#: the tests of the nodes it builds, and a test's own code change is not tracked.
PROFILE_TEST_RULES: dict[Profile, tuple[Rule, ...]] = {
    Profile.BASELINE: TEST_RULES,
    Profile.SAO: TEST_RULES,
    Profile.DBT_STATE: TEST_RULES,
    Profile.ORCHESTRA: (data_test_upstream_failed, data_test_node_built, data_test_node_reused),
}

Finish = Callable[[RunContext, Facts, Decision], Decision]
#: A last step applied to the rules' decision (orchestra decides before dbt runs).
PROFILE_FINISH: dict[Profile, Finish] = {Profile.ORCHESTRA: skip_builds_below_failures}
