"""Both engines make the same decisions: random scenario files, every profile and option.

A hypothesis strategy writes small scenario files — sources with and without arrival data,
models of every materialization (Python too), seeds, snapshots, data tests (warn and error),
``build_after`` windows with ``updates_on``, dbt_state tolerances, arrivals, code changes
(cosmetic or not), failures, dropped tables, in-flight builds, an initial state, one or two
cron jobs (a full refresh, a baseline job) — and replays each on the plain engine
(``plan()`` at every run) and the compiled one: every row must be equal, times and dollars
included. History replays of generated estates are compared in ``test_kernel_equals_plain``.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saosim.replay.scenario_file import parse_scenario_file
from saosim.replay.scenario_file import replay_scenario as replay

pytestmark = pytest.mark.slow

START = datetime(2025, 1, 1, tzinfo=UTC)
CRONS = ("0 * * * *", "30 * * * *", "0 */2 * * *", "*/20 * * * *", "15 */3 * * *")
_FIELDS = ("run_at", "job", "unique_id", "action", "reason", "started_at", "finished_at",
           "cost_usd", "status")  # fmt: skip


def _iso(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@st.composite
def scenario_docs(draw: st.DrawFn) -> dict:
    n_sources = draw(st.integers(1, 3))
    sources = [
        {"name": f"raw.s{i}", "metadata": draw(st.booleans()) or i == 0} for i in range(n_sources)
    ]
    names = [s["name"] for s in sources]
    models = []
    window_h = draw(st.integers(3, 10))
    for i in range(draw(st.integers(1, 7))):
        parents = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        model: dict = {"name": f"m{i}", "parents": parents}
        model["materialized"] = draw(
            st.sampled_from(["table", "table", "view", "incremental", "ephemeral", "my_mat"])
        )
        if draw(st.integers(0, 9)) == 0:
            model["language"] = "python"
            model["materialized"] = "table"
        if draw(st.booleans()):
            model["freshness"] = {
                "build_after": {
                    "count": draw(st.integers(1, 4)),
                    "period": draw(st.sampled_from(["minute", "hour", "hour", "day"])),
                    "updates_on": draw(st.sampled_from(["any", "all"])),
                }
            }
        if draw(st.integers(0, 3)) == 0:
            model["state"] = {"lag_tolerance": draw(st.sampled_from(["30m", "1h", "2h", "0s"]))}
        if draw(st.integers(0, 2)) == 0:
            model["tests"] = [
                draw(st.sampled_from(["not_null", {"name": "unique", "severity": "warn"}]))
            ]
        if draw(st.integers(0, 4)) == 0:
            model["tags"] = ["hourly"]
        models.append(model)
        names.append(model["name"])
    model_names = [m["name"] for m in models]
    seeds = ["seed0"] if draw(st.booleans()) else []
    snapshots = []
    if draw(st.integers(0, 3)) == 0:
        snapshots = [{"name": "snap0", "parents": [sources[0]["name"]]}]
    events = []
    minutes = st.integers(0, window_h * 60 - 1)
    metadata = [s["name"] for s in sources if s["metadata"]]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["arrival"] * 4 + ["code_change", "failure",
                                     "table_dropped", "in_flight"]))  # fmt: skip
        event: dict = {"at": _iso(draw(minutes))}
        if kind == "arrival":
            event["arrival"] = draw(st.sampled_from(metadata))
        elif kind == "code_change":
            event["code_change"] = draw(st.sampled_from(model_names))
            if draw(st.integers(0, 3)) == 0:
                event["cosmetic"] = True
        else:
            event[kind] = draw(st.sampled_from(model_names))
        events.append(event)
    jobs = [{"name": "main", "cron": draw(st.sampled_from(CRONS))}]
    if draw(st.booleans()):
        second: dict = {"name": "second", "cron": draw(st.sampled_from(CRONS))}
        choice = draw(st.integers(0, 3))
        if choice == 0:
            second["full_refresh"] = True
        elif choice == 1:
            second["profile"] = "baseline"
        elif choice == 2:
            second["select"] = "tag:hourly"
            models[0]["tags"] = ["hourly"]
        jobs.append(second)
    doc = {
        "project": {"sources": sources, "models": models, "seeds": seeds, "snapshots": snapshots},
        "events": events,
        "jobs": jobs,
        "window": {"start": _iso(0), "end": _iso(window_h * 60)},
        "options": {
            "code_change_overrides_window": draw(st.booleans()),
            "no_metadata_source": draw(st.sampled_from(["always_fresh", "never_fresh"])),
            "lag_mode": draw(st.sampled_from(["build_age", "data_advance", "data_vs_build"])),
            "seed_state_orchestration": draw(st.booleans()),
            "verify_relations_exist": draw(st.booleans()),
        },
    }
    built = draw(st.lists(st.sampled_from(model_names), max_size=3, unique=True))
    if built:
        doc["initial_state"] = {m: _iso(-draw(st.integers(1, 300))) for m in built}
    return doc


@pytest.mark.parametrize("profile", ["baseline", "sao", "dbt_state", "orchestra"])
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(doc=scenario_docs())
def test_plain_and_fast_engines_decide_alike(profile: str, doc: dict) -> None:
    doc["profile"] = profile
    scenario = parse_scenario_file(doc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = replay(scenario, engine="plain")
        fast = replay(scenario, engine="fast")
    want = [tuple(r[k] for k in _FIELDS) for r in plain.rows]
    got = [tuple(r[k] for k in _FIELDS) for r in fast.rows]
    assert got == want
