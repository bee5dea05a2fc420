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

if TYPE_CHECKING:
    import pandas as pd

    from saosim.cost.rates import CostModel
    from saosim.metrics.staleness import StalenessResult
    from saosim.metrics.tables import Metrics
    from saosim.replay.engine import Scenario

__all__ = ["Comparison"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenarios replayed over one estate.

    Attributes:
        estate: what was replayed.
        scenarios: the scenarios, the baseline first.
        decisions: one row per scenario × run × selected node (the ``decisions`` table plus
            ``status``: success / error / skipped / pass / fail / warn, null for reuses).
        cost_model: the rates used.
        start, end: the replay window.
    """

    estate: Estate
    scenarios: tuple[Scenario, ...]
    decisions: pl.DataFrame
    cost_model: CostModel
    start: datetime
    end: datetime
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

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
                    self.decisions,
                    project=self.estate.project,
                    arrivals=self.estate.source_arrivals,
                    freshness=dict(self.freshness),
                    start=self.start,
                    end=self.end,
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
                self.decisions,
                project=self.estate.project,
                arrivals=self.estate.source_arrivals,
                freshness=dict(self.freshness),
                cost_model=self.cost_model,
                profiles=self.profiles,
                baseline=self.baseline,
                start=self.start,
                end=self.end,
                staleness_results=self.staleness(staleness),
            )
        return self._cache["metrics"]

    def bill(self) -> Bill:
        """What each scenario is billed under its billing model (:mod:`saosim.cost.bill`): the
        comparison's cost model for every scenario, unless a scenario brings its own."""
        if "bill" not in self._cache:
            self._cache["bill"] = price_bill(
                self.decisions,
                project=self.estate.project,
                cost_model=self.cost_model,
                cost_models={s.name: s.cost_model for s in self.scenarios if s.cost_model},
                profiles=self.profiles,
                start=self.start,
                end=self.end,
            )
        return self._cache["bill"]

    def summary(self) -> pl.DataFrame:
        """One row per scenario: runs, builds, reuses, reuse %, cost, savings, staleness, SLA,
        and the bill: ``billing`` (the billing model), ``bill_usd``, ``bill_savings_usd``,
        ``bill_savings_pct`` (against the baseline's bill) and ``warehouse_hours`` (billed
        uptime; null for BigQuery). ``cost_usd`` stays the query-seconds figure."""
        return _with_bill(self.metrics().summary, self.bill().summary, self.baseline)

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
        return self.decisions.filter(pl.col("scenario") == scenario)

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
        """Write the decision log as Parquet."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.decisions.write_parquet(out)
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
