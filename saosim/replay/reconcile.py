"""Reconcile a history's baseline replay with what the warehouse metered.

>>> from saosim.synth.estate import synthetic_estate
>>> import polars as pl
>>> from saosim.inputs.metering import Metering
>>> empty = Metering(pl.DataFrame(schema={"vendor": pl.String, "warehouse": pl.String,
...     "hour": pl.Datetime("us", "UTC"), "day": pl.Date, "unit": pl.String, "units": pl.Float64,
...     "cloud_services_units": pl.Float64}), pl.DataFrame(schema={"vendor": pl.String,
...     "warehouse": pl.String, "is_dbt": pl.Boolean}), ())
>>> r = reconcile_estate(synthetic_estate(n_models=30, days=1, seed=2), empty, engine="plain")
>>> r.totals["metered_units"], r.totals["saosim_units"] > 0
(0.0, True)
"""

from __future__ import annotations

import polars as pl

from saosim.cost.rates import CostModel
from saosim.cost.reconcile import Reconciliation, reconcile
from saosim.inputs.estate import Estate
from saosim.inputs.metering import Metering
from saosim.replay.engine import Scenario, simulate

__all__ = ["reconcile_estate"]


def reconcile_estate(
    estate: Estate,
    metering: Metering,
    *,
    cost_model: CostModel | None = None,
    engine: str = "auto",
) -> Reconciliation:
    """Replay the history as it ran (``baseline``), price it with ``cost_model``'s billing
    model, and set it against the metered usage per warehouse and day
    (:func:`saosim.cost.reconcile.reconcile`)."""
    cost_model = cost_model or CostModel()
    comparison = simulate(
        estate, [Scenario("baseline", "baseline")], cost_model=cost_model, engine=engine
    )
    per_day = comparison.bill().per_day.filter(pl.col("scenario") == "baseline")
    queries = metering.queries if metering.queries.height else None
    return reconcile(metering.usage, queries, per_day, cost_model.billing)
