"""The planner's rules, one small function each, and the profiles as ordered tuples of them.

Each rule reads one node's :class:`~saosim.core.facts.Facts` and the profile's
:class:`~saosim.core.facts.Options` and returns ``(action, reason)`` codes
(:mod:`saosim.core.codes`), or ``(NO_MATCH, 0)`` when it does not apply; the first rule that
matches wins (SAO-SEMANTICS: "the first rule that matches wins"). A profile is a tuple of rules,
so two profiles can be compared by reading two tuples (:data:`PROFILE_RULES`).

These functions are the only decision code. They are plain Python (call them on a ``Facts``
in a test); :func:`first_match` compiles a tuple into one numba function, and the planner and
the compiled replay both decide through :func:`decide`.

One deliberate ordering choice: ``upstream_failed`` comes right after ``ephemeral``, before
``never_built``. dbt itself skips every child of a failed node whatever SAO would decide, so a
never-built child of a failed parent is skipped, not built.

>>> [r.__name__ for r in PROFILE_RULES["baseline"]]
['ephemeral', 'upstream_failed', 'full_refresh', 'stateless']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saosim._jit import jit_inline
from saosim.core.codes import (
    BUILD,
    F_CUSTOM,
    F_EPHEMERAL,
    F_FOREIGN_ROOT,
    F_PYTHON,
    F_SEED,
    F_SNAPSHOT,
    F_TEST,
    F_UPDATES_ALL,
    F_VIEW,
    LAG_BUILD_AGE,
    LAG_DATA_ADVANCE,
    NO_MATCH,
    NO_OP,
    NONE,
    P_BASELINE,
    P_DBT_STATE,
    P_ORCHESTRA,
    R_ALWAYS_BUILDS,
    R_CODE_CHANGED,
    R_EPHEMERAL,
    R_FULL_REFRESH,
    R_IN_FLIGHT,
    R_NEVER_BUILT,
    R_NEW_UPSTREAM_DATA,
    R_NO_NEW_DATA,
    R_PREVIOUS_TEST_FAILED,
    R_PYTHON_MODEL,
    R_STATELESS,
    R_TABLE_MISSING,
    R_TEST_CODE_CHANGED,
    R_TESTED_NODE_BUILT,
    R_TESTED_NODE_REUSED,
    R_UPSTREAM_CODE_CHANGED,
    R_UPSTREAM_FAILED,
    R_WAITING,
    R_WITHIN_BUILD_AFTER,
    R_WITHIN_LAG_TOLERANCE,
    REUSE,
    RUN,
    SKIP,
)

__all__ = [
    "PROFILE_RULES",
    "PROFILE_TEST_RULES",
    "decide",
    "finish_orchestra",
    "first_match",
    "orchestra_finish",
]

Rule = Callable[[Any, Any], tuple[int, int]]


# -- rules shared by every profile ------------------------------------------------------------
def ephemeral(f, o):
    """Rule 1: an ephemeral model is inlined into its children, never built."""
    if f.flags & F_EPHEMERAL:
        return NO_OP, R_EPHEMERAL
    return NO_MATCH, 0


def upstream_failed(f, o):
    """Rule 5 (checked early, as dbt does): a parent failed or was skipped in this run."""
    if f.n_failed > 0:
        return SKIP, R_UPSTREAM_FAILED
    return NO_MATCH, 0


def full_refresh(f, o):
    """``--full-refresh`` builds every selected node."""
    if f.full_refresh:
        return BUILD, R_FULL_REFRESH
    return NO_MATCH, 0


def stateless(f, o):
    """baseline: dbt without state builds everything it selects."""
    return BUILD, R_STATELESS


def in_flight_elsewhere(f, o):
    """SAO concurrency: another job is building N; this job waits and re-evaluates."""
    if f.in_flight:
        return REUSE, R_IN_FLIGHT
    return NO_MATCH, 0


def python_model(f, o):
    """Rule 1: SAO does not support Python models; they always build."""
    if f.flags & F_PYTHON:
        return BUILD, R_PYTHON_MODEL
    return NO_MATCH, 0


def never_built(f, o):
    """Rule 2: no state → build, even with build_after."""
    if not f.has_state:
        return BUILD, R_NEVER_BUILT
    return NO_MATCH, 0


def table_missing(f, o):
    """Rule 3: the relation is missing from the warehouse."""
    if f.has_state and not f.table_exists:
        return BUILD, R_TABLE_MISSING
    return NO_MATCH, 0


def previous_test_failed(f, o):
    """Rule 4: an error-severity data test on N failed after its last build."""
    if f.has_state and f.tests_failed:
        return BUILD, R_PREVIOUS_TEST_FAILED
    return NO_MATCH, 0


def no_new_data(f, o):
    """Rule 6: fingerprint equal and no fresh parent → reuse."""
    if not f.code_changed and f.n_fresh == 0:
        return REUSE, R_NO_NEW_DATA
    return NO_MATCH, 0


def waiting_for_all_upstreams(f, o):
    """Rule 7: ``updates_on: all`` waits until every direct parent is fresh."""
    if (f.flags & F_UPDATES_ALL) and not f.code_changed and f.has_stale:
        return REUSE, R_WAITING
    return NO_MATCH, 0


def code_change_overrides_window(f, o):
    """Option ``code_change_overrides_window``: an edit builds even inside the window."""
    if o.code_change_overrides_window and f.code_changed:
        return BUILD, R_CODE_CHANGED
    return NO_MATCH, 0


def within_build_after(f, o):
    """Rule 8: ``t − last_build < W`` → reuse (holds back a code change too)."""
    if f.window_s != 0 and (f.at - f.built_at) / 1e6 < f.window_s:
        return REUSE, R_WITHIN_BUILD_AFTER
    return NO_MATCH, 0


def build_changed(f, o):
    """Rule 9: build, because the code changed or a parent has new data."""
    if f.code_changed:
        return BUILD, R_CODE_CHANGED
    return BUILD, R_NEW_UPSTREAM_DATA


# -- orchestra --------------------------------------------------------------------------------
def snapshot_always_builds(f, o):
    """orchestra: snapshots always build."""
    if f.flags & F_SNAPSHOT:
        return BUILD, R_ALWAYS_BUILDS
    return NO_MATCH, 0


def seed_always_builds(f, o):
    """orchestra: seeds build unless ``seed_state_orchestration`` is on."""
    if (f.flags & F_SEED) and not o.seed_state_orchestration:
        return BUILD, R_ALWAYS_BUILDS
    return NO_MATCH, 0


def package_model_without_parents(f, o):
    """orchestra: a model from another package whose ``depends_on`` is empty always builds."""
    if f.flags & F_FOREIGN_ROOT:
        return BUILD, R_ALWAYS_BUILDS
    return NO_MATCH, 0


def table_missing_if_verified(f, o):
    """orchestra: a missing table is noticed only with ``verify_relations_exist``."""
    if o.verify_relations_exist and f.has_state and not f.table_exists:
        return BUILD, R_TABLE_MISSING
    return NO_MATCH, 0


def code_changed_always(f, o):
    """orchestra / dbt_state: a code change builds whatever the window or tolerance."""
    if f.code_changed:
        return BUILD, R_CODE_CHANGED
    return NO_MATCH, 0


def within_build_after_minutes(f, o):
    """orchestra: the window in whole minutes (minutes since the build, rounded down)."""
    window_min = int(f.window_s // 60)
    if window_min != 0 and int((f.at - f.built_at) / 1e6 / 60) < window_min:
        return REUSE, R_WITHIN_BUILD_AFTER
    return NO_MATCH, 0


def orchestra_finish(f, act, rsn):
    """orchestra decides before dbt runs; dbt then skips a chosen build whose parent failed,
    while a node the planner reused is not in the command and stays reused."""
    if act == BUILD and f.n_failed > 0:
        return SKIP, R_UPSTREAM_FAILED
    return act, rsn


# -- dbt_state ----------------------------------------------------------------------------------
def always_builds_python_custom(f, o):
    """dbt_state: Python models and custom materializations always build."""
    if f.flags & (F_PYTHON | F_CUSTOM):
        return BUILD, R_ALWAYS_BUILDS
    return NO_MATCH, 0


def upstream_code_changed(f, o):
    """dbt_state: a SQL change in any upstream model builds N, whatever the tolerance."""
    if f.n_upstream_code > 0:
        return BUILD, R_UPSTREAM_CODE_CHANGED
    return NO_MATCH, 0


def view_logic_unchanged(f, o):
    """dbt_state: a view is reused while its logic is unchanged; data flows through it."""
    if f.flags & F_VIEW:
        return REUSE, R_NO_NEW_DATA
    return NO_MATCH, 0


def within_lag_tolerance(f, o):
    """dbt_state rule 8: the tolerance test, in the mode ``lag_mode`` names. A parent built
    in this run counts with data version ``t``."""
    tol = f.tol_s
    if o.lag_mode == LAG_BUILD_AGE:
        build = (f.at - f.built_at) / 1e6 > tol
    elif o.lag_mode == LAG_DATA_ADVANCE:
        build = f.latest_now != NONE and (
            f.latest_seen == NONE or (f.latest_now - f.latest_seen) / 1e6 > tol
        )
    else:  # data_vs_build
        build = f.latest_now != NONE and (f.latest_now - f.built_at) / 1e6 >= tol
    if build:
        return BUILD, R_NEW_UPSTREAM_DATA
    return REUSE, R_WITHIN_LAG_TOLERANCE


# -- data tests -------------------------------------------------------------------------------
def data_test_node_built(f, o):
    """A data test runs when a node it tests was built in this run or has new data."""
    if f.n_built_parents > 0 or f.n_fresh > 0:
        return RUN, R_TESTED_NODE_BUILT
    return NO_MATCH, 0


def data_test_never_run(f, o):
    """A data test with no recorded run runs."""
    if not f.has_state:
        return RUN, R_NEVER_BUILT
    return NO_MATCH, 0


def data_test_code_changed(f, o):
    """A data test whose own code changed runs."""
    if f.code_changed:
        return RUN, R_TEST_CODE_CHANGED
    return NO_MATCH, 0


def data_test_node_reused(f, o):
    """Otherwise the last result stands."""
    return REUSE, R_TESTED_NODE_REUSED


TEST_RULES: tuple[Rule, ...] = (
    upstream_failed,
    data_test_node_built,
    data_test_never_run,
    data_test_code_changed,
    data_test_node_reused,
)

#: The rule order of each profile (SAO-SEMANTICS).
PROFILE_RULES: dict[str, tuple[Rule, ...]] = {
    "baseline": (ephemeral, upstream_failed, full_refresh, stateless),
    "sao": (
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
    "dbt_state": (
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
    # no upstream_failed here (orchestra_finish skips below a failure) and no
    # previous_test_failed: dbt-orchestra's state holds no test results
    "orchestra": (
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
PROFILE_TEST_RULES: dict[str, tuple[Rule, ...]] = {
    "baseline": TEST_RULES,
    "sao": TEST_RULES,
    "dbt_state": TEST_RULES,
    "orchestra": (upstream_failed, data_test_node_built, data_test_node_reused),
}


def first_match(rules: tuple[Rule, ...]) -> Any:
    """One compiled function that tries ``rules`` in order and returns the first match.

    >>> from saosim.core.codes import NO_MATCH
    >>> d = first_match((never_built, stateless))
    >>> d.py_func.__name__
    'first_of_2'
    """
    decide_rest = None
    for rule in reversed(rules):
        decide_rest = _link(jit_inline(rule), decide_rest, len(rules))
    return decide_rest


def _link(rule: Any, rest: Any, n: int) -> Any:
    if rest is None:
        return rule

    def first_of(f, o):
        act, rsn = rule(f, o)
        if act != NO_MATCH:
            return act, rsn
        return rest(f, o)

    first_of.__name__ = f"first_of_{n}"
    return jit_inline(first_of)


_BASELINE = first_match(PROFILE_RULES["baseline"])
_SAO = first_match(PROFILE_RULES["sao"])
_DBT_STATE = first_match(PROFILE_RULES["dbt_state"])
_ORCHESTRA = first_match(PROFILE_RULES["orchestra"])
_TESTS = first_match(TEST_RULES)
_ORCHESTRA_TESTS = first_match(PROFILE_TEST_RULES["orchestra"])
finish_orchestra = jit_inline(orchestra_finish)


@jit_inline
def decide(f, o):
    """The decision of the profile ``o.profile`` for a node with facts ``f``."""
    prof = o.profile
    if f.flags & F_TEST:
        if prof == P_ORCHESTRA:
            return _ORCHESTRA_TESTS(f, o)
        return _TESTS(f, o)
    if prof == P_BASELINE:
        return _BASELINE(f, o)
    if prof == P_DBT_STATE:
        return _DBT_STATE(f, o)
    if prof == P_ORCHESTRA:
        # before orchestra_finish: a build it chose marks the node dirty even when dbt skips it
        return _ORCHESTRA(f, o)
    return _SAO(f, o)
