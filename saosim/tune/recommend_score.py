"""Scoring recommender candidates: one estate compiled once, every candidate replayed by the
same kernel and measured by the same metrics as ``saosim simulate``.

A :class:`CompiledEstate` holds what every candidate shares — the estate, its fitted costs, the
baseline's decision log and staleness under the user's SLAs, and the kernel's inputs for each
job schedule searched — and scores a :class:`Candidate` (one window and ``updates_on`` per
buildable node, and a schedule) by re-setting the per-node freshness arrays and replaying, as
:class:`saosim.tune.tuner.Tuner` does. It holds no closure, so it pickles: the process pool and
Ray (:mod:`saosim.tune.recommend_exec`) ship it to each worker once.

>>> from saosim.synth.estate import synthetic_estate
>>> est = synthetic_estate(n_models=30, days=2, seed=3)
>>> ce = CompiledEstate.build(est, {"default": "26h"}, schedules=[HISTORY])
>>> score = ce.score(Candidate.uniform(ce, 23 * 3600))
>>> score.bill_usd < ce.baseline_score.bill_usd, 0 <= score.sla_breach_pct <= 100
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from saosim.core.decision import Profile, parse_profile
from saosim.cost.rates import CostModel
from saosim.cost.runtime import BuildCosts, fit_costs
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.metrics.tables import staleness
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.slas import Slas
from saosim.replay.comparison import Comparison
from saosim.replay.decision_log import DecisionLog
from saosim.replay.engine import Scenario, replay
from saosim.replay.kernel import fast as kernel
from saosim.replay.kernel.compile import compile_replay
from saosim.replay.kernel.log import assemble_log
from saosim.replay.timeline import Job, Timeline
from saosim.tune.tuner import retier

__all__ = ["HISTORY", "Candidate", "CompiledEstate", "Schedule", "Score", "window_build_after"]


@dataclass(frozen=True)
class Schedule:
    """The jobs a candidate runs on: the history's own runs (``jobs=None``) or cron jobs.

    >>> Schedule.parse("0 * * * *").jobs[0].select
    '*'
    >>> [j.select for j in Schedule.parse("0 * * * *@tag:hourly; 0 3 * * *").jobs]
    ['tag:hourly', '*']
    """

    name: str
    jobs: tuple[Job, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``history``, or ``CRON[@SELECTOR]`` jobs separated by ``;`` (selector default ``*``)."""
        text = text.strip()
        if text == "history":
            return HISTORY
        jobs = []
        for i, part in enumerate(p.strip() for p in text.split(";")):
            if not part:
                continue
            cron, _, select = part.partition("@")
            jobs.append(Job(f"job{i + 1}", cron.strip(), select.strip() or "*"))
        if not jobs:
            raise ConfigError(f"{text!r} names no job; use CRON[@SELECTOR]", field="--schedule")
        return cls(text, tuple(jobs))

    def describe(self) -> str:
        """``the history's jobs`` or ``0 * * * * on *`` (for reasons and the report)."""
        if self.jobs is None:
            return "the history's jobs"
        return "; ".join(f"{j.cron} on {j.select}" for j in self.jobs)


HISTORY = Schedule("history")


def window_build_after(window_s: int, updates_on: str = "any") -> BuildAfter | None:
    """The ``build_after`` of a window in seconds, in the largest period that divides it.

    >>> window_build_after(20 * 3600), window_build_after(0)
    (BuildAfter(count=20, period='hour', updates_on='any'), None)
    >>> window_build_after(86400).period, window_build_after(3300).period
    ('day', 'minute')
    """
    if window_s <= 0:
        return None
    for period, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if window_s % size == 0:
            return BuildAfter(int(window_s // size), period, updates_on)
    raise ConfigError(f"window {window_s}s is not a whole number of minutes", field="window")


@dataclass(frozen=True)
class Candidate:
    """One setting per buildable node (in :attr:`CompiledEstate.nodes` order) on a schedule.

    ``windows`` are ``build_after`` seconds (0: no window; for ``dbt_state`` the lag
    tolerance too); ``updates_all`` is true where ``updates_on: all``.
    """

    label: str
    schedule: str
    windows: tuple[int, ...]
    updates_all: tuple[bool, ...]

    @property
    def key(self) -> tuple[Any, ...]:
        """What decides the score (the label does not)."""
        return (self.schedule, self.windows, self.updates_all)

    @classmethod
    def uniform(cls, ce: CompiledEstate, window_s: int, schedule: str = "history") -> Candidate:
        """Every node on one window (the search's coarsest candidates)."""
        n = len(ce.nodes)
        return cls(f"all {window_s}s", schedule, (int(window_s),) * n, (False,) * n)


@dataclass(frozen=True)
class Score:
    """A candidate's figures, as the summary of ``saosim simulate`` gives them.

    ``price_usd`` is the bill when the rates give one, else the query-seconds cost; ``miss_h``
    is each node's hours over its SLA (``nan`` without an SLA), in node order.
    """

    cost_usd: float
    bill_usd: float | None
    sla_breach_pct: float
    miss_h: np.ndarray = field(repr=False)

    @property
    def price_usd(self) -> float:
        return self.cost_usd if self.bill_usd is None else self.bill_usd


@dataclass
class CompiledEstate:
    """Everything candidates share, built once (:meth:`build`) and pickled to workers."""

    estate: Estate
    cost_model: CostModel
    slas: Slas
    profile: Profile
    costs: BuildCosts
    start: datetime
    end: datetime
    schedules: dict[str, Schedule]
    compiled: dict[str, Any]
    baseline_log: pl.DataFrame
    baseline_stale: dict[str, Any]
    baseline_score: Score
    nodes: tuple[str, ...]
    sla_s: np.ndarray  # per node, nan without an SLA
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        estate: Estate,
        slas: Slas | Mapping[str, Any] | str | Path,
        *,
        cost_model: CostModel | None = None,
        schedules: Sequence[Schedule] = (HISTORY,),
        profile: Profile | str = Profile.SAO,
    ) -> CompiledEstate:
        """Replay the baseline and compile the kernel's runs of every schedule, once."""
        import time

        t0 = time.perf_counter()
        declared = Slas.coerce(slas)
        if declared is None:
            raise ConfigError("the recommender needs SLAs to keep", field="slas")
        profile = parse_profile(profile)
        if profile not in (Profile.SAO, Profile.DBT_STATE):
            raise ConfigError(f"profile {profile.value!r}: recommend sao or dbt_state", "profile")
        # what-if runs take dbt's threads from the rates, else from the history, as in simulate
        model = (cost_model or CostModel()).with_history_threads(estate.history_threads)
        costs = fit_costs(estate, model)
        history = Timeline.from_estate(estate)
        base = Scenario("baseline", Profile.BASELINE)
        baseline_log = replay(estate, base, timeline=history, costs=costs)
        compiled: dict[str, Any] = {}
        for sched in schedules:
            timeline = (
                history
                if sched.jobs is None
                else Timeline.from_estate(
                    estate, jobs=sched.jobs, start=history.start, end=history.end
                )
            )
            scenario = Scenario("candidate", profile, jobs=sched.jobs)
            compiled[sched.name] = compile_replay(estate, scenario, timeline, costs)
        t1 = time.perf_counter()
        nodes = tuple(estate.project.buildable)
        ce = cls(
            estate, model, declared, profile, costs, history.start, history.end,
            {s.name: s for s in schedules}, compiled, baseline_log, {}, None,  # type: ignore[arg-type]
            nodes, np.full(len(nodes), np.nan),
        )  # fmt: skip
        base_cmp = ce._comparison(base, baseline_log.head(0))
        ce.baseline_stale = {"baseline": base_cmp.staleness()["baseline"]}
        targets = base_cmp.slas.sla_s
        ce.sla_s = np.array([targets.get(u, np.nan) for u in nodes], dtype=np.float64)
        ce.baseline_score = ce._score_of(base_cmp, "baseline")
        ce.timings = {"compile_s": t1 - t0, "baseline_s": time.perf_counter() - t1}
        return ce

    def _comparison(self, scenario: Scenario, log: pl.DataFrame) -> Comparison:
        scenarios = (Scenario("baseline", Profile.BASELINE),)
        logs = {"baseline": self.baseline_log}
        if scenario.profile != Profile.BASELINE:
            scenarios = (*scenarios, scenario)
            logs[scenario.name] = log
        return Comparison(
            estate=self.estate,
            scenarios=scenarios,
            log=DecisionLog.of_scenarios(logs),
            cost_model=self.cost_model,
            start=self.start,
            end=self.end,
            sla_declared=self.slas,
        )

    def freshness(self, cand: Candidate) -> FreshnessConfig:
        """The per-node settings of a candidate (``lag_tolerance`` = window for ``dbt_state``)."""
        per_node = {}
        for uid, window, every in zip(self.nodes, cand.windows, cand.updates_all, strict=True):
            ba = window_build_after(int(window), "all" if every else "any")
            lag = float(window) if self.profile == Profile.DBT_STATE else None
            per_node[uid] = NodeFreshness(ba, lag)
        return FreshnessConfig(per_node)

    def score(self, cand: Candidate) -> Score:
        """Replay one candidate and measure it against the baseline under the SLAs."""
        if cand.schedule not in self.compiled:
            raise ConfigError(f"schedule {cand.schedule!r} was not compiled", field="schedule")
        fresh = self.freshness(cand)
        sched = self.schedules[cand.schedule]
        scenario = Scenario("candidate", self.profile, freshness=fresh, jobs=sched.jobs)
        compiled = retier(self.compiled[cand.schedule], scenario, self.estate)
        codes = kernel._run(compiled, False, np.zeros(1, dtype=np.int64))
        log = assemble_log(compiled, "candidate", codes)
        cmp = self._comparison(scenario, log)
        mine = staleness(
            log,
            project=self.estate.project,
            arrivals=self.estate.source_arrivals,
            freshness={"candidate": fresh},
            start=self.start,
            end=self.end,
            slas=cmp.slas or None,
        )
        cmp.metrics(staleness={**self.baseline_stale, **mine})
        return self._score_of(cmp, "candidate")

    def _score_of(self, cmp: Comparison, name: str) -> Score:
        row = cmp.summary().filter(pl.col("scenario") == name).row(0, named=True)
        per = cmp.per_model().filter(pl.col("scenario") == name)
        miss = dict(zip(per["unique_id"], per["sla_miss_hours"].fill_null(np.nan), strict=True))
        miss_h = np.array([miss.get(u, np.nan) for u in self.nodes], dtype=np.float64)
        miss_h[np.isnan(self.sla_s)] = np.nan
        bill = row.get("bill_usd")
        return Score(
            float(row["cost_usd"]),
            None if bill is None else float(bill),
            float(row["sla_breach_pct"] or 0.0),
            miss_h,
        )
