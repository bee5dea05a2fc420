"""Fast what-ifs on tiers: replay only what changed, reuse the baseline.

A :class:`Tuner` holds one estate ready for replay (its timeline, fitted costs, the baseline's
decision log and staleness) and answers "what if the tiers were these?" by replaying just the
tuned scenario with the compiled kernel. Answers are remembered, so going back to an earlier
setting is instant. :func:`sweep` replays one tier at several ``build_after`` counts, for the
cost-vs-staleness chart. The widget in :mod:`saosim.tune.widgets` drives a Tuner.

>>> from saosim.synth.estate import synthetic_estate
>>> tuner = Tuner(synthetic_estate(n_models=40, days=2, seed=3))
>>> cmp = tuner.update({"default": {"build_after": {"count": 1, "period": "day"}}})
>>> cmp.summary()["scenario"].to_list()
['baseline', 'tuned']
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from saosim.core.arrays import freshness_params
from saosim.core.codes import F_UPDATES_ALL
from saosim.core.decision import Profile, ProfileOptions, parse_profile
from saosim.cost.rates import CostModel
from saosim.cost.runtime import fit_costs
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.metrics.tables import staleness
from saosim.project.tiers import Tiers
from saosim.replay.comparison import Comparison
from saosim.replay.decision_log import DecisionLog
from saosim.replay.engine import Scenario, replay, simulate
from saosim.replay.kernel import fast as kernel
from saosim.replay.kernel.compile import compile_replay
from saosim.replay.kernel.log import assemble_log
from saosim.replay.scenario_config import scenario_from_dict
from saosim.replay.timeline import Timeline
from saosim.tune.demo import demo_scenarios

if TYPE_CHECKING:
    from saosim.cost.rates import CostModel

__all__ = ["Tuner", "TunerTimings", "compare", "sweep"]

_PERIODS = ("minute", "hour", "day")
#: profiles whose compiled replay depends on the tiers only through per-node arrays
_RETIERABLE = frozenset({Profile.BASELINE, Profile.SAO, Profile.DBT_STATE})


@dataclass
class TunerTimings:
    """Seconds the last :meth:`Tuner.update` spent replaying and measuring (0 when cached)."""

    replay_s: float = 0.0
    metrics_s: float = 0.0
    total_s: float = 0.0
    cached: bool = False


def _key(tiers: Tiers | Mapping[str, Any], profile: Profile, options: ProfileOptions) -> str:
    spec = repr(tiers) if isinstance(tiers, Tiers) else json.dumps(tiers, sort_keys=True)
    return f"{profile.value}|{options!r}|{spec}"


class Tuner:
    """One estate, prepared for many quick tier what-ifs against the same baseline.

    Args:
        estate: what to replay.
        cost_model: rates (default :class:`saosim.cost.rates.CostModel`).
        engine: ``auto`` (the compiled kernel), ``fast`` or ``plain``.
        name: the tuned scenario's name in the comparisons it returns.
        cache_size: how many tuned results to remember.
    """

    def __init__(
        self,
        estate: Estate,
        *,
        cost_model: CostModel | None = None,
        engine: str = "auto",
        name: str = "tuned",
        cache_size: int = 32,
    ) -> None:
        if name == "baseline":
            raise ConfigError("the tuned scenario cannot be named 'baseline'", field="name")
        self.estate = estate
        self.cost_model = cost_model or CostModel()
        self.engine = engine
        self.name = name
        self.cache_size = cache_size
        self.timeline = Timeline.from_estate(estate)
        self.costs = fit_costs(estate, self.cost_model)
        self.baseline = Scenario("baseline", Profile.BASELINE)
        self._compiled: dict[tuple[Profile, ProfileOptions], Any] = {}
        self._quick = engine != "plain"
        self._baseline_log = self._replay(self.baseline)
        if self._quick:
            # compile the SAO runs now, so the first tier change is as quick as the next ones
            warm = Scenario(name, Profile.SAO)

            self._compiled[(warm.profile, warm.options)] = compile_replay(
                estate, warm, self.timeline, self.costs
            )
        self._baseline_staleness: Any = None
        self._results: dict[str, Comparison] = {}
        self.timings = TunerTimings()
        self.comparison: Comparison | None = None

    def _replay(self, scenario: Scenario) -> pl.DataFrame:
        if self._quick and scenario.profile in _RETIERABLE:
            try:
                return self._replay_retiered(scenario)
            except (TypeError, AttributeError, ImportError, ValueError):
                # the kernel's internals moved: take its public path (slower, same numbers)
                self._quick = False
                self._compiled.clear()
        return replay(
            self.estate, scenario, timeline=self.timeline, costs=self.costs, engine=self.engine
        )

    def _replay_retiered(self, scenario: Scenario) -> pl.DataFrame:
        """The kernel's replay, compiling the runs once per profile and options: between two
        tier settings only the per-node freshness arrays differ (measured: compiling the runs
        is ~75% of a replay of the bundled example)."""

        key = (scenario.profile, scenario.options)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_replay(self.estate, scenario, self.timeline, self.costs)
            self._compiled[key] = compiled
        else:
            compiled = retier(compiled, scenario, self.estate)
        codes = kernel._run(compiled, False, np.zeros(1, dtype=np.int64))
        return assemble_log(compiled, scenario.name, codes)

    def _staleness(self, log: pl.DataFrame, scenario: Scenario, comparison: Comparison):
        return staleness(
            log,
            project=self.estate.project,
            arrivals=self.estate.source_arrivals,
            freshness={scenario.name: comparison.freshness[scenario.name]},
            start=comparison.start,
            end=comparison.end,
            slas=comparison.slas or None,
        )

    def update(
        self,
        tiers: Tiers | Mapping[str, Any],
        *,
        profile: Profile | str = Profile.SAO,
        options: ProfileOptions | None = None,
    ) -> Comparison:
        """Baseline vs these tiers, with every metric computed.

        Args:
            tiers: :class:`~saosim.project.tiers.Tiers` or their YAML mapping (``{name: spec}``).
            profile: the tuned scenario's planner profile.
            options: its profile options.

        Raises:
            ConfigError: the tiers do not parse or a selector matches no model.
        """
        t0 = time.perf_counter()
        profile = parse_profile(profile)
        options = options or ProfileOptions()
        key = _key(tiers, profile, options)
        if key in self._results:
            self.comparison = self._results[key]
            self.timings = TunerTimings(total_s=time.perf_counter() - t0, cached=True)
            return self.comparison
        parsed = tiers if isinstance(tiers, Tiers) else Tiers.from_dict(tiers)
        parsed.resolve(self.estate.project)  # a bad selector fails here, before any replay
        scenario = Scenario(self.name, profile, tiers=parsed, options=options)
        log = self._replay(scenario)
        t1 = time.perf_counter()
        comparison = Comparison(
            estate=self.estate,
            scenarios=(self.baseline, scenario),
            log=DecisionLog.of_scenarios({self.baseline.name: self._baseline_log, self.name: log}),
            cost_model=self.cost_model,
            start=self.timeline.start,
            end=self.timeline.end,
        )
        # the baseline is scored against the tuned tiers' SLAs: measured again when they change
        sla_key = tuple(sorted(comparison.slas.sla_s.items()))
        if self._baseline_staleness is None or self._baseline_staleness[0] != sla_key:
            self._baseline_staleness = (
                sla_key,
                self._staleness(self._baseline_log, self.baseline, comparison),
            )
        stale = {**self._baseline_staleness[1], **self._staleness(log, scenario, comparison)}
        comparison.metrics(staleness=stale)  # every table in one scan of the log
        t2 = time.perf_counter()
        if len(self._results) >= self.cache_size:
            self._results.pop(next(iter(self._results)))
        self._results[key] = comparison
        self.comparison = comparison
        self.timings = TunerTimings(t1 - t0, t2 - t1, t2 - t0, False)
        return comparison


def compare(
    estate: Estate,
    scenarios: Iterable[Scenario] | Mapping[str, Mapping[str, Any]] | None = None,
    *,
    cost_model: CostModel | None = None,
    engine: str = "auto",
) -> Comparison:
    """Replay ``estate`` under ``scenarios`` against the baseline (:func:`saosim.simulate`,
    with scenarios also accepted in the scenario-file form).

    Args:
        scenarios: :class:`~saosim.replay.engine.Scenario` objects, or ``{name: config}`` in the
            scenario-file form (``{"profile": "sao", "tiers": {...}}``); default the demo's
            baseline / SAO on / tuned.

    >>> from saosim.synth.estate import synthetic_estate
    >>> est = synthetic_estate(n_models=40, days=2, seed=3)
    >>> compare(est, {"sao": {"profile": "sao"}}).summary()["scenario"].to_list()
    ['baseline', 'sao']
    """

    if scenarios is None:
        chosen: list[Scenario] = demo_scenarios()
    elif isinstance(scenarios, Mapping):
        chosen = [scenario_from_dict(dict(v), str(k)) for k, v in scenarios.items()]
    else:
        chosen = list(scenarios)
    return simulate(estate, chosen, cost_model=cost_model, engine=engine)


def sweep(
    estate: Estate,
    base_tiers: Tiers | Mapping[str, Any],
    tier: str,
    counts: Iterable[int],
    *,
    period: str | None = None,
    profile: Profile | str = Profile.SAO,
    cost_model: CostModel | None = None,
    engine: str = "auto",
) -> Comparison:
    """Replay ``base_tiers`` with tier ``tier``'s ``build_after.count`` set to each of
    ``counts`` (and its period to ``period`` if given): one scenario per count, named
    ``"<tier> <count> <period>"``, plus the baseline.

    >>> from saosim.synth.estate import synthetic_estate
    >>> est = synthetic_estate(n_models=40, days=2, seed=3)
    >>> tiers = {"default": {"build_after": {"count": 1, "period": "hour"}}}
    >>> sweep(est, tiers, "default", [1, 6]).summary()["scenario"].to_list()
    ['baseline', 'default 1 hour', 'default 6 hour']
    """
    spec = _tiers_mapping(base_tiers)
    if tier not in spec:
        raise ConfigError(f"unknown tier {tier!r}; the tiers are {', '.join(spec)}", field="tier")
    if period is not None and period not in _PERIODS:
        raise ConfigError(f"period {period!r}: use minute, hour or day", field="period")
    scenarios = []
    for count in counts:
        changed = json.loads(json.dumps(spec))
        build_after = dict(changed[tier].get("build_after") or {"period": period or "hour"})
        build_after["count"] = int(count)
        if period is not None:
            build_after["period"] = period
        changed[tier]["build_after"] = build_after
        label = f"{tier} {int(count)} {build_after['period']}"
        scenarios.append(Scenario(label, profile, tiers=Tiers.from_dict(changed)))
    if not scenarios:
        raise ConfigError("sweep needs at least one count", field="counts")
    return simulate(estate, scenarios, cost_model=cost_model, engine=engine)


def _tiers_mapping(tiers: Tiers | Mapping[str, Any]) -> dict[str, Any]:
    """The YAML mapping of tiers (``Tiers`` objects are turned back into one)."""
    if not isinstance(tiers, Tiers):
        inner = tiers.get("tiers", tiers) if isinstance(tiers, Mapping) else tiers
        Tiers.from_dict(inner)  # validate early, with the user's own spelling in errors
        return json.loads(json.dumps(inner))
    return {t.name: tier_spec(t) for t in tiers.tiers}


def tier_spec(tier: Any) -> dict[str, Any]:
    """The YAML mapping of one :class:`~saosim.project.tiers.Tier` (inverse of ``from_dict``)."""
    nf = tier.freshness
    out: dict[str, Any] = {}
    if tier.select is not None:
        out["select"] = tier.select
    if tier.exclude is not None:
        out["exclude"] = tier.exclude
    if nf.build_after is not None:
        ba = nf.build_after
        out["build_after"] = {"count": ba.count, "period": ba.period, "updates_on": ba.updates_on}
    if nf.lag_tolerance_s is not None:
        out["lag_tolerance"] = f"{int(nf.lag_tolerance_s)}s"
    if nf.require_fresh_data_from is not None:
        out["require_fresh_data_from"] = nf.require_fresh_data_from
    if nf.sla_s is not None:
        out["sla"] = f"{int(nf.sla_s)}s"
    return out


def scenario_names(comparisons: Sequence[Comparison]) -> list[str]:
    """Every scenario name across comparisons, in order, without repeats."""
    seen: dict[str, None] = {}
    for c in comparisons:
        for s in c.scenarios:
            seen.setdefault(s.name, None)
    return list(seen)


def retier(compiled: Any, scenario: Scenario, estate: Estate) -> Any:
    """``compiled`` (the kernel's inputs for another tier setting of the same profile and
    options) with the freshness arrays of ``scenario``'s tiers, as
    :func:`saosim.replay.kernel.compile.compile_replay` sets them; ``tests/unit/test_widgets.py``
    checks the two agree."""
    from dataclasses import replace

    window_s, tol_s, updates_all = freshness_params(
        estate.project, scenario.resolve_freshness(estate), scenario.profile, scenario.options
    )
    flags = np.where(updates_all, compiled.flags | F_UPDATES_ALL, compiled.flags & ~F_UPDATES_ALL)
    flags = flags.astype(compiled.flags.dtype)
    return replace(compiled, flags=flags, window_s=window_s, tol_s=tol_s)
