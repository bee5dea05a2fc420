"""The history's compiled runs are built once per estate and timeline and shared, read-only, by
every scenario of a comparison and by the recommender's candidates."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from saosim.cost.runtime import fit_costs
from saosim.inputs.estate import Estate
from saosim.replay import plain
from saosim.replay.engine import Scenario, simulate
from saosim.replay.kernel import compile as kernel_compile
from saosim.replay.kernel.compile import compile_replay, shared_runs
from saosim.replay.timeline import Timeline, history_codes, history_node_runs
from saosim.synth.estate import synthetic_estate
from saosim.tune.recommend_score import HISTORY, CompiledEstate


@cache
def _estate() -> Estate:
    return synthetic_estate(n_models=40, days=2, seed=7)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the history's reads, by either engine (a spy: the real function runs)."""
    seen: list[int] = []

    def spy(real: Callable[[Estate], object]) -> Callable[[Estate], object]:
        def counted(estate: Estate) -> object:
            seen.append(id(estate))
            return real(estate)

        return counted

    monkeypatch.setattr(kernel_compile, "history_codes", spy(history_codes))
    monkeypatch.setattr(plain, "history_node_runs", spy(history_node_runs))
    return seen


def test_every_scenario_of_a_comparison_shares_one_read_of_the_history(
    calls: list[int],
) -> None:
    scenarios = [Scenario("sao", "sao"), Scenario("dbt", "dbt_state"), Scenario("o", "orchestra")]
    cmp = simulate(_estate(), scenarios, engine="fast")
    assert cmp.summary().height == 4  # the baseline and three scenarios
    assert len(calls) == 1


def test_the_recommender_reads_the_history_once_for_its_baseline_and_candidates(
    calls: list[int],
) -> None:
    CompiledEstate.build(_estate(), {"default": "26h"}, schedules=[HISTORY])
    assert len(calls) == 1


def test_shared_arrays_are_read_only_and_tied_to_their_estate(calls: list[int]) -> None:
    est = _estate()
    timeline = Timeline.from_estate(est)
    costs = fit_costs(est)
    first = compile_replay(est, Scenario("sao", "sao"), timeline, costs)
    second = compile_replay(est, Scenario("b", "baseline"), timeline, costs)
    assert len(calls) == 1
    assert first.sel_node is second.sel_node and first.cptr is second.cptr
    for name, value in shared_runs(est, timeline).items():
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, name
    with pytest.raises(ValueError, match="read-only"):
        first.sel_rt[0] = 1.0
    # the scenario's own arrays stay its own
    assert first.run_profile is not second.run_profile and first.flags is not second.flags
    # the same timeline against another estate (an equal copy) compiles afresh
    other = Estate(est.project, runs=est.runs, node_runs=est.node_runs.clone())
    third = compile_replay(other, Scenario("sao", "sao"), timeline, costs)
    assert len(calls) == 2
    assert np.array_equal(third.sel_rt, first.sel_rt, equal_nan=True)


def test_the_history_compiled_in_small_gathers_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The history's columns are gathered a few million rows at a time; gathers of 7 rows
    (cutting every run apart) give the very same arrays."""
    from saosim.replay import timeline as timeline_module

    est = synthetic_estate(n_models=30, days=3, seed=13)
    whole = kernel_compile._compile_runs(est, Timeline.from_estate(est))
    monkeypatch.setattr(timeline_module, "GATHER_ROWS", 7)
    pieces = kernel_compile._compile_runs(est, Timeline.from_estate(est))
    assert whole["sel_node"].size > 100  # many gathers of 7
    for name, value in whole.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, pieces[name], equal_nan=value.dtype.kind == "f"), name
    # the history records no dollars: an empty column, read by the loop as "not known"
    assert whole["sel_cost"].size == 0 and whole["sel_rt"].size == whole["sel_node"].size
