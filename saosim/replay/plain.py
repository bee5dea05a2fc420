"""The plain replay: :func:`saosim.core.planner.plan` at every run of a timeline, with objects.

The reference the compiled kernel (:mod:`saosim.replay.kernel`) is tested against, row for row;
:func:`saosim.replay.engine.replay` takes a scenario here with ``engine="plain"`` (or when the
kernel cannot run it). The replay's own rules around the planner are described in
:mod:`saosim.replay.engine`.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.cost.runtime import fit_costs
>>> from saosim.replay.engine import Scenario
>>> from saosim.replay.timeline import Timeline
>>> estate = synthetic_estate(n_models=20, days=1, seed=1)
>>> log = PlainReplay(estate, Scenario("sao", "sao"), Timeline.from_estate(estate),
...                   fit_costs(estate)).run(progress=False)
>>> sorted(set(log["action"]))[:2]
['build', 'reuse']
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from saosim.core.arrays import project_index
from saosim.core.decision import Action, Profile
from saosim.core.planner import plan
from saosim.core.schedule import RunSchedule, threads_of
from saosim.core.state import NodeState, State
from saosim.cost.rates import TIB
from saosim.inputs.estate import Estate
from saosim.inputs.schema import TABLES
from saosim.replay.progress import Progress as _Progress
from saosim.replay.timeline import RunSpec, Timeline, history_node_runs, to_us

if TYPE_CHECKING:
    from saosim.cost.runtime import BuildCosts
    from saosim.replay.engine import Scenario

__all__ = ["PlainReplay"]

#: Profiles whose runs wait for a build in flight elsewhere and then see its result.
_GUARDED = frozenset({Profile.BASELINE, Profile.SAO, Profile.ORCHESTRA})
_SUCCESS = "success"


class PlainReplay:
    """The reference replay: :func:`saosim.core.planner.plan` at every run, objects and reasons."""

    def __init__(
        self, estate: Estate, scenario: Scenario, timeline: Timeline, costs: BuildCosts
    ) -> None:
        self.estate = estate
        self.project = estate.project
        self.scenario = scenario
        self.timeline = timeline
        self.costs = costs
        self.freshness = scenario.resolve_freshness(estate)
        self.profile = Profile(scenario.profile)
        self.guarded = self.profile in _GUARDED
        self.history = _HistoryRuntimes.from_estate(estate)
        self.failures = _FailureQueue.from_estate(estate) if not _all_history(timeline) else None
        self.decided = frozenset(project_index(self.project).order)
        self.tests = frozenset(u for u in self.decided if self.project.nodes[u].is_test)
        self.threads = threads_of(costs.cost_model)
        self.incremental = {
            u for u, n in self.project.nodes.items() if n.materialization == "incremental"
        }
        self.views = {u for u, n in self.project.nodes.items() if n.materialization == "view"}
        self.index = {u: i for i, u in enumerate(costs.runtime.node_ids)}

    def run(self, progress: bool) -> pl.DataFrame:
        state = State.empty()
        pending: list[tuple[int, int, str, NodeState | None]] = []
        in_flight_until: dict[str, datetime] = {}
        last_build_start: dict[str, datetime] = {}
        columns: dict[str, list[Any]] = {name: [] for name in (*TABLES["decisions"], "status")}
        runs = self.timeline.runs
        bar = _Progress(len(runs), self.scenario.name) if progress else None
        seq = 0
        for spec in runs:
            t = spec.at
            if not self.guarded:
                state, pending = _commit_finished(state, pending, to_us(t))
            failing = spec.failing
            if self.failures is not None:
                failing = failing | self.failures.due(t)
            runtimes, gaps, schedule = self._schedule(spec, in_flight_until, last_build_start)
            p = plan(
                self.project,
                state,
                at=t,
                source_versions=self.timeline.source_versions_at(t),
                freshness=self.freshness,
                profile=self.profile,
                options=self.scenario.options,
                select=spec.selected,
                full_refresh=spec.full_refresh,
                failing=failing,
                fingerprints=self.timeline.fingerprints_at(t),
                schedule=schedule,
            )
            finished, outcome = self._lay_out(
                spec, p, columns, runtimes, gaps, in_flight_until, last_build_start
            )
            if self.failures is not None:
                # a failure strikes the next build of the node, or the next run of a test
                self.failures.consume((set(p.built) | set(p.ran)) & failing, t)
            after = p.apply(outcome, finished_at=finished)
            changed = {
                uid: after.nodes.get(uid)
                for uid in set(after.nodes) | set(state.nodes)
                if after.nodes.get(uid) is not state.nodes.get(uid)
            }
            if self.guarded:
                state = after
            else:
                for uid, node_state in changed.items():
                    seq += 1
                    done = finished.get(uid, t)
                    heapq.heappush(pending, (to_us(done), seq, uid, node_state))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        frame = pl.DataFrame(columns, schema={**TABLES["decisions"], "status": pl.String})
        return frame

    def _schedule(
        self,
        spec: RunSpec,
        in_flight_until: dict[str, datetime],
        last_build_start: dict[str, datetime],
    ) -> tuple[dict[str, float], dict[str, float], RunSchedule]:
        """What each node of a run would take (known before deciding, for the run's clock),
        its gap since its last build started, and the run's schedule."""
        t = spec.at
        runtimes: dict[str, float] = {}
        gaps: dict[str, float] = {}
        recorded: dict[str, tuple[datetime, float | None]] = {}
        for uid in spec.selected:
            if uid not in self.decided:
                continue
            known = self.history.get(spec.run_id, uid) if spec.from_history else None
            if known is not None and known.started is not None:
                recorded[uid] = (known.started, known.runtime_s)
            gap = math.nan
            if uid not in self.tests:
                base = known.started if known is not None and known.started is not None else t
                gap = _gap_s(last_build_start.get(uid), base)
            gaps[uid] = gap
            runtimes[uid] = self._runtime(spec, uid, gap)
        busy = {u: in_flight_until[u] for u in runtimes if u in in_flight_until}
        schedule = RunSchedule(self.threads, runtimes, recorded, busy, self.timeline.arrivals)
        return runtimes, gaps, schedule

    def _lay_out(
        self,
        spec: RunSpec,
        p: Any,
        columns: dict[str, list[Any]],
        runtimes: dict[str, float],
        gaps: dict[str, float],
        in_flight_until: dict[str, datetime],
        last_build_start: dict[str, datetime],
    ) -> tuple[dict[str, datetime], dict[str, str]]:
        """Start/end (from the run's clock), runtime, cost and status of each decision."""
        t = spec.at
        finish: dict[str, datetime] = {}
        outcome: dict[str, str] = {}
        profile = self.profile.value
        for d in p.decisions:
            uid = d.node_id
            ready, end = d.started_at, d.finished_at
            runtime = 0.0
            cost = 0.0
            status: str | None = None
            if d.action is Action.BUILD:
                runtime = runtimes[uid]
                cost = self._price(spec, uid, gaps[uid], runtime, profile)
                failed = uid in p.failing
                status = "error" if failed else _SUCCESS
                outcome[uid] = status
                if not failed:
                    last_build_start[uid] = ready
            elif d.action is Action.RUN:
                runtime = runtimes[uid]
                cost = self._price(spec, uid, math.nan, runtime, profile)
                status = spec.test_status.get(uid, "pass")
                if uid in p.failing and status == "pass":
                    status = "fail"
                outcome[uid] = status
            elif d.action is Action.SKIP:
                status = "skipped"
                outcome[uid] = status
            finish[uid] = end
            if d.action is Action.BUILD:
                in_flight_until[uid] = end
            columns["scenario"].append(self.scenario.name)
            columns["run_id"].append(spec.run_id)
            columns["job_id"].append(spec.job_id)
            columns["run_at"].append(t)
            columns["unique_id"].append(uid)
            columns["action"].append(d.action.value)
            columns["reason"].append(d.reason.value)
            columns["reached_at"].append(d.reached_at)
            columns["started_at"].append(ready)
            columns["finished_at"].append(end)
            columns["runtime_s"].append(runtime)
            columns["cost_usd"].append(cost)
            columns["status"].append(status)
        return finish, outcome

    def _runtime(self, spec: RunSpec, uid: str, gap_s: float) -> float:
        known = self.history.get(spec.run_id, uid) if spec.from_history else None
        if known is None or known.runtime_s is None:
            return self.costs.runtime_s(uid, gap_s)
        runtime = known.runtime_s
        if uid in self.incremental and not math.isnan(gap_s) and not math.isnan(known.gap_s):
            # an incremental build catches up on the data since its last build
            rate = float(self.costs.runtime.b_s_per_hour[self.index[uid]])
            return max(runtime + rate * (gap_s - known.gap_s) / 3600.0, 0.05 * runtime)
        return runtime

    def _price(
        self, spec: RunSpec, uid: str, gap_s: float, runtime_s: float, profile: str
    ) -> float:
        """Dollars for one build or test run, priced the way
        :func:`saosim.cost.runtime.history_cost`
        prices the history, so a baseline replay of the history reproduces its cost."""
        model = self.costs.cost_model
        if not model.bills_views(profile) and uid in self.views:
            return 0.0
        if model.basis == "runtime":
            return float(model.seconds_usd(runtime_s))
        known = self.history.get(spec.run_id, uid) if spec.from_history else None
        value = None
        if known is not None:
            value = known.bytes if model.basis == "bytes" else known.cost
        if value is None:
            return self.costs.cost_usd(uid, None if math.isnan(gap_s) else gap_s, profile=profile)
        return value / TIB * model.usd_per_tib if model.basis == "bytes" else value


def _gap_s(previous: datetime | None, now: datetime) -> float:
    return math.nan if previous is None else (now - previous).total_seconds()


def _commit_finished(
    state: State, pending: list[tuple[int, int, str, NodeState | None]], now_us: int
) -> tuple[State, list[tuple[int, int, str, NodeState | None]]]:
    """Make builds that have finished by ``now_us`` visible (no-guard profiles)."""
    if not pending or pending[0][0] > now_us:
        return state, pending
    updates: dict[str, NodeState | None] = {}
    while pending and pending[0][0] <= now_us:
        _, _, uid, node_state = heapq.heappop(pending)
        updates[uid] = node_state
    merged = dict(state.nodes)
    for uid, node_state in updates.items():
        if node_state is None:
            merged.pop(uid, None)
        else:
            merged[uid] = node_state
    return State(merged), pending


def _all_history(timeline: Timeline) -> bool:
    return all(r.from_history for r in timeline.heads)


@dataclass(frozen=True, slots=True)
class _Known:
    runtime_s: float | None
    gap_s: float
    bytes: float | None
    cost: float | None
    started: datetime | None


class _HistoryRuntimes:
    """(run, node) → what that node run took in the history, and its gap since the node's
    previous successful build."""

    def __init__(self, table: dict[tuple[str, str], _Known]) -> None:
        self.table = table

    @classmethod
    def from_estate(cls, estate: Estate) -> _HistoryRuntimes:
        if estate.node_runs_count == 0:
            return cls({})
        rows = history_node_runs(estate)
        table = {
            (r, u): _Known(x, math.nan if g is None else float(g), b, c, t)
            for r, u, x, g, b, c, t in zip(
                rows["run_id"],
                rows["unique_id"],
                rows["rt"],
                rows["gap_s"],
                rows["bytes"],
                rows["cost"],
                rows["t"],
                strict=True,
            )
        }
        return cls(table)

    def get(self, run_id: str, uid: str) -> _Known | None:
        return self.table.get((run_id, uid))


class _FailureQueue:
    """Historical failures for a cron what-if: each strikes the node's next replay build."""

    def __init__(self, times: dict[str, list[datetime]]) -> None:
        self.times = times
        self.cursor = dict.fromkeys(times, 0)

    @classmethod
    def from_estate(cls, estate: Estate) -> _FailureQueue:
        failed = (
            estate.scan_node_runs()
            .filter(pl.col("status").is_in(("error", "runtime error")))
            .join(
                estate.runs.lazy().select("run_id", pl.col("started_at").alias("run_at")),
                on="run_id",
            )
            .group_by("unique_id")
            .agg(pl.col("run_at").sort())
            .collect()
        )
        return cls(dict(zip(failed["unique_id"], failed["run_at"].to_list(), strict=True)))

    def due(self, at: datetime) -> frozenset[str]:
        out = []
        for uid, times in self.times.items():
            i = self.cursor[uid]
            if i < len(times) and times[i] <= at:
                out.append(uid)
        return frozenset(out)

    def consume(self, struck: set[str], at: datetime) -> None:
        for uid in struck:
            times = self.times[uid]
            i = self.cursor[uid]
            while i < len(times) and times[i] <= at:
                i += 1
            self.cursor[uid] = i
