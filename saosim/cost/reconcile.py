"""Reconciliation: what the warehouse metered against saosim's priced baseline replay.

Per warehouse and UTC day, :func:`reconcile` puts side by side

- ``metered_units`` / ``metered_usd``: what the vendor metered (credits, DBU, TiB or slot-hours
  of the billing model in use, priced at the rates file's price);
- ``saosim_units`` / ``saosim_usd``: the baseline replay of the same history, priced by the
  same billing model (:func:`saosim.cost.bill.price_bill`);
- ``difference_usd`` = saosim − metered (negative: saosim's baseline is below the bill);
- ``dbt_units``: what dbt's own queries explain. With a query history, it is the uptime of
  the dbt queries alone (same billing model, so another workload sharing the warehouse is not
  counted); without one, the replay stands in for it;
- ``unexplained_units`` = metered − dbt and ``unexplained_pct`` of metered: usage no dbt
  query explains (other workloads on the same warehouse). Never clipped: a negative value
  says dbt's queries explain more than was metered (a wrong size, rate or time zone).

Pure: the metered tables come from :mod:`saosim.inputs.metering`.

>>> import polars as pl
>>> from datetime import date, datetime, UTC
>>> from saosim.cost.billing import Billing
>>> usage = pl.DataFrame({"vendor": ["snowflake"], "warehouse": ["WH"],
...     "day": [date(2025, 1, 1)], "unit": ["credits"], "units": [2.0],
...     "cloud_services_units": [0.1]})
>>> bill = pl.DataFrame({"warehouse": ["WH"], "day": [date(2025, 1, 1)], "units": [1.5]})
>>> r = reconcile(usage, None, bill, Billing(warehouses=(("default", "WH"),)))
>>> r.per_warehouse_day.select("metered_usd", "saosim_usd", "difference_usd").row(0)
(6.0, 4.5, -1.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from saosim.cost.billing import Billing
from saosim.cost.uptime import sessions, split_by_day

__all__ = ["Reconciliation", "reconcile"]

_UNIT = {
    "snowflake_warehouse": "credits",
    "query_seconds": "credits",
    "databricks_sql": "DBU",
    "bigquery_on_demand": "TiB",
    "bigquery_editions": "slot_hours",
}
_US = 1_000_000


@dataclass(frozen=True, eq=False)
class Reconciliation:
    """Per warehouse and day (see the module docstring), the totals, and notes for the user.

    ``totals``: metered_units, metered_usd, saosim_units, saosim_usd, difference_usd,
    difference_pct, dbt_units, unexplained_units, unexplained_pct, unit, explained_by.
    """

    per_warehouse_day: pl.DataFrame
    totals: dict
    notes: tuple[str, ...]


def _price(billing: Billing) -> float:
    if billing.name == "bigquery_on_demand":
        return billing.usd_per_tib
    if billing.name == "bigquery_editions":
        return billing.usd_per_slot_hour
    return billing.usd_per_unit


def reconcile(
    usage: pl.DataFrame,
    queries: pl.DataFrame | None,
    bill_per_day: pl.DataFrame,
    billing: Billing,
) -> Reconciliation:
    """Metered usage against the priced baseline, per warehouse and day.

    Args:
        usage: ``Metering.usage`` (warehouse, day, unit, units, cloud_services_units).
        queries: ``Metering.queries`` (None or empty: no query history).
        bill_per_day: the baseline's ``Bill.per_day`` (warehouse, day, units).
        billing: the billing model both sides are priced with.
    """
    unit = _UNIT[billing.name]
    price = _price(billing)
    notes: list[str] = []
    metered = (
        usage.filter(pl.col("unit") == unit)
        .group_by("warehouse", "day")
        .agg(
            pl.col("units").sum().alias("metered_units"),
            pl.col("cloud_services_units").fill_null(0.0).sum().alias("metered_cloud_units"),
        )
    )
    if metered.height == 0:
        units = sorted(set(usage.get_column("unit"))) if usage.height else []
        notes.append(
            f"the metering export has no {unit} (billing {billing.name}); it has "
            + (", ".join(units) if units else "no usage rows")
        )
    saosim = (
        bill_per_day.filter(pl.col("warehouse") != "CLOUD_SERVICES")
        .group_by("warehouse", "day")
        .agg(pl.col("units").sum().alias("saosim_units"))
    )
    have_queries = queries is not None and queries.filter(pl.col("is_dbt")).height > 0
    if have_queries:
        dbt = _dbt_units(queries.filter(pl.col("is_dbt")), billing)
        explained_by = "query_history"
    else:
        dbt = saosim.rename({"saosim_units": "dbt_units"})
        explained_by = "replay"
        notes.append(
            "no query history given: the replay stands in for dbt's queries, so unexplained "
            "usage is metered minus saosim's baseline (give QUERY_HISTORY to separate them)"
        )
    days = metered.select("day").unique()
    if days.height:  # compare the days the export covers
        saosim = saosim.join(days, on="day", how="semi")
        dbt = dbt.join(days, on="day", how="semi")
    keys = ["warehouse", "day"]
    frame = (
        metered.join(saosim, on=keys, how="full", coalesce=True)
        .join(dbt, on=keys, how="full", coalesce=True)
        .with_columns(
            pl.col(c).fill_null(0.0)
            for c in ("metered_units", "metered_cloud_units", "saosim_units", "dbt_units")
        )
        .with_columns(
            (pl.col("metered_units") * price).alias("metered_usd"),
            (pl.col("saosim_units") * price).alias("saosim_usd"),
            (pl.col("metered_units") - pl.col("dbt_units")).alias("unexplained_units"),
        )
        .with_columns(
            (pl.col("saosim_usd") - pl.col("metered_usd")).alias("difference_usd"),
            pl.when(pl.col("metered_units") > 0)
            .then(100.0 * pl.col("unexplained_units") / pl.col("metered_units"))
            .alias("unexplained_pct"),
        )
        .sort(keys)
        .select(
            *keys,
            "metered_units",
            "metered_usd",
            "saosim_units",
            "saosim_usd",
            "difference_usd",
            "dbt_units",
            "unexplained_units",
            "unexplained_pct",
            "metered_cloud_units",
        )
    )
    metered_wh = set(metered.get_column("warehouse"))
    saosim_wh = set(saosim.get_column("warehouse"))
    for wh in sorted(saosim_wh - metered_wh):
        notes.append(
            f"saosim bills warehouse {wh!r}, which the metering export does not name; map jobs "
            "to the metered names with `warehouses: {default: NAME, JOB: NAME}` in --rates"
        )
    for wh in sorted(metered_wh - saosim_wh):
        notes.append(f"warehouse {wh!r} is metered but no replayed job runs on it: all unexplained")
    sums = frame.select(pl.col(pl.Float64).sum()).row(0, named=True) if frame.height else {}
    m = sums.get("metered_units", 0.0)
    totals = {
        "unit": unit,
        "explained_by": explained_by,
        **{
            k: sums.get(k, 0.0)
            for k in (
                "metered_units",
                "metered_usd",
                "saosim_units",
                "saosim_usd",
                "difference_usd",
                "dbt_units",
                "unexplained_units",
            )
        },
        "difference_pct": (100.0 * sums.get("difference_usd", 0.0) / sums["metered_usd"])
        if sums.get("metered_usd")
        else None,
        "unexplained_pct": 100.0 * sums.get("unexplained_units", 0.0) / m if m else None,
    }
    return Reconciliation(frame, totals, tuple(notes))


def _dbt_units(queries: pl.DataFrame, billing: Billing) -> pl.DataFrame:
    """Units per warehouse and day that dbt's queries alone would be billed."""
    schema = {"warehouse": pl.String, "day": pl.Date, "dbt_units": pl.Float64}
    if billing.name == "bigquery_on_demand":
        return queries.group_by("warehouse", pl.col("started_at").dt.date().alias("day")).agg(
            (pl.col("bytes_billed").fill_null(0.0).sum() / 2**40).alias("dbt_units")
        )
    if billing.name == "bigquery_editions":
        return queries.group_by("warehouse", pl.col("started_at").dt.date().alias("day")).agg(
            (pl.col("slot_ms").fill_null(0.0).sum() / 3.6e6).alias("dbt_units")
        )
    names = sorted(set(queries.get_column("warehouse")))
    code = {w: i for i, w in enumerate(names)}
    group = np.array([code[w] for w in queries.get_column("warehouse").to_list()], np.int64)
    start = queries.get_column("started_at").dt.epoch("us").to_numpy()
    end = queries.get_column("finished_at").dt.epoch("us").to_numpy()
    if billing.name == "query_seconds":
        row = np.arange(start.size)
        day_row, day, sec = split_by_day(start, (end - start) / _US)
        wh = group[row][day_row]
    else:
        s = sessions(
            group,
            start,
            end,
            auto_suspend_s=billing.auto_suspend_s,
            min_resume_s=billing.min_resume_s,
        )
        day_row, day, sec = split_by_day(s.start_us, s.billed_s)
        wh = s.group[day_row]
    frame = pl.DataFrame(
        {"wh": wh, "day": day.astype(np.int32), "dbt_units": sec / 3600 * billing.units_per_hour}
    )
    out = frame.group_by("wh", "day").agg(pl.col("dbt_units").sum())
    return out.select(
        pl.col("wh")
        .replace_strict(list(code.values()), list(code), return_dtype=pl.String)
        .alias("warehouse"),
        pl.col("day").cast(pl.Date),
        "dbt_units",
    ).cast(schema)
