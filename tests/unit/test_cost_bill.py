"""Billing models: hand-computed bills to the cent, the uptime union against a brute force, and
the bill in a comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.cost.bill import price_bill
from saosim.cost.billing import Billing
from saosim.cost.rates import CostModel
from saosim.cost.uptime import BlockMerger, run_blocks, sessions, split_by_day
from saosim.errors import ConfigError
from saosim.project.graph import Project

T0 = datetime(2025, 3, 1, tzinfo=UTC)
PROJECT = Project.from_spec({"raw.a": [], "raw.b": [], "a": ["raw.a"], "b": ["raw.a", "raw.b"]})
A, B = "model.demo.a", "model.demo.b"


def _log(rows, scenario="baseline"):
    """rows: (run_id, job_id, run_at_s, unique_id, start_s, end_s, cost_usd)."""
    return pl.DataFrame(
        {
            "scenario": [scenario] * len(rows),
            "run_id": [r[0] for r in rows],
            "job_id": [r[1] for r in rows],
            "run_at": [T0 + timedelta(seconds=r[2]) for r in rows],
            "unique_id": [r[3] for r in rows],
            "action": ["build"] * len(rows),
            "reason": ["stateless"] * len(rows),
            "started_at": [T0 + timedelta(seconds=r[4]) for r in rows],
            "finished_at": [T0 + timedelta(seconds=r[5]) for r in rows],
            "runtime_s": [float(r[5] - r[4]) for r in rows],
            "cost_usd": [r[6] for r in rows],
        }
    )


# Three runs on one warehouse: r1 (two concurrent queries, 0–300 s), r2 arriving inside r1's
# 30 s suspend tail (320–620 s), r3 whose busy time is under a minute (5000–5020 s).
THREE_RUNS = [
    ("r1", "hourly", 0, A, 0, 300, None),
    ("r1", "hourly", 0, B, 100, 250, None),
    ("r2", "hourly", 320, A, 320, 620, None),
    ("r3", "hourly", 5000, A, 5000, 5020, None),
]


def _bill(rows, rates, **kw):
    return price_bill(
        _log(rows, kw.pop("scenario", "baseline")),
        project=PROJECT,
        cost_model=CostModel.from_config(rates),
        **kw,
    )


def test_snowflake_three_runs_by_hand():
    bill = _bill(THREE_RUNS, {"warehouse_size": "M", "usd_per_credit": 3.0, "auto_suspend_s": 30})
    # session 1: 0 → 620 s + 30 s tail = 650 s; session 2: 20 s + 30 s = 50 s, billed 60 s
    # 710 s × 4 credits/h = 0.78889 credits × $3 = $2.3667
    row = bill.summary.row(0, named=True)
    assert row["billing"] == "snowflake_warehouse"
    assert round(row["bill_usd"], 2) == 2.37
    assert row["bill_usd"] == pytest.approx(710 / 3600 * 4 * 3.0)
    assert row["resumes"] == 2
    assert row["busy_hours"] == pytest.approx((600 + 20) / 3600)
    assert bill.sessions.get_column("billed_s").to_list() == [650.0, 60.0]
    assert bill.sessions.get_column("queries").to_list() == [3, 1]
    assert bill.per_day.get_column("usd").sum() == pytest.approx(row["bill_usd"])


def test_snowflake_default_tail_and_second_warehouse():
    rates = {"warehouses": {"default": "TRANSFORM_WH", "daily": "DAILY_WH"}}
    rows = [*THREE_RUNS, ("r4", "daily", 100, A, 100, 160, None)]
    bill = _bill(rows, rates)
    # default 600 s tail: TRANSFORM_WH one session 0 → 5020 s + 600 = 5620 s (r3 arrives within
    # the tail of r2? 620 + 600 = 1220 < 5000: no, two sessions: 620 + 600 and 20 + 600)
    # DAILY_WH: 60 s + 600 s; concurrency across warehouses is billed on each
    by_wh = bill.sessions.group_by("warehouse").agg(pl.col("billed_s").sum())
    assert dict(by_wh.iter_rows()) == {"TRANSFORM_WH": 1220.0 + 620.0, "DAILY_WH": 660.0}
    total_s = 1220 + 620 + 660
    assert round(bill.summary.get_column("bill_usd")[0], 2) == round(total_s / 3600 * 12, 2)


def test_query_seconds_is_the_old_formula():
    bill = _bill(THREE_RUNS, {"billing": "query_seconds"})
    # 300 + 150 + 300 + 20 = 770 s; r3 used 20 s, topped up to the 60 s minimum → 810 s at $12/h
    assert round(bill.summary.get_column("bill_usd")[0], 2) == 2.70


def test_databricks_by_hand():
    rates = {"billing": "databricks_sql", "warehouse_size": "Small", "auto_stop_min": 1}
    bill = _bill(THREE_RUNS, rates)
    # session 1: 0 → 620 + 60 = 680 s; session 2: 20 + 60 = 80 s (no per-resume minimum)
    # 760 s × 12 DBU/h × $0.70 = $1.7733
    row = bill.summary.row(0, named=True)
    assert (row["unit"], round(row["bill_usd"], 2)) == ("DBU", 1.77)
    assert row["billed_units"] == pytest.approx(760 / 3600 * 12)


def test_bigquery_on_demand_by_hand():
    tib, mib = 2.0**40, 2.0**20
    rows = [
        ("r1", "j", 0, A, 0, 60, 6.25),  # 1 TiB at $6.25/TiB
        ("r1", "j", 0, B, 0, 5, 6.25 * mib / tib),  # 1 MiB, 2 tables referenced → 20 MiB billed
    ]
    rates = {"billing": "bigquery_on_demand", "free_tib_per_month": 0.5}
    bill = _bill(rows, rates)
    billed_tib = 1 + 20 * mib / tib - 0.5
    assert bill.summary.get_column("billed_units")[0] == pytest.approx(billed_tib)
    assert round(bill.summary.get_column("bill_usd")[0], 2) == round(billed_tib * 6.25, 2) == 3.13


def test_bigquery_editions_by_hand():
    rows = [
        ("r1", "j", 0, A, 0, 30, None),  # 100 slots for 30 s
        ("r2", "j", 1000, A, 1000, 1100, None),
        ("r2", "j", 1000, B, 1050, 1200, None),
    ]
    rates = {"billing": "bigquery_editions", "baseline_slots": 50, "slots_per_query": 100}
    bill = _bill(rows, rates, start=T0, end=T0 + timedelta(hours=1))
    # episode 1: 50 slots above baseline for 30 s, billed one minute: 3,000 slot-s; episode 2:
    # 50 × 50 s + 150 × 50 s + 50 × 100 s = 15,000 slot-s; baseline 50 slots × 1 h (fixed)
    slot_hours = (3000 + 15000) / 3600 + 50
    assert bill.summary.get_column("billed_units")[0] == pytest.approx(slot_hours)
    assert round(bill.summary.get_column("bill_usd")[0], 2) == 3.30


def test_cloud_services_above_ten_percent():
    rates = {"auto_suspend_s": 30, "metadata_query_s": 60, "cloud_services_credits_per_hour": 4}
    sao = _bill(THREE_RUNS, rates, scenario="sao", profiles={"sao": "sao"})
    base = _bill(THREE_RUNS, rates, profiles={"baseline": "baseline"})
    compute = 710 / 3600 * 4
    cloud = 3 * 60 / 3600 * 4 - 0.1 * compute  # three state-aware runs that day
    assert sao.summary.get_column("cloud_services_usd")[0] == pytest.approx(cloud * 3)
    assert round(sao.summary.get_column("bill_usd")[0], 2) == round((compute + cloud) * 3, 2)
    assert base.summary.get_column("cloud_services_usd")[0] == 0.0
    # under 10% of compute, metadata queries cost nothing
    cheap = _bill(THREE_RUNS, {**rates, "metadata_query_s": 5}, scenario="sao")
    assert cheap.summary.get_column("cloud_services_usd")[0] == 0.0


def test_dbt_startup_is_a_query_at_run_start():
    bill = _bill([("r1", "j", 0, A, 100, 130, None)], {"auto_suspend_s": 0, "dbt_startup_s": 10})
    # startup 0–10 s, idle 10–100 s (> 0 s tail: suspends), query 100–130 s: 60 s + 60 s billed
    assert bill.sessions.get_column("billed_s").to_list() == [60.0, 60.0]


def _brute_force(group, start, end, tail, minimum):
    """Second-by-second uptime: a second is billed if a query runs or one ended ≤ tail ago."""
    out = {}
    for g in np.unique(group):
        s, e = start[group == g], end[group == g]
        up = np.zeros(int(e.max() + tail) + 2, dtype=bool)
        busy = np.zeros_like(up)
        for a, b in zip(s, e, strict=True):
            busy[a:b] = True
            up[a : b + tail] = True
        # a resume starts a session; a session shorter than the minimum is billed the minimum
        edges = np.flatnonzero(np.diff(np.concatenate([[0], up.astype(int), [0]])))
        lengths = edges[1::2] - edges[::2]
        out[int(g)] = (float(np.maximum(lengths, minimum).sum()), float(busy.sum()))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_uptime_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    group = rng.integers(0, 3, n)
    start = rng.integers(0, 2000, n)
    end = start + rng.integers(1, 200, n)
    tail, minimum = int(rng.integers(0, 120)), int(rng.integers(0, 90))
    s = sessions(group, start * 10**6, end * 10**6, auto_suspend_s=tail, min_resume_s=minimum)
    got = {}
    for g, billed, busy in zip(s.group, s.billed_s, s.busy_s, strict=True):
        b0, u0 = got.get(int(g), (0.0, 0.0))
        got[int(g)] = (b0 + billed, u0 + busy)
    want = _brute_force(group, start, end, tail, minimum)
    assert got == want
    # the same through run_blocks: queries first reduced run by run (runs of one warehouse)
    run = group * 100 + rng.integers(0, 3, n)
    order = np.argsort(run, kind="stable")
    row, bs, be, count = run_blocks(run[order], start[order] * 10**6, end[order] * 10**6)
    s2 = sessions(group[order][row], bs, be, auto_suspend_s=tail, min_resume_s=minimum, count=count)
    assert s2.billed_s.tolist() == s.billed_s.tolist()
    assert s2.busy_s.tolist() == s.busy_s.tolist()
    assert s2.queries.tolist() == s.queries.tolist()


def test_split_by_day_keeps_every_second():
    start = np.array([0, 86_000, 3 * 86_400 - 1]) * 10**6
    seconds = np.array([10.0, 1_000.0, 2 * 86_400.0])
    row, day, sec = split_by_day(start, seconds)
    assert np.bincount(row, sec).tolist() == seconds.tolist()
    assert day.tolist() == [0, 0, 1, 2, 3, 4]


def test_rates_keys_from_the_issue():
    model = CostModel.from_config(
        {
            "billing": "snowflake_warehouse",
            "warehouse_size": "M",
            "usd_per_credit": 3.0,
            "auto_suspend_s": 600,
            "warehouses": {"default": "TRANSFORM_WH", "hourly": "HOURLY_WH"},
            "threads": 8,
        }
    )
    assert model.threads == 8
    assert model.usd_per_hour == 12.0  # the query-seconds rate is the warehouse's rate
    assert model.billing.warehouse_of("hourly") == "HOURLY_WH"
    assert model.billing.warehouse_of("daily") == "TRANSFORM_WH"
    assert CostModel().billing == Billing()  # default: snowflake_warehouse, M, $3, 600 s
    assert CostModel().threads == 4
    assert CostModel.from_config({"warehouse_size": "6XL"}).usd_per_hour == 512 * 3.0
    dbx = CostModel.from_config({"billing": "databricks_sql", "warehouse_size": "2X-Large"})
    assert dbx.usd_per_hour == pytest.approx(144 * 0.70)
    bq = CostModel.from_config({"billing": "bigquery_on_demand", "usd_per_tib": 5})
    assert (bq.basis, bq.usd_per_tib) == ("bytes", 5.0)


@pytest.mark.parametrize(
    ("rates", "field"),
    [
        ({"billing": "redshift"}, "rates.billing"),
        ({"threads": 0}, "rates.threads"),
        ({"threads": 2.5}, "rates.threads"),
        ({"warehouse_size": "XXXL"}, "rates.snowflake_size"),
        ({"billing": "databricks_sql", "warehouse_size": "M"}, "rates.warehouse_size"),
        ({"billing": "databricks_sql", "auto_suspend_s": 60}, "rates.auto_suspend_s"),
        ({"auto_stop_min": 5}, "rates.auto_stop_min"),
        ({"warehouses": ["a"]}, "rates.warehouses"),
        ({"warehouses": {"hourly": ""}}, "rates.warehouses.hourly"),
        ({"auto_suspend_s": -1}, "rates.auto_suspend_s"),
        ({"billing": "bigquery_editions", "slots_per_query": 0}, "rates.slots_per_query"),
        ({"warehouse_size": "M", "snowflake_size": "L"}, "rates.snowflake_size"),
    ],
)
def test_bad_rates_name_the_field(rates, field):
    with pytest.raises(ConfigError) as err:
        CostModel.from_config(rates)
    assert err.value.field == field


def test_comparison_summary_and_report_show_the_bill(tmp_path):
    from saosim.replay.engine import Scenario, simulate
    from saosim.report import write_report
    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=40, days=2, seed=7)
    rates = CostModel.from_config({"warehouse_size": "S", "auto_suspend_s": 120})
    cmp = simulate(estate, [Scenario("sao")], cost_model=rates, engine="plain")
    summary = cmp.summary()
    bill = cmp.bill().summary
    for row in summary.iter_rows(named=True):
        want = bill.filter(pl.col("scenario") == row["scenario"]).row(0, named=True)
        assert (row["billing"], row["bill_usd"]) == ("snowflake_warehouse", want["bill_usd"])
    base, sao = summary.get_column("bill_usd").to_list()
    assert summary.get_column("bill_savings_usd").to_list() == pytest.approx([0.0, base - sao])
    # the same log under query_seconds: the bill is the cost column
    qs = price_bill(
        cmp.decisions,
        project=estate.project,
        cost_model=CostModel.from_config({"billing": "query_seconds", "warehouse_size": "S"}),
        profiles=cmp.profiles,
    )
    assert qs.summary.get_column("bill_usd").to_list() == pytest.approx(
        summary.get_column("cost_usd").to_list()
    )
    page = write_report(cmp, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "snowflake_warehouse: S (2 credits/h)" in page and "auto-suspend 120 s" in page
    assert "bill saved %" in page


def test_threads_in_the_rates_schedule_the_replay():
    """dbt's threads from the rates file lay out a what-if run: fewer threads, a longer run,
    more warehouse time for the same queries."""
    from saosim.replay.engine import Scenario, simulate
    from saosim.replay.timeline import Job
    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=60, days=1, seed=4)
    jobs = (Job("all", "0 */6 * * *", "resource_type:model"),)
    hours = {}
    for threads in (1, 16):
        rates = CostModel.from_config({"threads": threads, "auto_suspend_s": 0})
        cmp = simulate(
            estate, [Scenario("base", "baseline", jobs=jobs)], cost_model=rates, engine="plain"
        )
        bill = cmp.bill().summary.row(0, named=True)
        hours[threads] = (bill["busy_hours"], bill["billed_hours"])
        runtime_h = cmp.decisions.get_column("runtime_s").sum() / 3600
        if threads == 1:  # one thread: the run is its queries end to end
            assert bill["busy_hours"] == pytest.approx(runtime_h, rel=1e-6)
    assert hours[16][0] < hours[1][0]


@pytest.mark.parametrize(
    ("billing", "warehouses"),
    [
        ("snowflake_warehouse", None),
        ("snowflake_warehouse", {"default": "A", "hourly": "B"}),
        ("bigquery_editions", None),
    ],
)
def test_the_log_fast_path_bills_what_the_filtered_path_bills(billing, warehouses):
    """A compiled kernel log (Enum actions, Categorical run ids) is priced from its own arrays;
    the same log with plain strings goes through polars filtering: one bill."""
    from saosim.replay.engine import Scenario, simulate
    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=80, days=3, seed=9)
    cmp = simulate(estate, [Scenario("sao")], engine="fast")
    rates = {"billing": billing, "dbt_startup_s": 5}
    if billing == "snowflake_warehouse":
        rates["auto_suspend_s"] = 120
    if warehouses:
        rates["warehouses"] = {**warehouses, str(estate.runs["job_id"][0]): "B"}
    model = CostModel.from_config(rates)
    log = cmp.decisions.filter(pl.col("scenario") == "sao")
    assert isinstance(log.schema["action"], pl.Enum)
    from saosim.cost.bill import _queries_frame, _raw_blocks, _runs

    runs = _runs(_queries_frame(log))  # the fast path is taken for this log
    assert _raw_blocks(log, runs, np.arange(runs.height) % 2, True, 0) is not None
    fast = price_bill(log, project=estate.project, cost_model=model, profiles={"sao": "sao"})
    plain = log.with_columns(pl.col(c).cast(pl.String) for c in ("action", "run_id", "scenario"))
    slow = price_bill(plain, project=estate.project, cost_model=model, profiles={"sao": "sao"})
    for got, want in zip(fast.summary.to_dicts(), slow.summary.to_dicts(), strict=True):
        for key, value in want.items():
            assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert fast.sessions.equals(slow.sessions)
    assert fast.summary.get_column("bill_usd")[0] > 0


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 300), st.integers(0, 60)), max_size=60
    ),
    cuts=st.lists(st.integers(0, 60), max_size=6),
)
def test_block_merger_over_batches_is_run_blocks(rows, cuts) -> None:
    """Rows merged batch by batch (a stretch open at a batch's end goes on into the next)
    give run_blocks' stretches exactly, wherever the batches are cut."""
    seg = np.array([r[0] for r in rows], dtype=np.int64)
    start = np.array([r[1] for r in rows], dtype=np.int64)
    end = start + np.array([r[2] for r in rows], dtype=np.int64)
    row, want_s, want_e, want_n = run_blocks(seg, start, end)
    merger = BlockMerger()
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    for lo, hi in pairwise(bounds):
        merger.add(seg[lo:hi], start[lo:hi], end[lo:hi])
    got_seg, got_s, got_e, got_n = merger.blocks()
    assert got_seg.tolist() == seg[row].tolist()
    assert (got_s.tolist(), got_e.tolist(), got_n.tolist()) == (
        want_s.tolist(),
        want_e.tolist(),
        want_n.tolist(),
    )


@pytest.mark.parametrize("warehouses", [None, {"default": "A", "hourly": "B"}])
def test_a_scanned_log_is_billed_batch_by_batch_as_in_memory(
    tmp_path, monkeypatch: pytest.MonkeyPatch, warehouses
) -> None:
    """A log scanned from Parquet is priced a few rows at a time (batches of 7 here, cutting
    runs apart) and bills what the same log in memory bills."""
    from saosim.cost import bill as bill_module
    from saosim.replay.engine import Scenario, simulate
    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=60, days=2, seed=5)
    cmp = simulate(estate, [Scenario("sao")], engine="fast")
    rates = {"billing": "snowflake_warehouse", "auto_suspend_s": 90, "dbt_startup_s": 5}
    if warehouses:
        rates["warehouses"] = {**warehouses, str(estate.runs["job_id"][0]): "B"}
    model = CostModel.from_config(rates)
    log = cmp.decisions
    log.write_parquet(tmp_path / "log.parquet")
    profiles = {"baseline": "baseline", "sao": "sao"}
    want = price_bill(log, project=estate.project, cost_model=model, profiles=profiles)
    monkeypatch.setattr(bill_module, "_BATCH_ROWS", 7)
    scanned = pl.scan_parquet(tmp_path / "log.parquet")
    got = price_bill(scanned, project=estate.project, cost_model=model, profiles=profiles)
    for g, w in zip(got.summary.to_dicts(), want.summary.to_dicts(), strict=True):
        for key, value in w.items():
            assert g[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert got.sessions.equals(want.sessions)
