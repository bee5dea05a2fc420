"""What a replay returns: every scenario's decision log and the metrics computed from it.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario, simulate
>>> cmp = simulate(synthetic_estate(n_models=60, days=2, seed=1), [Scenario("sao")], engine="plain")
>>> row = cmp.summary().row(1, named=True)
>>> row["scenario"], row["node_builds"] <= cmp.summary().row(0, named=True)["node_builds"]
('sao', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from saosim.cost.bill import Bill, price_bill
from saosim.inputs.estate import Estate
from saosim.metrics import tables as metrics
from saosim.metrics.tables import staleness
from saosim.project.freshness import FreshnessConfig
from saosim.project.slas import Slas, SlaTargets, resolve_slas
from saosim.replay.decision_log import DecisionLog

if TYPE_CHECKING:
    import pandas as pd

    from saosim.cost.rates import CostModel
    from saosim.metrics.staleness import StalenessResult
    from saosim.metrics.tables import Metrics
    from saosim.replay.cadence import CadenceWarning
    from saosim.replay.engine import Scenario

__all__ = ["Comparison", "ScenarioChoice", "pick_scenario"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenarios replayed over one estate.

    Attributes:
        estate: what was replayed.
        scenarios: the scenarios, the baseline first.
        log: every scenario's decision log, one row per scenario × run × selected node (the
            ``decisions`` table plus ``status``: success / error / skipped / pass / fail / warn,
            null for reuses); a long one is on disk (:mod:`saosim.replay.decision_log`), and
            the metrics, staleness and bill scan it. :attr:`decisions` reads it all.
        cost_model: the rates used.
        start, end: the replay window.
        sla_declared: the comparison's own ``slas:`` (``--sla FILE``, ``simulate(slas=…)``);
            the SLAs every scenario is scored against are these plus the ``sla:`` keys of the
            scenarios' tiers (:attr:`slas`).
    """

    estate: Estate
    scenarios: tuple[Scenario, ...]
    log: DecisionLog
    cost_model: CostModel
    start: datetime
    end: datetime
    sla_declared: Slas | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def decisions(self) -> pl.DataFrame:
        """The whole decision log as one frame (read from disk, once, if it was spilled)."""
        if "decisions" not in self._cache:
            self._cache["decisions"] = self.log.frame()
        return self._cache["decisions"]

    def scan_decisions(self, scenario: str | None = None) -> pl.LazyFrame:
        """The decision log (one scenario's, or all) as a lazy frame, without reading it.

        >>> from saosim.synth.estate import synthetic_estate
        >>> from saosim.replay.engine import Scenario, simulate
        >>> cmp = simulate(synthetic_estate(n_models=20, days=1, seed=1), [Scenario("sao")])
        >>> cmp.scan_decisions("sao").select(pl.len()).collect().item() > 0
        True
        """
        return self.log.scan(scenario)

    @cached_property
    def slas(self) -> SlaTargets:
        """The SLAs every scenario, the baseline included, is scored against."""
        return resolve_slas(self.estate.project, self.sla_declared, self.scenarios)

    @property
    def baseline(self) -> str:
        """Name of the reference scenario for savings."""
        return next(s.name for s in self.scenarios if s.profile == "baseline")

    @cached_property
    def freshness(self) -> Mapping[str, FreshnessConfig]:
        return {s.name: s.resolve_freshness(self.estate) for s in self.scenarios}

    @property
    def profiles(self) -> dict[str, str]:
        return {s.name: str(s.profile) for s in self.scenarios}

    def staleness(
        self, results: Mapping[str, StalenessResult] | None = None
    ) -> Mapping[str, StalenessResult]:
        """Staleness of every scenario over the replay window, computed once and shared by
        the metric tables.

        Args:
            results: precomputed results for every scenario (kept if none are cached yet).
        """
        if "staleness" not in self._cache:
            if results is None:
                results = staleness(
                    self.log.scan(),
                    project=self.estate.project,
                    arrivals=self.estate.source_arrivals,
                    freshness=dict(self.freshness),
                    start=self.start,
                    end=self.end,
                    slas=self.slas or None,
                )
            self._cache["staleness"] = dict(results)
        return self._cache["staleness"]

    def metrics(self, *, staleness: Mapping[str, StalenessResult] | None = None) -> Metrics:
        """Every metric frame at once (one pass over the log), staleness computed once.

        Args:
            staleness: precomputed :func:`saosim.metrics.staleness.staleness` results of every
                scenario over this comparison's window (used on the first call only).
        """
        if "metrics" not in self._cache:
            self._cache["metrics"] = metrics.report(
                self.log.scan(),
                project=self.estate.project,
                arrivals=self.estate.source_arrivals,
                freshness=dict(self.freshness),
                cost_model=self.cost_model,
                profiles=self.profiles,
                baseline=self.baseline,
                start=self.start,
                end=self.end,
                staleness_results=self.staleness(staleness),
                slas=self.slas or None,
            )
        return self._cache["metrics"]

    def bill(self) -> Bill:
        """What each scenario is billed under its billing model (:mod:`saosim.cost.bill`): the
        comparison's cost model for every scenario, unless a scenario brings its own."""
        if "bill" not in self._cache:
            self._cache["bill"] = price_bill(
                self.log.scan(),
                project=self.estate.project,
                cost_model=self.cost_model,
                cost_models={s.name: s.cost_model for s in self.scenarios if s.cost_model},
                profiles=self.profiles,
                start=self.start,
                end=self.end,
            )
        return self._cache["bill"]

    def cadence_warnings(self) -> list[CadenceWarning]:
        """Cadence lint of every state-aware scenario (:mod:`saosim.replay.cadence`)."""
        if "cadence" not in self._cache:
            from saosim.replay.cadence import job_cadences, lint_cadence

            out: list[CadenceWarning] = []
            jobs: dict[Any, Any] = {}
            for s in self.scenarios:
                if str(s.profile) == "baseline":
                    continue
                if s.jobs not in jobs:
                    jobs[s.jobs] = job_cadences(self.estate, s.jobs)
                out += lint_cadence(
                    self.estate.project, self.freshness[s.name], jobs[s.jobs], scenario=s.name
                )
            self._cache["cadence"] = out
        return self._cache["cadence"]

    def recommendation(self) -> ScenarioChoice:
        """The scenario to recommend: the cheapest by the bill that keeps the SLAs (see
        :func:`pick_scenario`)."""
        if "recommendation" not in self._cache:
            self._cache["recommendation"] = pick_scenario(self._billed(), self.baseline)
        return self._cache["recommendation"]

    def _billed(self) -> pl.DataFrame:
        if "billed" not in self._cache:
            # the bill and the metrics each read the log on their own: side by side, on two
            # cores (polars, numpy and the compiled passes work without the GIL)
            with ThreadPoolExecutor(max_workers=1) as pool:
                bill = pool.submit(self.bill)
                measured = self.metrics().summary
                billed = bill.result().summary
            self._cache["billed"] = _with_bill(measured, billed, self.baseline)
        return self._cache["billed"]

    def summary(self) -> pl.DataFrame:
        """One row per scenario: runs, builds, reuses, reuse %, cost, savings, staleness, SLA
        breach, ``recommended`` (true for the one :meth:`recommendation` names),
        ``illustrative`` (true when the estate is synthetic: the figures show how saosim works,
        not what SAO saves on a real project), and the bill: ``billing`` (the billing model),
        ``bill_usd``, ``bill_savings_usd``, ``bill_savings_pct`` (against the baseline's bill)
        and ``warehouse_hours`` (billed uptime; null for BigQuery). ``cost_usd`` stays the
        query-seconds figure."""
        if "summary" not in self._cache:
            chosen = self.recommendation().scenario
            self._cache["summary"] = self._billed().with_columns(
                (pl.col("scenario") == chosen).alias("recommended"),
                pl.lit(bool(getattr(self.estate, "synthetic", False))).alias("illustrative"),
            )
        return self._cache["summary"]

    def per_model(self) -> pl.DataFrame:
        """One row per scenario × model: builds, reuses, cost, staleness."""
        return self.metrics().per_model

    def per_tier(self) -> pl.DataFrame:
        """One row per scenario × tier: models, builds, cost, staleness percentiles, SLA misses."""
        return self.metrics().per_tier

    def per_day(self) -> pl.DataFrame:
        """One row per scenario × day: builds, reuses, reuse %, cost."""
        return self.metrics().per_day

    def decisions_of(self, scenario: str) -> pl.DataFrame:
        """The decision log of one scenario."""
        if scenario not in {s.name for s in self.scenarios}:
            raise KeyError(f"no scenario named {scenario!r}")
        return self.log.frame(scenario)

    def to_pandas(self, table: str = "summary") -> pd.DataFrame:
        """A table as pandas: summary, per_model, per_tier, per_day or decisions."""
        if table == "decisions":
            return self.decisions.to_pandas()
        frames = {
            "summary": self.summary,
            "per_model": self.per_model,
            "per_tier": self.per_tier,
            "per_day": self.per_day,
        }
        if table not in frames:
            raise KeyError(f"unknown table {table!r}; use one of {', '.join(frames)} or decisions")
        return frames[table]().to_pandas()

    def write_decisions(self, path: str | Path) -> Path:
        """Write the decision log as one Parquet file (streamed from disk if it was spilled)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_parquet(out)
        return out


def _with_bill(summary: pl.DataFrame, bill: pl.DataFrame, baseline: str) -> pl.DataFrame:
    uptime = pl.col("billing").is_in(("snowflake_warehouse", "databricks_sql"))
    cols = bill.select(
        "scenario",
        "billing",
        "bill_usd",
        pl.when(uptime).then(pl.col("billed_hours")).otherwise(None).alias("warehouse_hours"),
    )
    base = bill.filter(pl.col("scenario") == baseline).get_column("bill_usd")
    base_usd = base[0] if base.len() else None
    saved = pl.lit(base_usd, pl.Float64) - pl.col("bill_usd")
    return summary.join(cols, on="scenario", how="left").with_columns(
        saved.alias("bill_savings_usd"),
        (100.0 * saved / base_usd if base_usd else pl.lit(None, pl.Float64)).alias(
            "bill_savings_pct"
        ),
    )


#: a scenario "keeps the SLAs" when its breach share is at most the baseline's plus this (%)
_TOLERANCE_PCT = 1e-9


@dataclass(frozen=True)
class ScenarioChoice:
    """Which scenario to recommend, and why each other one is not.

    Attributes:
        scenario: the recommended scenario (the baseline when no other keeps the SLAs and saves).
        reason: one sentence saying why.
        rejected: scenario → why it is not recommended.
    """

    scenario: str
    reason: str
    rejected: Mapping[str, str] = field(default_factory=dict)

    def why_not(self, scenario: str) -> str | None:
        """Why ``scenario`` is not recommended (``None`` if it is, or was never judged)."""
        return self.rejected.get(scenario)


def pick_scenario(summary: pl.DataFrame, baseline: str) -> ScenarioChoice:
    """The cheapest scenario that saves money and breaches its SLAs no more than the baseline.

    Money is the bill (``bill_usd``, what the billing model says the warehouse charges) when
    the summary has it for every scenario, else the query-seconds ``cost_usd``. A scenario
    qualifies when it costs less than the baseline and its ``sla_breach_pct`` (share
    of model-time over SLA) is at most the baseline's under the same SLAs; the cheapest that
    qualifies is recommended — not the cheapest overall. With no SLA declared the breach cannot
    be judged, and the cheapest scenario is recommended with that said. When nothing qualifies,
    the baseline is recommended: every other scenario breaches more or saves nothing.

    >>> s = pl.DataFrame({"scenario": ["baseline", "lean", "safe"], "cost_usd": [10.0, 4.0, 7.0],
    ...                   "sla_breach_pct": [5.0, 9.0, 5.0]})
    >>> r = pick_scenario(s, "baseline")
    >>> r.scenario, r.why_not("lean")
    ('safe', 'breaches its SLAs on 9.0% of model-time, more than the baseline (5.0%)')
    """
    rows = {r["scenario"]: r for r in summary.iter_rows(named=True)}
    base = rows.get(baseline)
    if base is None:
        raise ValueError(f"the summary has no baseline row {baseline!r}")
    base_breach = base.get("sla_breach_pct")
    price = "cost_usd"
    if "bill_usd" in summary.columns and summary["bill_usd"].null_count() == 0:
        price = "bill_usd"
    rejected: dict[str, str] = {}
    fine: list[str] = []
    for name, row in rows.items():
        if name == baseline:
            continue
        breach = row.get("sla_breach_pct")
        if row[price] is None or row[price] >= base[price]:
            rejected[name] = (
                "its bill is no lower than the baseline's"
                if price == "bill_usd"
                else "saves nothing against the baseline"
            )
        elif (
            base_breach is not None
            and breach is not None
            and (breach > base_breach + _TOLERANCE_PCT)
        ):
            mine, theirs = _distinct(breach, base_breach)
            rejected[name] = (
                f"breaches its SLAs on {mine}% of model-time, more than the baseline ({theirs}%)"
            )
        else:
            fine.append(name)
    if not fine:
        why = "no other scenario saves money without breaching its SLAs more than the baseline"
        return ScenarioChoice(baseline, why, rejected)
    best = min(fine, key=lambda n: (rows[n][price], n))
    for name in fine:
        if name != best:
            rejected[name] = f"costs more than {best}"
    if base_breach is None:
        why = "the cheapest scenario; no SLA is declared, so its freshness was not judged"
    else:
        mine, theirs = _distinct(rows[best]["sla_breach_pct"], base_breach)
        why = (
            f"the cheapest scenario whose SLA breach ({mine}% of model-time) is no worse than "
            f"the baseline's ({theirs}%)"
        )
    return ScenarioChoice(best, why, rejected)


def _distinct(a: float, b: float) -> tuple[str, str]:
    """Two shares with the fewest decimals (1 to 4) that tell them apart (1 when equal).

    >>> _distinct(5.296, 5.263), _distinct(41.65, 5.26), _distinct(8.6, 8.6)
    (('5.30', '5.26'), ('41.6', '5.3'), ('8.6', '8.6'))
    """
    for digits in range(1, 5):
        left, right = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if left != right:
            return left, right
    return f"{a:.1f}", f"{b:.1f}"
