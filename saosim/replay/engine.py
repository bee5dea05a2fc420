"""The replay: every job run of a timeline through the planner, state carried run to run.

:func:`simulate` replays one estate under several :class:`Scenario` s (baseline, SAO on, tuned
tiers …) and returns a :class:`~saosim.replay.comparison.Comparison`. Each scenario's replay calls
the
one planner (:func:`saosim.core.planner.plan`) at every run — the ``plain`` engine
(:mod:`saosim.replay.plain`) — or the compiled
kernel (:mod:`saosim.replay.kernel.fast`), which is tested to make exactly the same decisions.

Rules the replay adds around the planner (SAO-SEMANTICS "Shared state", "Concurrency"):

- One state for all jobs: a build by any job counts for every job.
- Overlapping runs: under ``sao`` and ``orchestra`` a run that reaches a node another run is
  building waits for that build and then decides again, so it sees that build's result; under
  ``dbt_state`` (no guard) a build is visible only once it has finished, so two overlapping runs
  may both build the node, and both builds are billed.
- Failures: a node that failed in a run of the history fails in the replay when the replay
  builds it at that run; its children are skipped. In a cron what-if, each historical failure
  strikes the first replay build of that node at or after the time it happened.
- Runtimes: a build at a run of the history takes what it took then; an incremental model's
  runtime is shifted by its fitted catch-up rate for the difference between the replay's gap
  since its last build and the history's. Elsewhere the fitted model gives the runtime.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from saosim.core.decision import Profile, ProfileOptions, parse_profile
from saosim.cost.rates import CostModel
from saosim.cost.runtime import fit_costs
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.inputs.history_rows import history_rows
from saosim.project.freshness import FreshnessConfig
from saosim.project.slas import Slas, resolve_slas
from saosim.replay.comparison import Comparison
from saosim.replay.decision_log import SPILL_ROWS, DecisionLog, PartWriter
from saosim.replay.kernel import fast as kernel
from saosim.replay.plain import PlainReplay
from saosim.replay.progress import want_progress as _want_progress
from saosim.replay.side_by_side import side_by_side
from saosim.replay.timeline import Job, Timeline

if TYPE_CHECKING:
    from saosim.cost.rates import CostModel
    from saosim.cost.runtime import BuildCosts
    from saosim.replay.comparison import Comparison

__all__ = ["Scenario", "check_names", "replay", "simulate"]


@dataclass(frozen=True)
class Scenario:
    """One configuration to replay.

    Args:
        name: how it shows in the summary.
        profile: ``baseline``, ``sao``, ``dbt_state`` or ``orchestra``.
        freshness: resolved freshness per node; ``None`` uses the project's own settings.
        tiers: saosim tiers (:class:`saosim.project.tiers.Tiers`), resolved against the project at
            replay time; overrides ``freshness``.
        jobs: what-if cron jobs; ``None`` replays the history's own runs.
        options: the profile's named options.
        cost_model: rates for this scenario; ``None`` uses the one given to :func:`simulate`.
        window: ``(start, end)`` of the replay (a scenario file's ``window:``), for an estate
            without runs; :func:`simulate`'s own ``start``/``end`` win over it.
        source: the scenario file it was read from (named in errors).

    >>> Scenario("sao-on", "sao").profile
    <Profile.SAO: 'sao'>
    """

    name: str
    profile: Profile | str = Profile.SAO
    freshness: FreshnessConfig | None = None
    tiers: Any = None
    jobs: tuple[Job, ...] | None = None
    options: ProfileOptions = field(default_factory=ProfileOptions)
    cost_model: CostModel | None = None
    window: tuple[datetime, datetime] | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", parse_profile(self.profile))
        if self.jobs is not None:
            object.__setattr__(self, "jobs", tuple(self.jobs))
            for job in self.jobs:
                if job.profile is not None:
                    raise ConfigError(
                        f"{job.profile!r}: a job of its own profile works in scenario files; "
                        f"scenario {self.name!r} replays every job as {self.profile.value}",
                        field=f"jobs.{job.name}.profile",
                    )
        if not self.name or not isinstance(self.name, str):
            raise ConfigError("a scenario needs a name", field="name")

    def resolve_freshness(self, estate: Estate) -> FreshnessConfig:
        """The per-node freshness this scenario replays with."""
        if self.tiers is not None:
            return self.tiers.resolve(estate.project)
        if self.freshness is not None:
            return self.freshness
        return FreshnessConfig.from_project(estate.project)


def simulate(
    estate: Estate,
    scenarios: Sequence[Scenario] | Iterable[Scenario],
    *,
    cost_model: CostModel | None = None,
    engine: str = "auto",
    start: datetime | None = None,
    end: datetime | None = None,
    progress: bool | None = None,
    slas: Slas | Mapping[str, Any] | str | Path | None = None,
    spill_rows: int = SPILL_ROWS,
) -> Comparison:
    """Replay ``estate`` under each scenario and compare them.

    Args:
        estate: the project and its history.
        scenarios: what to compare; the first ``baseline`` one is the reference for savings
            (one is added, named ``baseline``, if none is given). Names are unique, and the
            name ``baseline`` is reserved for a scenario of the baseline profile.
        cost_model: rates (default :class:`saosim.cost.rates.CostModel` defaults).
        engine: ``plain`` (the planner at every run), ``fast`` (the compiled kernel) or ``auto``.
        start, end: replay window; default the scenarios' ``window`` (they must agree), else
            the estate's time span.
        progress: show a progress bar; default only when stderr is a terminal.
        slas: the comparison's SLAs, ``{selector: max staleness}`` (e.g. ``{"default": "26h",
            "tag:hourly": "2h"}``), a ``slas:`` YAML file or :class:`~saosim.project.slas.Slas`;
            with the tiers' ``sla:`` keys, every scenario is scored against them
            (:func:`saosim.project.slas.resolve_slas`; a conflict is an error naming both).
        spill_rows: a scenario whose log has at least this many rows (fast engine) is written
            to Parquet files in a temporary folder while it is replayed, not kept in memory
            (:mod:`saosim.replay.decision_log`); the comparison reads it from there.

    >>> from saosim.synth.estate import synthetic_estate
    >>> estate = synthetic_estate(n_models=60, days=2, seed=1)
    >>> cmp = simulate(estate, [Scenario("sao", "sao")], engine="plain")
    >>> cmp.summary()["scenario"].to_list()
    ['baseline', 'sao']
    """

    chosen = list(scenarios)
    check_names(chosen)
    start, end = _window(chosen, start, end)
    if not any(s.profile is Profile.BASELINE for s in chosen):
        # the baseline is what really ran; an estate without runs has none, so its baseline
        # rebuilds everything on the what-if schedule the scenarios share
        schedules = {s.jobs for s in chosen}
        jobs = next(iter(schedules)) if estate.runs.height == 0 and len(schedules) == 1 else None
        chosen.insert(0, Scenario("baseline", Profile.BASELINE, jobs=jobs))
    declared = Slas.coerce(slas)
    resolve_slas(estate.project, declared, chosen)  # a conflict fails before any replay
    # a run's schedule takes dbt's threads from the rates, else from the history
    history_threads = estate.history_threads
    cost_model = (cost_model or CostModel()).with_history_threads(history_threads)
    show = _want_progress(progress)
    log = DecisionLog()
    timelines: dict[tuple[Job, ...] | None, Timeline] = {}
    for jobs in dict.fromkeys(s.jobs for s in chosen):
        timelines[jobs] = Timeline.from_estate(estate, jobs=jobs, start=start, end=end)
    models = [(s.cost_model or cost_model).with_history_threads(history_threads) for s in chosen]
    compiled = {id(t): t for s in chosen if _compiled(s, t := timelines[s.jobs], engine)}
    if estate.node_runs_count:
        history_rows(estate)  # the history as numbers, read by both steps below: made once
    # the kernel's shared inputs compile on one core while the costs are fitted on the other
    # (each ~9 s on a 10,000-model year; polars and numpy work without the GIL for most of it)
    with ThreadPoolExecutor(max_workers=1) as pool:
        shared = [pool.submit(kernel.compile_shared, estate, t) for t in compiled.values()]
        fitted: list[tuple[CostModel, BuildCosts]] = []
        for model in models:
            # one fit per cost model: the history is the same for every scenario
            if not any(m == model for m, _ in fitted):
                fitted.append((model, fit_costs(estate, model)))
        for done in shared:
            done.result()

    def replay_one(scenario: Scenario, model: CostModel) -> tuple[pl.DataFrame, PartWriter]:
        writer = log.writer(scenario.name, min_rows=spill_rows)
        frame = replay(
            estate,
            scenario,
            timeline=timelines[scenario.jobs],
            costs=next(c for m, c in fitted if m == model),
            engine=engine,
            progress=show,
            sink=writer,
        )
        return frame, writer

    # compiled replays run side by side: each is its loop on one core and its log's writer,
    # lighter, on another; the plain engine holds the GIL, so its replays run one by one
    every_compiled = all(_compiled(s, timelines[s.jobs], engine) for s in chosen)
    workers = min(len(chosen), os.cpu_count() or 1) if every_compiled else 1
    done = side_by_side([partial(replay_one, s, m) for s, m in zip(chosen, models, strict=True)],
                        workers)  # fmt: skip
    for scenario, (frame, writer) in zip(chosen, done, strict=True):
        log.add(scenario.name, frame, writer)
    timeline = next(iter(timelines.values()))
    return Comparison(
        estate=estate,
        scenarios=tuple(chosen),
        log=log,
        cost_model=cost_model,
        start=timeline.start,
        end=timeline.end,
        sla_declared=declared,
    )


def check_names(scenarios: Sequence[Scenario]) -> None:
    """Scenario names are unique, and ``baseline`` names only a scenario of the baseline profile
    (else its decisions would be merged with the baseline's). One line naming scenario and file.

    >>> check_names([Scenario("baseline", "sao", source="sao.yml")])
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: sao.yml, field "scenario": scenario 'baseline' has profile sao; \
the name baseline is reserved for the baseline profile: rename it (e.g. --scenario sao=sao.yml)
    """
    seen: dict[str, Scenario] = {}
    for s in scenarios:
        if s.name == "baseline" and s.profile is not Profile.BASELINE:
            hint = f" (e.g. --scenario {s.profile.value}={s.source})" if s.source else ""
            raise ConfigError(
                f"scenario 'baseline' has profile {s.profile.value}; the name baseline is "
                f"reserved for the baseline profile: rename it{hint}",
                path=s.source,
                field="scenario",
            )
        if s.name in seen:
            files = [f for f in (seen[s.name].source, s.source) if f]
            where = f" ({' and '.join(files)})" if files else ""
            raise ConfigError(
                f"scenario name {s.name!r} is given twice{where}; give each scenario its own name",
                path=s.source,
                field="scenario",
            )
        seen[s.name] = s


def _window(
    scenarios: Sequence[Scenario], start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    windows = {s.window for s in scenarios if s.window is not None}
    if len(windows) > 1:
        named = ", ".join(f"{s.name} ({s.source or 'no file'})" for s in scenarios if s.window)
        raise ConfigError(
            f"scenarios give different windows: {named}; one comparison replays one window",
            field="window",
        )
    if windows:
        (given,) = windows
        start, end = start or given[0], end or given[1]
    return start, end


def _compiled(scenario: Scenario, timeline: Timeline, engine: str) -> bool:
    """Whether :func:`replay` takes ``scenario`` to the compiled kernel (``engine`` checked)."""
    if engine not in ("auto", "plain", "fast"):
        raise ConfigError(f"{engine!r} is not an engine; use auto, plain or fast", field="engine")
    return engine == "fast" or (engine == "auto" and kernel.supports(scenario, timeline))


def replay(
    estate: Estate,
    scenario: Scenario,
    *,
    timeline: Timeline,
    costs: BuildCosts,
    engine: str = "auto",
    progress: bool = False,
    sink: PartWriter | None = None,
) -> pl.DataFrame:
    """The decision log of one scenario (``decisions`` table columns plus ``status``).

    With a ``sink``, the fast engine writes a log of ``sink.min_rows`` rows or more there as
    it goes and returns an empty frame (see :func:`saosim.replay.kernel.fast.replay_fast`)."""
    if _compiled(scenario, timeline, engine):
        return kernel.replay_fast(
            estate, scenario, timeline=timeline, costs=costs, progress=progress, sink=sink
        )
    return PlainReplay(estate, scenario, timeline, costs).run(progress)
