"""Cadence lint: a build_after window at the job's interval halves the job's cadence."""

from __future__ import annotations

import pytest

from saosim.project.graph import Project
from saosim.project.slas import hours_text
from saosim.project.tiers import Tiers
from saosim.replay.cadence import JobCadence, job_cadences, lint_cadence, suggest_window_s
from saosim.replay.engine import Scenario, simulate
from saosim.replay.timeline import Job
from saosim.synth.estate import synthetic_estate

PROJECT = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"], "rpt": ["fct"]})
ALL = frozenset(PROJECT.buildable)
DAY, HOUR = 86400.0, 3600.0


def _lint(window: dict, jobs: list[JobCadence]):
    cfg = Tiers.from_dict({"default": {"build_after": window}}).resolve(PROJECT)
    return lint_cadence(PROJECT, cfg, jobs, scenario="tuned")


@pytest.mark.parametrize(
    ("window", "interval", "nth", "suggested"),
    [
        ({"count": 1, "period": "day"}, DAY, 2, "23h"),  # the demo's old edge
        ({"count": 1, "period": "hour"}, HOUR, 2, "55m"),
        ({"count": 2, "period": "day"}, DAY, 3, "47h"),
        ({"count": 1, "period": "day"}, 6 * HOUR, 5, "23h45m"),
    ],
)
def test_a_window_at_the_interval_warns_with_a_window_just_under(window, interval, nth, suggested):
    (warning,) = _lint(window, [JobCadence("job", interval, ALL)])
    assert warning.every_nth_run == nth and len(warning.nodes) == 3
    assert hours_text(warning.suggested_s) == suggested
    text = warning.message()
    assert "3 nodes" in text and f"every {nth}" in text and suggested in text and "'tuned'" in text


@pytest.mark.parametrize(
    ("window", "interval"),
    [
        ({"count": 23, "period": "hour"}, DAY),  # just under the interval: the cadence holds
        ({"count": 1, "period": "day"}, HOUR),  # 25 runs instead of 24 hours: not worth a warning
        ({"count": 7, "period": "day"}, DAY),
    ],
)
def test_windows_the_interval_barely_stretches_do_not_warn(window, interval):
    assert _lint(window, [JobCadence("job", interval, ALL)]) == []


def test_the_most_frequent_job_that_selects_a_node_counts():
    jobs = [
        JobCadence("daily", DAY, ALL),
        JobCadence("hourly", HOUR, frozenset({"model.demo.stg"})),
    ]
    (warning,) = _lint({"count": 1, "period": "day"}, jobs)
    assert warning.nodes == ("model.demo.fct", "model.demo.rpt")
    assert warning.jobs == ("daily",)


def test_suggested_windows_are_round_and_under_the_interval():
    for interval in (600.0, 900.0, HOUR, 6 * HOUR, DAY, 7 * DAY):
        assert 60 <= suggest_window_s(interval) < interval


def test_history_and_cron_cadences_and_the_comparison_warns():
    estate = synthetic_estate(n_models=60, days=4, seed=2)
    history = {j.name: j for j in job_cadences(estate)}
    assert history["daily_full"].interval_s == DAY
    assert history["hourly"].interval_s == HOUR
    # the daily job builds every node that runs (ephemerals never appear in run results)
    ran = {u for u in estate.project.buildable if not estate.project.nodes[u].is_ephemeral}
    assert history["daily_full"].nodes == ran
    (cron,) = job_cadences(estate, [Job("n", "0 3 * * *", "*")])
    assert cron.interval_s == DAY
    tiers = Tiers.from_dict({"default": {"build_after": {"count": 1, "period": "day"}}})
    cmp = simulate(estate, [Scenario("tuned", tiers=tiers)], engine="plain")
    warnings = cmp.cadence_warnings()
    assert warnings and all(w.scenario == "tuned" for w in warnings)
    assert max(len(w.nodes) for w in warnings) > 0
