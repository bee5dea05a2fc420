"""The tier recommender: given SLAs and a bill, the settings that cost least and keep the SLAs.

:func:`recommend` compiles the estate once (:class:`~saosim.tune.recommend_score.CompiledEstate`),
then searches in two stages, every candidate scored by the same kernel and metrics as
``saosim simulate``:

1. **Structure** (:mod:`saosim.tune.recommend_search`): per-node windows proposed from each
   node's binding SLA and its jobs' cadence, then repaired from the sources downstream, on each
   job schedule searched (the history's jobs, and the cron schedules the caller allows).
2. **What remains** (optuna, TPE, seeded): the schedule, the number of tiers (1–5), which
   repair round's windows to merge into tiers, and ``updates_on`` of the default tier. Each
   trial's tiers (:mod:`saosim.tune.recommend_tiers`) are resolved and scored as exported.

The recommendation is the cheapest tiers candidate — by the bill — whose SLA breach share is no
worse than the baseline's (what ran) plus ``max_added_breach``, that the cadence lint leaves
alone, and that costs less than the baseline; when none does, the baseline is recommended and
the reason says what the nearest candidates would cost. The result is deterministic for a seed,
whichever executor scores the candidates.

>>> from saosim.synth.estate import synthetic_estate
>>> est = synthetic_estate(n_models=30, days=3, seed=3)
>>> rec = recommend(est, {"default": "26h"}, budget=8, executor="serial", schedules=["history"])
>>> out = rec.to_dict()
>>> sorted(k for k in out if k in ("baseline", "recommended", "frontier"))
['baseline', 'frontier', 'recommended']
>>> out["recommended"]["bill_usd"] <= out["baseline"]["bill_usd"]
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saosim.cost.rates import CostModel
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate, load_estate
from saosim.project.slas import Slas
from saosim.tune.recommend_exec import make_executor
from saosim.tune.recommend_result import Point, Recommendation, explain, pareto
from saosim.tune.recommend_schedules import (
    PER_SLA,
    active_hours,
    history_hours,
    sla_schedule,
    sla_schedule_within,
)
from saosim.tune.recommend_score import HISTORY, Candidate, CompiledEstate, Schedule, Score
from saosim.tune.recommend_search import (
    allowed_windows,
    node_facts,
    propose,
    repair,
    schedule_intervals,
)
from saosim.tune.recommend_search import candidate as make_candidate
from saosim.tune.recommend_tiers import candidate_of_tiers, tiers_and_windows

__all__ = ["DEFAULT_SCHEDULES", "Recommendation", "parse_budget", "recommend", "sla_schedule"]

#: the schedules searched by default: the history's own jobs, one hourly job on every model,
#: and the SLA-derived ones (:mod:`saosim.tune.recommend_schedules`: one job per SLA at about
#: half its SLA, round the clock and within the hours of each other schedule searched)
DEFAULT_SCHEDULES = ("history", "0 * * * *", PER_SLA)
#: candidates scored when no budget is given
DEFAULT_BUDGET = 40
#: repair rounds per schedule at most (each halves the windows of the nodes still breaching)
MAX_ROUNDS = 8
MAX_TIERS = 5
#: the relax step's factor on the SLA headroom, and the most headroom tried
RELAX, MAX_HEADROOM = 1.5, 4.0


def parse_budget(budget: int | float | str | None) -> tuple[int, float | None]:
    """``(candidates, seconds)`` from ``N`` (candidates) or ``"Ns"`` (seconds of search).

    >>> parse_budget(None), parse_budget(12), parse_budget("60s")
    ((40, None), (12, None), (100000, 60.0))
    """
    if budget is None:
        return DEFAULT_BUDGET, None
    if isinstance(budget, str):
        text = budget.strip().lower()
        if text.endswith("s"):
            try:
                return 100_000, float(text[:-1])
            except ValueError:
                pass
        if text.isdigit():
            return int(text), None
        raise ConfigError(f"budget {budget!r}: use N (candidates) or Ns (seconds)", "--budget")
    if budget < 1:
        raise ConfigError("a budget of at least one candidate", field="--budget")
    return int(budget), None


class _Search:
    """The bookkeeping of one search: scores cached by candidate, every point kept."""

    def __init__(self, ce: CompiledEstate, executor: Any, candidates: int, seconds: float | None):
        self.ce, self.ex = ce, executor
        self.total, self.seconds = candidates, seconds or 0.0
        self.left, self.deadline = (
            candidates,
            None if seconds is None else time.perf_counter() + seconds,
        )
        self.cache: dict[tuple[Any, ...], Score] = {}
        self.points: list[Point] = []

    def exhausted(self, keep: float = 0.0) -> bool:
        """Whether the budget is spent, keeping back the share ``keep`` of what it started
        with (the structural stage leaves half for the tiers)."""
        now = time.perf_counter()
        late = self.deadline is not None and now > self.deadline - keep * self.seconds
        return self.left <= keep * self.total or late

    def score(
        self, batch: Sequence[tuple[Candidate, str, dict[str, Any] | None]]
    ) -> list[Score | None]:
        """Score new candidates (in parallel), recall known ones; record a point per new one.
        ``None`` for a candidate the budget left unscored."""
        fresh = []
        for cand, kind, tiers in batch:
            if cand.key not in self.cache and not any(c.key == cand.key for c, *_ in fresh):
                fresh.append((cand, kind, tiers))
        fresh = fresh[: max(self.left, 0)]
        for (cand, kind, tiers), s in zip(fresh, self.ex.score([f[0] for f in fresh]), strict=True):
            self.cache[cand.key] = s
            self.points.append(Point.of(cand.label, cand.schedule, kind, s, tiers))
        self.left -= len(fresh)
        return [self.cache.get(c.key) for c, *_ in batch]


def recommend(
    estate: Estate | str | Path,
    slas: Slas | Mapping[str, Any] | str | Path,
    *,
    cost_model: CostModel | None = None,
    budget: int | str | None = None,
    schedules: Sequence[str | Schedule] | None = None,
    max_tiers: int = MAX_TIERS,
    max_added_breach: float = 0.0,
    profile: str = "sao",
    seed: int = 0,
    executor: Any = None,
    scenarios: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Recommendation:
    """The cheapest tiers (and job schedule) that keep ``slas``, and the trade-off around them.

    Args:
        estate: an :class:`~saosim.inputs.estate.Estate` or its folder.
        slas: ``{selector: max staleness}`` (``slas:`` file form, a path, or :class:`Slas`).
        cost_model: the rates (``--rates``); the bill is what is minimised.
        budget: candidates to score (int) or seconds of search (``"60s"``); default 40.
        schedules: job schedules to search: ``"history"`` and cron jobs
            (``"CRON[@SELECTOR]; …"``, :meth:`Schedule.parse`); default :data:`DEFAULT_SCHEDULES`.
        max_tiers: the most tiers to merge the settings into (1–5).
        max_added_breach: percentage points of breach over the baseline's still accepted.
        profile: ``sao`` or ``dbt_state`` (whose tiers also carry ``lag_tolerance``).
        seed: the optuna sampler's seed; the result is deterministic for it.
        executor: ``serial``, ``processes[:N]`` (default), ``ray[:ADDRESS]`` or an executor
            (:mod:`saosim.tune.recommend_exec`).
        scenarios: the user's own scenarios (``{name: scenario-file mapping or Scenario}``),
            scored under the same SLAs and drawn on the frontier.
        progress: called with a line per stage.

    Returns:
        A :class:`Recommendation` (``to_dict()`` is ``saosim recommend --format json``).
    """
    t0 = time.perf_counter()
    say = progress or (lambda _line: None)
    est = estate if isinstance(estate, Estate) else load_estate(estate)
    if not 1 <= max_tiers <= MAX_TIERS:
        raise ConfigError(f"max_tiers {max_tiers}: use 1 to {MAX_TIERS}", field="--max-tiers")
    declared = Slas.coerce(slas)
    if declared is None:
        raise ConfigError("the recommender needs SLAs to keep", field="slas")
    mine = _parse_scenarios(scenarios)
    scheds = _schedules(est, declared, schedules or DEFAULT_SCHEDULES, mine)
    n_cands, seconds = parse_budget(budget)
    say(f"compiling the estate for {len(scheds)} schedule(s)")
    ce = CompiledEstate.build(
        est, declared, cost_model=cost_model, schedules=scheds, profile=profile
    )
    base = ce.baseline_score
    target = base.sla_breach_pct + max_added_breach
    facts = node_facts(ce)
    lint = {s.name: schedule_intervals(ce, s) for s in scheds}
    with make_executor(executor) as ex:
        ex.start(ce)
        search = _Search(ce, ex, n_cands, seconds)
        rounds = _structure(search, ce, scheds, facts, lint, target, say)
        _seed_from_scenarios(search, ce, scheds, rounds, lint, mine, say)
        say(f"structure: {len(search.points)} candidates; tiers next")
        tried = _tiers_stage(search, ce, scheds, rounds, lint, max_tiers, seed, target, say)
        executor_name = f"{ex.name} ({ex.workers} worker{'s' if ex.workers != 1 else ''})"
    user_points = _user_scenarios(est, ce, mine)
    return _decide(
        est, ce, search, tried, rounds, facts, lint, target, user_points,
        seed=seed, seconds=time.perf_counter() - t0, executor=executor_name,
        max_added=max_added_breach,
    )  # fmt: skip


def _structure(
    search: _Search,
    ce: CompiledEstate,
    scheds: list[Schedule],
    facts: Any,
    lint: dict[str, tuple[np.ndarray, np.ndarray]],
    target: float,
    say: Callable[[str], None],
) -> dict[str, list[np.ndarray]]:
    """Per schedule, the per-node windows of each repair round (round 0: the proposal)."""
    n = len(ce.nodes)
    rounds = {s.name: [propose(facts, *lint[s.name])] for s in scheds}
    active = [s.name for s in scheds]
    memo: dict[int, frozenset[int]] = {}
    headroom = {s.name: 1.0 for s in scheds}
    for r in range(MAX_ROUNDS):
        if not active or search.exhausted(keep=0.5):
            break
        batch = [
            (
                make_candidate(f"{s} per-node r{r}", s, rounds[s][-1], np.zeros(n, bool)),
                "per-node",
                None,
            )
            for s in active
        ]
        scores = search.score(batch)
        still = []
        for (cand, *_), sc in zip(batch, scores, strict=True):
            s = cand.schedule
            if sc is None:
                continue
            say(f"  {s} round {r}: ${sc.price_usd:,.0f}, breach {sc.sla_breach_pct:.2f}%")
            if sc.sla_breach_pct <= target + 1e-9:
                # keeps the SLAs with room to spare: relax (longer windows everywhere), once
                # per headroom step; a relaxed round that breaches is repaired from there
                windows, changed = rounds[s][-1], 0
                while not changed and headroom[s] * RELAX <= MAX_HEADROOM:
                    headroom[s] *= RELAX  # until some window is longer on the grid
                    windows = propose(facts, *lint[s], headroom=headroom[s])
                    changed = int(np.count_nonzero(windows != rounds[s][-1]))
            else:
                windows, changed = repair(ce, rounds[s][-1], sc, lint[s][0], memo)
            if changed:
                rounds[s].append(windows)
                still.append(s)
        active = still
    return rounds


def _seed_from_scenarios(
    search: _Search,
    ce: CompiledEstate,
    scheds: list[Schedule],
    rounds: dict[str, list[np.ndarray]],
    lint: dict[str, tuple[np.ndarray, np.ndarray]],
    mine: Sequence[Any],
    say: Callable[[str], None],
) -> None:
    """Start from the settings the user already has, too: each of the user's scenarios with
    tiers gives its per-node windows (each clamped to the longest window the cadence lint
    leaves alone on the schedule's jobs), scored on every schedule and added as that
    schedule's last round, so the tiers stage tries them first."""
    project = ce.estate.project
    for scenario in mine:
        if scenario.tiers is None:
            continue
        resolved = scenario.tiers.resolve(project)
        wanted = np.array(
            [_window_of(resolved.for_node(u), ce.profile.value) for u in ce.nodes], np.int64
        )
        batch = []
        for s in scheds:
            clean_lint = lint[s.name][0]
            windows = np.array(
                [
                    max((x for x in allowed_windows(clean_lint[i]) if x <= w), default=0)
                    for i, w in enumerate(wanted.tolist())
                ],
                dtype=np.int64,
            )
            label = f"{s.name} from {scenario.name}'s windows"
            every = np.zeros(len(ce.nodes), bool)
            batch.append((make_candidate(label, s.name, windows, every), "per-node", None))
            rounds[s.name].append(windows)
        for (cand, *_), sc in zip(batch, search.score(batch), strict=True):
            if sc is not None:
                say(f"  {cand.label}: ${sc.price_usd:,.0f}, breach {sc.sla_breach_pct:.2f}%")


def _window_of(fresh: Any, profile: str) -> int:
    """A node's window in seconds (``dbt_state``: its lag tolerance where one is set)."""
    if profile == "dbt_state" and fresh.lag_tolerance_s is not None:
        return int(fresh.lag_tolerance_s)
    return int(fresh.build_after.window_s) if fresh.build_after is not None else 0


def _tiers_stage(
    search: _Search,
    ce: CompiledEstate,
    scheds: list[Schedule],
    rounds: dict[str, list[np.ndarray]],
    lint: dict[str, tuple[np.ndarray, np.ndarray]],
    max_tiers: int,
    seed: int,
    target: float,
    say: Callable[[str], None],
) -> list[tuple[Candidate, dict[str, Any]]]:
    """Optuna over schedule × tier count × repair round × default ``updates_on``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # constrained TPE: a trial over the breach target is infeasible, whatever it costs
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    names = [s.name for s in scheds]
    deepest = max(len(v) for v in rounds.values()) - 1
    for s in names:  # the obvious first: the last round's windows in the most tiers
        study.enqueue_trial(
            {"schedule": s, "tiers": max_tiers, "round": deepest, "updates_on": "any"}
        )
    tried: list[tuple[Candidate, dict[str, Any]]] = []
    project = ce.estate.project
    stale_batches = 0
    merged: dict[tuple[str, int, int, str], tuple[Candidate, dict[str, Any]]] = {}
    while not search.exhausted() and stale_batches < 3:
        trials, batch = [], []
        for _ in range(max(1, search.ex.workers)):
            trial = study.ask()
            s = trial.suggest_categorical("schedule", names)
            k = trial.suggest_int("tiers", 1, max_tiers)
            r = min(trial.suggest_int("round", 0, max(deepest, 0)), len(rounds[s]) - 1)
            upd = trial.suggest_categorical("updates_on", ["any", "all"])
            if (s, k, r, upd) not in merged:  # a trial repeating one is not merged again
                tiers, windows, every = tiers_and_windows(
                    project, ce.nodes, rounds[s][r].tolist(), [False] * len(ce.nodes), k,
                    lint=lint[s][0].tolist(), default_updates_on=upd,
                    dbt_state=ce.profile.value == "dbt_state",
                )  # fmt: skip
                label = f"{s} · {len(tiers)} tiers · r{r} · {upd}"
                cand = make_candidate(label, s, np.array(windows), np.array(every))
                merged[(s, k, r, upd)] = (cand, tiers)
            cand, tiers = merged[(s, k, r, upd)]
            trials.append(trial)
            batch.append((cand, "tiers", tiers))
        known = len(search.cache)
        scores = search.score(batch)
        stale_batches = stale_batches + 1 if len(search.cache) == known else 0
        for trial, (cand, _, tiers), sc in zip(trials, batch, scores, strict=True):
            if sc is None:  # the budget ran out mid-batch
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            trial.set_constraint("sla_breach_excess", sc.sla_breach_pct - target)
            study.tell(trial, sc.price_usd)
            tried.append((cand, tiers))
    say(f"tiers: {len(tried)} trials")
    return tried


def _parse_scenarios(scenarios: Mapping[str, Any] | None) -> list[Any]:
    """The user's own scenarios as :class:`~saosim.replay.engine.Scenario` objects."""
    from saosim.replay.engine import Scenario
    from saosim.replay.scenario_config import scenario_from_dict

    return [
        v if isinstance(v, Scenario) else scenario_from_dict(dict(v), str(k))
        for k, v in (scenarios or {}).items()
    ]


def _schedules(
    est: Estate, slas: Slas, given: Sequence[str | Schedule], mine: Sequence[Any]
) -> list[Schedule]:
    """The schedules to search: those ``given`` (``per-sla`` expanded), then the jobs of the
    user's own scenarios; with ``per-sla``, also one job per SLA within the hours each of the
    others runs (:func:`~saosim.tune.recommend_schedules.sla_schedule_within`)."""
    out: list[Schedule] = []
    derive = False
    for s in given:
        if isinstance(s, Schedule):
            out.append(s)
        elif s == PER_SLA:
            derive = True
            out.append(sla_schedule(slas))
        else:
            out.append(Schedule.parse(s))
    for scenario in mine:
        if scenario.jobs:
            out.append(Schedule(f"{scenario.name}'s jobs", tuple(scenario.jobs)))
    if derive:
        for base in [s for s in out if s.name != PER_SLA]:
            if base.jobs is None:
                hours = history_hours(est.runs)
                name = "per-sla in the history's hours"
            else:
                hours = active_hours(base)
                name = f"per-sla in the hours of {base.name}"
            # a base that runs every hour of the week adds nothing to the round-the-clock one
            if hours and sum(len(h) for h in hours.values()) < 7 * 24:
                out.append(sla_schedule_within(slas, hours, name))
    unique: dict[str, Schedule] = {}
    for s in out:
        if all(s.jobs != u.jobs for u in unique.values()):
            unique.setdefault(s.name, s)
    return list(unique.values()) or [HISTORY]


def _user_scenarios(est: Estate, ce: CompiledEstate, chosen: Sequence[Any]) -> list[Point]:
    """The user's own scenarios, scored by ``simulate`` under the same SLAs and rates."""
    if not chosen:
        return []
    from saosim.replay.engine import simulate

    cmp = simulate(est, chosen, slas=ce.slas, cost_model=ce.cost_model)
    rows = cmp.summary().filter(~cmp.summary()["scenario"].eq("baseline"))
    return [
        Point(
            r["scenario"],
            "",
            "scenario",
            float(r["cost_usd"]),
            r["bill_usd"],
            float(r["sla_breach_pct"] or 0.0),
            None,
        )
        for r in rows.iter_rows(named=True)
    ]


def _decide(
    est: Estate,
    ce: CompiledEstate,
    search: _Search,
    tried: list[tuple[Candidate, dict[str, Any]]],
    rounds: dict[str, list[np.ndarray]],
    facts: Any,
    lint: dict[str, tuple[np.ndarray, np.ndarray]],
    target: float,
    user_points: list[Point],
    **meta: Any,
) -> Recommendation:
    from saosim.replay.cadence import job_cadences, lint_cadence

    base = ce.baseline_score
    base_point = Point.of("baseline", "history", "baseline", base, None)
    feasible = []
    tried = list({cand.key: (cand, tiers) for cand, tiers in tried}.values())  # trials repeat
    for cand, tiers in tried:
        sc = search.cache.get(cand.key)
        if sc is None or sc.sla_breach_pct > target + 1e-9 or sc.price_usd >= base.price_usd:
            continue
        sched = ce.schedules[cand.schedule]
        cfg = ce.freshness(cand)
        if lint_cadence(est.project, cfg, job_cadences(est, sched.jobs)):
            continue  # never recommend a window the cadence lint flags
        feasible.append((sc.price_usd, cand.label, cand, tiers, sc))
    points = pareto([*search.points])
    if feasible:
        _, _, cand, tiers, sc = min(feasible, key=lambda f: (f[0], f[1]))
        # what is exported is what was scored: the tiers, resolved by selectors as dbt would
        resolved = candidate_of_tiers(est.project, ce.nodes, dict(tiers), cand.label, cand.schedule)
        if resolved.key != cand.key:
            raise AssertionError(f"tiers of {cand.label!r} resolve to other settings than scored")
        chosen = Point.of(cand.label, cand.schedule, "tiers", sc, tiers)
        sched = ce.schedules[cand.schedule]
        reason = (
            f"the cheapest of {len(tried)} tier settings scored whose SLA breach "
            f"({sc.sla_breach_pct:.2f}% of model-time) is no worse than what ran "
            f"({base.sla_breach_pct:.2f}%"
            + (f" + {meta['max_added']:g} pt" if meta["max_added"] else "")
            + f"), on {sched.describe()}"
        )
        why = explain(ce, cand, sc, facts, rounds[cand.schedule], lint[cand.schedule], tiers)
    else:
        chosen, sched, tiers, why = base_point, HISTORY, None, {}
        reason = _no_candidate(points, base, target)
    return Recommendation(
        project=est.project.name,
        slas={r.selector: r.sla_s for r in ce.slas.rules},
        profile=ce.profile.value,
        schedule=sched,
        tiers=tiers,
        baseline=base_point,
        recommended=chosen,
        candidates=points,
        scenarios=user_points,
        why=why,
        reason=reason,
        candidates_scored=len(search.points),
        timings={**ce.timings, "total_s": meta["seconds"]},
        seed=meta["seed"],
        executor=meta["executor"],
    )


def _no_candidate(points: list[Point], base: Score, target: float) -> str:
    """Why the baseline is recommended: what the nearest candidates would cost."""
    keep = [p for p in points if p.sla_breach_pct <= target + 1e-9]
    cheaper = [p for p in points if p.price_usd < base.price_usd]
    parts = [
        "no candidate scored is both cheaper than what ran and no worse on the SLAs, so the "
        "recommendation is to keep what ran"
    ]
    if keep:
        best = min(keep, key=lambda p: p.price_usd)
        parts.append(
            f"the cheapest that keeps them ({best.label}) costs ${best.price_usd:,.0f} against "
            f"${base.price_usd:,.0f}"
        )
    if cheaper:
        best = min(cheaper, key=lambda p: p.sla_breach_pct)
        parts.append(
            f"the least-breaching cheaper one ({best.label}, ${best.price_usd:,.0f}) breaches "
            f"{best.sla_breach_pct:.2f}% of model-time against {base.sla_breach_pct:.2f}%"
        )
    return "; ".join(parts)
