"""The bill of a decision log under a billing model: what the warehouse would charge.

:func:`price_bill` prices each scenario of a decision log with its cost model's
:class:`~saosim.cost.billing.Billing` (the same one for every scenario unless a scenario
overrides it). The queries are the ``build`` and ``run`` rows with a runtime (a view is not
a query under ``dbt_state``, which does not rebuild views), laid out at their ``started_at`` /
``finished_at`` in the replay's schedule.

``query_seconds``
    Σ query runtime ÷ concurrency × hourly rate, plus the per-run overheads of
    :class:`~saosim.cost.rates.CostModel` — the summary's ``cost_usd``, named.
``snowflake_warehouse``
    Per warehouse (``warehouses:``, job id → name), the union of its queries split into
    sessions (:mod:`saosim.cost.uptime`): each billed from resume to last query end plus
    ``auto_suspend_s``, at least 60 s, at the size's credits per hour. ``dbt_startup_s`` is a
    query at each run's start. Cloud services: SAO's metadata queries (``metadata_query_s`` per
    state-aware run) at ``cloud_services_credits_per_hour``, billed per UTC day only above 10%
    of that day's compute credits (warehouse ``CLOUD_SERVICES`` in ``per_day``).
``databricks_sql``
    The same uptime, at the size's DBU per hour, idle tail ``auto_stop_min``, no per-resume
    minimum; metadata queries run on the warehouse at each state-aware run's start.
``bigquery_on_demand``
    Per query ``max(bytes, 10 MiB × tables referenced)`` (tables referenced: the node's
    parents, at least one), $ per TiB, minus ``free_tib_per_month`` per calendar month.
``bigquery_editions``
    Every query holds ``slots_per_query`` slots from the second nearest its start to the second
    nearest its end; demand above ``baseline_slots`` is autoscaled in 50-slot steps and billed
    per second, each autoscaled episode at least 60 s at its peak; baseline slots cost
    ``baseline_slots × window hours`` whatever reuse does.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from saosim.project.graph import Project
>>> from saosim.cost.rates import CostModel
>>> t = datetime(2025, 1, 1, tzinfo=UTC)
>>> log = pl.DataFrame({"scenario": ["baseline"], "run_id": ["r1"], "job_id": ["j"], "run_at": [t],
...     "unique_id": ["model.demo.m"], "action": ["build"], "started_at": [t],
...     "finished_at": [datetime(2025, 1, 1, 0, 5, tzinfo=UTC)], "runtime_s": [300.0],
...     "cost_usd": [1.0]})
>>> b = price_bill(log, project=Project.from_spec({"raw.a": [], "m": ["raw.a"]}),
...                cost_model=CostModel())
>>> b.summary.select("billing", "bill_usd", "billed_hours").row(0)   # 5 min + 10 min tail on an M
('snowflake_warehouse', 3.0, 0.25)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import numba
import numpy as np
import polars as pl

from saosim.cost.billing import Billing
from saosim.cost.rates import TIB, CostModel
from saosim.cost.slots import (
    autoscaled_slot_seconds,
    query_columns,
    raw_second_counts,
    second_counts,
)
from saosim.cost.uptime import BlockMerger, sessions, split_by_day
from saosim.project.graph import Project

__all__ = ["Bill", "price_bill"]

MIB = 2**20
_US = 1_000_000
_CLOUD_SERVICES_FREE_SHARE = 0.10
CLOUD_SERVICES = "CLOUD_SERVICES"
_PER_DAY = {
    "scenario": pl.String,
    "warehouse": pl.String,
    "day": pl.Date,
    "units": pl.Float64,
    "usd": pl.Float64,
}
_SESSIONS = {
    "scenario": pl.String,
    "warehouse": pl.String,
    "resumed_at": pl.Datetime("us", "UTC"),
    "busy_until": pl.Datetime("us", "UTC"),
    "busy_s": pl.Float64,
    "billed_s": pl.Float64,
    "queries": pl.Int64,
}


@dataclass(frozen=True, eq=False)
class Bill:
    """What each scenario is billed.

    Attributes:
        summary: one row per scenario: ``billing``, ``bill_usd``, ``billed_units`` and
            ``unit`` (credits, DBU, TiB, slot_hours), ``busy_hours`` (some query running),
            ``billed_hours`` (warehouse up), ``resumes``, ``cloud_services_usd``,
            ``assumptions`` (one line).
        per_day: scenario, warehouse, day (UTC), units, usd.
        sessions: the uptime models' sessions: scenario, warehouse, resumed_at, busy_until,
            busy_s, billed_s, queries.
        billing: scenario → the :class:`Billing` it was priced with.
    """

    summary: pl.DataFrame
    per_day: pl.DataFrame
    sessions: pl.DataFrame
    billing: Mapping[str, Billing]


def price_bill(
    decisions: pl.DataFrame | pl.LazyFrame,
    *,
    project: Project,
    cost_model: CostModel,
    cost_models: Mapping[str, CostModel] | None = None,
    profiles: Mapping[str, str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Bill:
    """Price every scenario of a decision log with its billing model.

    Args:
        decisions: the ``decisions`` table, in memory or scanned (column ``scenario``; absent
            means one scenario ``""``), with ``started_at`` / ``finished_at`` of each node run.
        project: the DAG (views, tables referenced per query).
        cost_model: the comparison's cost model; ``cost_models`` overrides it per scenario.
        profiles: scenario → profile (``baseline`` runs no metadata queries); default
            ``baseline`` for a scenario so named, else state-aware.
        start, end: the window, for fixed costs (BigQuery baseline slots); default the log's.
    """
    cost_models = dict(cost_models or {})
    profiles = dict(profiles or {})
    log = decisions.lazy()
    schema = log.collect_schema()
    frame = _queries_frame(log)
    if "scenario" in schema:
        column = log.select(pl.col("scenario").unique(maintain_order=True))
        column = column.collect(engine="streaming")
        names = [str(x) for x in column.to_series().to_list()]
    else:
        names = [""]
    if start is None or end is None:
        bounds = frame.select(pl.col("run_at").min(), pl.col("finished_at").max())
        lo, hi = bounds.collect(engine="streaming").row(0)
        start = start or lo
        end = end or hi or lo
    window_h = 0.0 if start is None or end is None else (end - start).total_seconds() / 3600
    views = [u for u, n in project.nodes.items() if n.materialization == "view"]
    rows, days, sess = [], [], []
    billing: dict[str, Billing] = {}
    for name in names:
        model = cost_models.get(name, cost_model)
        billing[name] = model.billing
        profile = str(profiles.get(name, "baseline" if name == "baseline" else "sao"))
        # lazily, so each billing model materialises only the columns it reads
        part = frame
        if len(names) > 1:
            part = part.filter(pl.col("scenario") == name)
        runs = _runs(part)
        query = pl.col("action").is_in(("build", "run")) & (pl.col("runtime_s") > 0)
        if not model.bills_views(profile):  # dbt_state does not rebuild views
            query = query & ~pl.col("unique_id").cast(pl.String).is_in(views)
        queries = part.filter(query)
        state_aware = profile != "baseline"
        # the log itself, when its rows are this scenario's and none is left out by name
        raw = None
        if isinstance(decisions, pl.DataFrame) and len(names) == 1 and model.bills_views(profile):
            raw = decisions
        row, day, ses = _PRICERS[model.billing.name](
            queries,
            runs,
            model,
            state_aware=state_aware,
            project=project,
            window_h=window_h,
            raw=raw,
        )
        rows.append({"scenario": name, **row, "assumptions": model.billing.describe()})
        days.append(day.with_columns(pl.lit(name).alias("scenario")))
        if ses is not None:
            sess.append(ses.with_columns(pl.lit(name).alias("scenario")))
    summary = pl.DataFrame(
        rows,
        schema={
            "scenario": pl.String,
            "billing": pl.String,
            "bill_usd": pl.Float64,
            "billed_units": pl.Float64,
            "unit": pl.String,
            "busy_hours": pl.Float64,
            "billed_hours": pl.Float64,
            "resumes": pl.Int64,
            "cloud_services_usd": pl.Float64,
            "assumptions": pl.String,
        },
    )
    per_day = pl.concat([d.select(list(_PER_DAY)) for d in days] or [pl.DataFrame(schema=_PER_DAY)])
    sessions_frame = pl.concat(
        [s.select(list(_SESSIONS)) for s in sess] or [pl.DataFrame(schema=_SESSIONS)]
    )
    return Bill(summary, per_day.sort("scenario", "warehouse", "day"), sessions_frame, billing)


def _runs(part: pl.LazyFrame) -> pl.DataFrame:
    """run_id, job_id, run_at of every run, in the log's order of runs (by start: a log out of
    that order is sorted, stably), from each run's first row — streamed, so a log of hundreds
    of millions of rows is never held to find its few thousand runs."""
    runs = (
        part.select("run_id", "job_id", "run_at")
        .unique(subset=["run_id"], keep="first", maintain_order=True)
        .collect(engine="streaming")
    )
    if not runs.get_column("run_at").is_sorted():
        runs = runs.sort("run_at", maintain_order=True)
    return runs


#: rows of a scanned log priced at once
_BATCH_ROWS = 1 << 22


def _batches(query: pl.LazyFrame) -> Iterator[pl.DataFrame]:
    """``query``'s rows in order, a few million at a time (streamed from a scanned log)."""
    yield from query.collect_batches(chunk_size=_BATCH_ROWS, maintain_order=True)


def _queries_frame(decisions: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The columns pricing needs, in the log's own types (no per-row string made: a
    Categorical or Enum column compares with strings as it is)."""
    log = decisions.lazy()
    cols = log.collect_schema().names()
    nulls = log.select(
        *[pl.col(c).null_count() for c in ("started_at", "finished_at") if c in cols]
    ).collect(engine="streaming")
    scenario = pl.col("scenario") if "scenario" in cols else pl.lit("").alias("scenario")
    start = pl.col("started_at") if "started_at" in cols else pl.col("run_at")
    runtime = pl.col("runtime_s").cast(pl.Float64) if "runtime_s" in cols else pl.lit(0.0)
    finish = start + pl.duration(microseconds=runtime * _US)
    if "finished_at" in cols:
        finish = (
            pl.col("finished_at")
            if not nulls.get_column("finished_at")[0]
            else pl.coalesce("finished_at", finish)
        )
    if "started_at" in cols and nulls.get_column("started_at")[0]:
        start = pl.coalesce(start, pl.col("run_at"))
    return log.select(
        scenario,
        pl.col("run_id"),
        (pl.col("job_id") if "job_id" in cols else pl.lit(None, pl.String)).alias("job_id"),
        pl.col("run_at"),
        pl.col("unique_id"),
        pl.col("action"),
        start.alias("started_at"),
        finish.alias("finished_at"),
        runtime.alias("runtime_s"),
        (pl.col("cost_usd") if "cost_usd" in cols else pl.lit(None))
        .cast(pl.Float64)
        .alias("cost_usd"),
    )


def _us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us")


def _row(
    billing: str,
    usd: float,
    units: float,
    unit: str,
    busy_s: float = 0.0,
    billed_s: float = 0.0,
    resumes: int = 0,
    cloud_usd: float = 0.0,
) -> dict:
    return {
        "billing": billing,
        "bill_usd": float(usd),
        "billed_units": float(units),
        "unit": unit,
        "busy_hours": busy_s / 3600,
        "billed_hours": billed_s / 3600,
        "resumes": int(resumes),
        "cloud_services_usd": float(cloud_usd),
    }


def _query_seconds(queries, runs, model: CostModel, *, state_aware, project, window_h, raw=None):
    fallback = pl.col("runtime_s") / model.concurrency * model.usd_per_second
    rows = queries.with_columns(
        (pl.col("runtime_s") / model.concurrency).alias("billed_s"),
        pl.coalesce("cost_usd", fallback).alias("usd"),
    )
    per_run = runs.join(
        rows.group_by("run_id")
        .agg(pl.col("billed_s").sum(), pl.col("usd").sum())
        .collect(engine="streaming"),
        on="run_id",
        how="left",
    ).with_columns(pl.col("billed_s").fill_null(0.0), pl.col("usd").fill_null(0.0))
    overhead = model.run_overhead_usd_array(per_run.get_column("billed_s").to_numpy(), state_aware)
    per_run = per_run.with_columns((pl.col("usd") + pl.Series(overhead)).alias("usd"))
    unit_usd = model.billing.usd_per_unit or 1.0
    day = (
        per_run.group_by(pl.col("run_at").dt.date().alias("day"))
        .agg(pl.col("usd").sum())
        .with_columns(pl.lit("all").alias("warehouse"), (pl.col("usd") / unit_usd).alias("units"))
    )
    usd = float(per_run.get_column("usd").sum())
    busy = float(per_run.get_column("billed_s").sum())
    return _row("query_seconds", usd, usd / unit_usd, "credits", busy, busy), day, None


def _uptime(queries, runs, model: CostModel, *, state_aware, project, window_h, raw=None):
    b = model.billing
    warehouses = sorted({w for _, w in b.warehouses} | {b.warehouse_of(None)})
    code_of = {w: i for i, w in enumerate(warehouses)}

    def codes(frame: pl.DataFrame) -> np.ndarray:
        names = frame.get_column("job_id").cast(pl.String).to_list()
        return np.array([code_of[b.warehouse_of(j)] for j in names], np.int64)

    # a warehouse code per run (runs are few), joined onto its queries when there are several
    per_run = codes(runs)
    several = np.unique(per_run).size > 1
    default = code_of[b.warehouse_of(None)]
    one = per_run[0] if per_run.size else default
    fast = _raw_blocks(raw, runs, per_run, several, one) if raw is not None else None
    if fast is not None:
        block_wh, b_start, b_end, count = fast
    else:
        # overlapping neighbours on one warehouse merge into one interval (the same union),
        # batch by batch: a scanned log of a year is never held whole
        merger = BlockMerger()
        run_codes = runs.select("run_id").with_columns(pl.Series("wh", per_run, dtype=pl.Int64))
        q = queries.select(*(["run_id"] if several else []), _us("started_at"), _us("finished_at"))
        for batch in _batches(q):
            if several:
                wh = batch.select("run_id").join(
                    run_codes, on="run_id", how="left", maintain_order="left"
                )
                segment = wh.get_column("wh").fill_null(default).to_numpy()
            else:
                segment = np.full(batch.height, one, dtype=np.int64)
            merger.add(
                segment,
                batch.get_column("started_at").to_numpy(),
                batch.get_column("finished_at").to_numpy(),
            )
        block_wh, b_start, b_end, count = merger.blocks()
    group = [block_wh]
    start, end, counts = [b_start], [b_end], [count]
    extra_s = model.dbt_startup_s
    if b.name == "databricks_sql" and state_aware:
        extra_s += model.metadata_query_s  # metadata queries run on the SQL warehouse
    if extra_s > 0 and runs.height:
        run_start = runs.select(_us("run_at")).to_series().to_numpy()
        group.append(codes(runs))
        start.append(run_start)
        end.append(run_start + round(extra_s * _US))
        counts.append(np.zeros(runs.height, dtype=np.int64))
    s = sessions(
        np.concatenate(group),
        np.concatenate(start),
        np.concatenate(end),
        auto_suspend_s=b.auto_suspend_s,
        min_resume_s=b.min_resume_s,
        count=np.concatenate(counts),
    )
    row_i, day_i, sec = split_by_day(s.start_us, s.billed_s)
    units = sec / 3600 * b.units_per_hour
    day = (
        pl.DataFrame({"wh": s.group[row_i], "day": day_i.astype(np.int32), "units": units})
        .group_by("wh", "day")
        .agg(pl.col("units").sum())
    )
    day = day.with_columns(
        pl.col("wh")
        .replace_strict(list(code_of.values()), list(code_of), return_dtype=pl.String)
        .alias("warehouse"),
        pl.col("day").cast(pl.Date),
        (pl.col("units") * b.usd_per_unit).alias("usd"),
    )
    cloud_usd = 0.0
    if b.name == "snowflake_warehouse" and state_aware and model.metadata_query_s > 0:
        cloud = _cloud_services(runs, day, model)
        cloud_usd = float(cloud.get_column("usd").sum())
        day = pl.concat([day.select(list(_PER_DAY)[1:]), cloud], how="vertical")
    compute_units = float(units.sum())
    sess = pl.DataFrame(
        {
            "warehouse": [warehouses[i] for i in s.group.tolist()],
            "resumed_at": s.start_us,
            "busy_until": s.busy_end_us,
            "busy_s": s.busy_s,
            "billed_s": s.billed_s,
            "queries": s.queries.astype(np.int64),
        }
    ).with_columns(pl.col("resumed_at", "busy_until").cast(pl.Datetime("us", "UTC")))
    usd = compute_units * b.usd_per_unit + cloud_usd
    unit = "credits" if b.name == "snowflake_warehouse" else "DBU"
    row = _row(
        b.name,
        usd,
        compute_units + cloud_usd / b.usd_per_unit,
        unit,
        float(s.busy_s.sum()),
        float(s.billed_s.sum()),
        s.start_us.size,
        cloud_usd,
    )
    return row, day.select(list(_PER_DAY)[1:]), sess


def _raw_blocks(raw: pl.DataFrame, runs, per_run, several: bool, one: int):
    """:func:`run_blocks` straight from the log's own arrays (no filtered copy of a log of
    tens of millions of rows): a query is a ``build`` / ``run`` row with a runtime. None when
    the log's types do not allow it (the caller then filters with polars)."""
    columns = query_columns(raw, ("run_id",))
    if columns is None:
        return None
    action, start, end, wanted = columns
    run_code = np.zeros(0, dtype=np.int64)
    lookup = np.zeros(0, dtype=np.int64)
    if several:
        run_id = raw.get_column("run_id")
        if not isinstance(run_id.dtype, pl.Categorical) or run_id.null_count():
            return None
        run_code = run_id.to_physical().to_numpy()
        known = runs.get_column("run_id").to_physical().to_numpy()
        lookup = np.full(int(max(run_code.max(), known.max())) + 1, one, dtype=np.int64)
        lookup[known] = per_run
    _, seg, b_start, b_end, count = _merge_raw(
        action.to_physical().to_numpy(),
        wanted,
        raw.get_column("runtime_s").fill_null(0.0).to_numpy(),
        start.to_physical().to_numpy(),
        end.to_physical().to_numpy(),
        run_code,
        lookup,
        one,
    )
    return seg, b_start, b_end, count


@numba.njit(cache=True)
def _merge_raw(action, wanted, runtime, start, end, run_code, lookup, one):  # pragma: no cover
    """:func:`saosim.cost.uptime.run_blocks` with the query test and the warehouse lookup
    inline: one pass over the log."""
    n = start.shape[0]
    out_row = np.empty(n, np.int64)
    out_seg = np.empty(n, np.int64)
    out_s = np.empty(n, np.int64)
    out_e = np.empty(n, np.int64)
    out_n = np.empty(n, np.int64)
    k = -1
    several = run_code.shape[0] > 0
    for i in range(n):
        if not wanted[action[i]] or not runtime[i] > 0:
            continue
        seg = lookup[run_code[i]] if several else one
        s, e = start[i], end[i]
        if e < s:
            e = s
        if k >= 0 and seg == out_seg[k] and s <= out_e[k] and e >= out_s[k]:
            if s < out_s[k]:
                out_s[k] = s
            if e > out_e[k]:
                out_e[k] = e
            out_n[k] += 1
        else:
            k += 1
            out_row[k] = i
            out_seg[k] = seg
            out_s[k] = s
            out_e[k] = e
            out_n[k] = 1
    return out_row[: k + 1], out_seg[: k + 1], out_s[: k + 1], out_e[: k + 1], out_n[: k + 1]


def _cloud_services(runs: pl.DataFrame, compute_day: pl.DataFrame, model: CostModel):
    """Billed cloud-services credits per UTC day: metadata queries above 10% of compute."""
    b = model.billing
    per_run = model.metadata_query_s / 3600 * b.cloud_services_credits_per_hour
    used = runs.group_by(pl.col("run_at").dt.date().alias("day")).agg(
        (pl.len() * per_run).alias("cloud")
    )
    compute = compute_day.group_by("day").agg(pl.col("units").sum().alias("compute"))
    return (
        used.join(compute, on="day", how="left")
        .with_columns(
            (pl.col("cloud") - _CLOUD_SERVICES_FREE_SHARE * pl.col("compute").fill_null(0.0))
            .clip(lower_bound=0.0)
            .alias("units")
        )
        .select(
            pl.lit(CLOUD_SERVICES).alias("warehouse"),
            "day",
            "units",
            (pl.col("units") * b.usd_per_unit).alias("usd"),
        )
    )


def _bigquery_on_demand(
    queries, runs, model: CostModel, *, state_aware, project, window_h, raw=None
):
    b = model.billing
    tables = pl.DataFrame(
        {
            "unique_id": list(project.order),
            "tables": [max(len(project.parents(u)), 1) for u in project.order],
        },
        schema={"unique_id": pl.String, "tables": pl.Int64},
    )
    per_byte = model.usd_per_tib / TIB
    q = queries.select(
        pl.col("unique_id").cast(pl.String), "started_at", "runtime_s", "cost_usd"
    ).collect(engine="streaming")
    q = q.join(tables, on="unique_id", how="left").with_columns(
        pl.max_horizontal(
            pl.col("cost_usd").fill_null(0.0) / per_byte if per_byte > 0 else pl.lit(0.0),
            pl.col("tables").fill_null(1) * (10 * MIB),
        ).alias("bytes")
    )
    free = b.free_tib_per_month
    day = (
        q.group_by(pl.col("started_at").dt.date().alias("day"))
        .agg((pl.col("bytes").sum() / TIB).alias("used_tib"))
        .sort("day")
        .with_columns(
            pl.col("used_tib").cum_sum().over(pl.col("day").dt.month_start()).alias("cum")
        )
        .with_columns(
            (
                (pl.col("cum") - free).clip(lower_bound=0.0)
                - (pl.col("cum") - pl.col("used_tib") - free).clip(lower_bound=0.0)
            ).alias("units")
        )
        .select(
            pl.lit("bigquery").alias("warehouse"),
            "day",
            "units",
            (pl.col("units") * model.usd_per_tib).alias("usd"),
        )
    )
    units = float(day.get_column("units").sum())
    busy = float(q.get_column("runtime_s").sum())
    return _row(b.name, units * model.usd_per_tib, units, "TiB", busy, busy), day, None


def _bigquery_editions(
    queries, runs, model: CostModel, *, state_aware, project, window_h, raw=None
):
    b = model.billing
    counted = raw_second_counts(raw) if raw is not None else None
    if counted is None:
        q = queries.select(_us("started_at"), _us("finished_at"), "runtime_s")
        q = q.collect(engine="streaming")
        start = q.get_column("started_at").to_numpy()
        end = np.maximum(q.get_column("finished_at").to_numpy(), start)
        counted = (*second_counts(start, end), float(q.get_column("runtime_s").sum()))
    first, count, busy = counted
    slot_s, day_slot_s = autoscaled_slot_seconds(first, count, b.slots_per_query, b.baseline_slots)
    fixed_h = b.baseline_slots * window_h
    day = pl.DataFrame(
        {"day": list(day_slot_s), "units": [v / 3600 for v in day_slot_s.values()]},
        schema={"day": pl.Int32, "units": pl.Float64},
    ).with_columns(
        pl.lit("bigquery").alias("warehouse"),
        pl.col("day").cast(pl.Date),
        (pl.col("units") * b.usd_per_slot_hour).alias("usd"),
    )
    units = slot_s / 3600 + fixed_h
    row = _row(b.name, units * b.usd_per_slot_hour, units, "slot_hours", busy, busy)
    return row, day.select(list(_PER_DAY)[1:]), None


_PRICERS = {
    "query_seconds": _query_seconds,
    "snowflake_warehouse": _uptime,
    "databricks_sql": _uptime,
    "bigquery_on_demand": _bigquery_on_demand,
    "bigquery_editions": _bigquery_editions,
}
