"""The planner's state at a moment of a replay, rebuilt from the scenario's decision log.

:func:`state_at` answers "what would the state store hold at time t if this scenario had run
for real?" — what :func:`saosim.plan` needs to plan the next run. It reads the decision log of
a :class:`~saosim.replay.comparison.Comparison`, so no replay is repeated.

A node's entry comes from its last successful build finished by ``at``: ``built_at`` is that
build's end, the fingerprint its code at that run, and ``seen_versions`` the data version each
(effective) parent had when the run decided it — a source's last arrival at or before the
run's start, a model's end of its last successful build in that run or an earlier one (one
state shared by all jobs; SAO-SEMANTICS "Shared state"). A data test's entry comes from its
last run. ``tests_failed`` marks a node whose error-severity test failed at its last run,
after the node's last build.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario, simulate
>>> cmp = simulate(synthetic_estate(n_models=30, days=1, seed=2), [Scenario("sao")])
>>> state = state_at(cmp, "sao")
>>> len(state) > 0
True
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from saosim.core.arrays import effective_parents
from saosim.core.decision import Profile
from saosim.core.state import NodeState, State
from saosim.errors import ConfigError
from saosim.project.graph import Project
from saosim.replay.timeline import Timeline

if TYPE_CHECKING:
    from saosim.replay.comparison import Comparison

__all__ = ["state_at"]

_TEST_RAN = ("pass", "fail", "warn")


def state_at(comparison: Comparison, scenario: str, at: datetime | None = None) -> State:
    """The state ``scenario``'s replay had at ``at`` (default: when its last build finished).

    Args:
        comparison: a replay (:func:`saosim.simulate`) with a history timeline.
        scenario: a scenario of it; profile ``baseline``, ``sao`` or ``orchestra`` (whose
            runs see every earlier run's builds; ``dbt_state`` is refused).
        at: a timezone-aware time.

    Raises:
        ConfigError: unknown scenario, ``dbt_state`` profile, or a naive ``at``.
    """
    by_name = {s.name: s for s in comparison.scenarios}
    if scenario not in by_name:
        raise ConfigError(
            f"no scenario named {scenario!r}; the scenarios are {', '.join(by_name)}",
            field="scenario",
        )
    chosen = by_name[scenario]
    if chosen.profile is Profile.DBT_STATE:
        raise ConfigError(
            "state_at rebuilds states of baseline, sao and orchestra replays; dbt_state views "
            "carry data versions the decision log does not hold",
            field="scenario",
        )
    if at is not None and at.tzinfo is None:
        raise ConfigError(f"{at.isoformat()} has no time zone; pass an aware UTC time", field="at")
    estate = comparison.estate
    project = estate.project
    log = _rows(comparison.decisions_of(scenario), at)
    if log.height == 0:
        return State.empty()
    timeline = Timeline.from_estate(
        estate, jobs=chosen.jobs, start=comparison.start, end=comparison.end
    )
    runs = log.select("run_idx", "run_at").unique().sort("run_idx")
    run_at = dict(zip(runs["run_idx"], runs["run_at"], strict=True))
    builds = _history(log.filter((pl.col("action") == "build") & (pl.col("status") == "success")))
    tests = _history(log.filter((pl.col("action") == "run") & pl.col("status").is_in(_TEST_RAN)))
    test_status = dict(
        log.filter((pl.col("action") == "run") & pl.col("status").is_in(_TEST_RAN))
        .group_by("unique_id")
        .agg(pl.col("status").sort_by("run_idx").last())
        .iter_rows()
    )
    nodes: dict[str, NodeState] = {}
    fingerprints: dict[int, dict[str, str]] = {}
    for history in (builds, tests):
        for uid, (idxs, finishes) in history.items():
            r, built_at = idxs[-1], finishes[-1]
            t = run_at[r]
            if r not in fingerprints:
                fingerprints[r] = timeline.fingerprints_at(t)
            node = project.nodes[uid]
            fp = fingerprints[r].get(uid, node.fingerprint or node.checksum)
            seen = _seen(project, uid, r, t, builds, timeline)
            nodes[uid] = NodeState(built_at, fp, seen, built_at)
    for test_id, status in test_status.items():
        test = project.nodes[test_id]
        if status != "fail" or (test.severity or "error").lower() == "warn":
            continue
        ran = tests[test_id][0][-1]
        for parent in project.parents(test_id):
            if parent in nodes and builds.get(parent, ((-1,),))[0][-1] <= ran:
                old = nodes[parent]
                nodes[parent] = NodeState(
                    old.built_at,
                    old.fingerprint,
                    old.seen_versions,
                    old.data_version,
                    old.table_exists,
                    True,
                )
    return State(nodes)


def _rows(log: pl.DataFrame, at: datetime | None) -> pl.DataFrame:
    frame = log.with_columns(
        pl.col("unique_id").cast(pl.String),
        pl.col("action").cast(pl.String),
        pl.col("status").cast(pl.String),
        pl.col("run_id").cast(pl.String),
    )
    if at is not None:
        frame = frame.filter(pl.col("run_at") <= at, pl.col("finished_at") <= at)
    order = frame.select("run_at", "run_id").unique().sort("run_at", "run_id")
    order = order.with_row_index("run_idx")
    return frame.join(order, on=["run_at", "run_id"]).sort("run_idx", "started_at")


def _history(rows: pl.DataFrame) -> dict[str, tuple[list[int], list[datetime]]]:
    """Per node, the run indexes and finish times of its rows, in run order."""
    grouped = rows.group_by("unique_id").agg(
        pl.col("run_idx").sort(), pl.col("finished_at").sort_by("run_idx")
    )
    return {
        u: (list(i), list(f))
        for u, i, f in zip(
            grouped["unique_id"], grouped["run_idx"], grouped["finished_at"], strict=True
        )
    }


def _seen(
    project: Project,
    uid: str,
    run_idx: int,
    run_at: datetime,
    builds: dict[str, tuple[list[int], list[datetime]]],
    timeline: Timeline,
) -> dict[str, datetime]:
    parents: Iterable[str] = effective_parents(project, uid)
    seen: dict[str, datetime] = {}
    sources = None
    for p in parents:
        if project.nodes[p].resource_type == "source":
            if sources is None:
                sources = timeline.source_versions_at(run_at)
            if p in sources:
                seen[p] = sources[p]
            continue
        history = builds.get(p)
        if history is None:
            continue
        k = bisect_right(history[0], run_idx)
        if k:
            seen[p] = history[1][k - 1]
    return seen
