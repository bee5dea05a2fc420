"""Metrics on a tiny hand-made decision log with hand-computed counts, dollars and staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from saosim.cost.rates import CostModel
from saosim.errors import SchemaError
from saosim.metrics.tables import per_day, per_model, per_tier, report, summarize
from saosim.project.freshness import FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project

T0 = datetime(2025, 5, 1, tzinfo=UTC)
SRC, STG, FCT, VIEW, TEST = (
    "source.p.raw.orders",
    "model.p.stg",
    "model.p.fct",
    "model.p.v",
    "test.p.not_null_fct",
)
PROJECT = Project(
    [
        Node(SRC, "orders", "source"),
        Node(STG, "stg", "model", materialization="table"),
        Node(FCT, "fct", "model", materialization="table"),
        Node(VIEW, "v", "model", materialization="view"),
        Node(TEST, "not_null_fct", "test"),
    ],
    [(SRC, STG), (STG, FCT), (FCT, VIEW), (FCT, TEST)],
    name="p",
)
ARRIVALS = pl.DataFrame(
    {"unique_id": [SRC], "arrived_at": [T0 + timedelta(minutes=10)]},
    schema={"unique_id": pl.String, "arrived_at": pl.Datetime("us", "UTC")},
)
COST = CostModel(usd_per_hour=3.6, warehouse_min_billing_s=0.0)  # $0.001 per second


def rows(scenario: str, hour: int, actions: dict[str, str], day: int = 0) -> list[dict]:
    at = T0 + timedelta(days=day, hours=hour)
    out = []
    for uid, action in actions.items():
        billed = action in ("build", "run")
        runtime = {STG: 100.0, FCT: 200.0, VIEW: 1.0, TEST: 10.0}[uid] if billed else None
        out.append(
            {
                "scenario": scenario,
                "run_id": f"{scenario}-{day}-{hour}",
                "job_id": "hourly",
                "run_at": at,
                "unique_id": uid,
                "action": action,
                "reason": "x",
                "runtime_s": runtime,
                "cost_usd": None if runtime is None else runtime * 0.001,
            }
        )
    return out


def frame(*groups: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [r for g in groups for r in g],
        schema={
            "scenario": pl.String,
            "run_id": pl.String,
            "job_id": pl.String,
            "run_at": pl.Datetime("us", "UTC"),
            "unique_id": pl.String,
            "action": pl.String,
            "reason": pl.String,
            "runtime_s": pl.Float64,
            "cost_usd": pl.Float64,
        },
    )


ALL = {STG: "build", FCT: "build", VIEW: "build", TEST: "run"}
LOG = frame(
    rows("baseline", 1, ALL),
    rows("baseline", 2, ALL),
    rows("sao", 1, ALL),
    rows("sao", 2, {STG: "reuse", FCT: "reuse", VIEW: "reuse", TEST: "reuse"}),
)


def summary(log=LOG, **kw) -> dict[str, dict]:
    kw.setdefault("cost_model", COST)
    s = summarize(log, project=PROJECT, arrivals=ARRIVALS, **kw)
    return {r["scenario"]: r for r in s.iter_rows(named=True)}


def test_counts_reuse_and_tests():
    s = summary()
    base, sao = s["baseline"], s["sao"]
    assert (base["runs"], base["node_builds"], base["reuses"], base["test_runs"]) == (2, 6, 0, 2)
    assert (sao["runs"], sao["node_builds"], sao["reuses"], sao["test_runs"]) == (2, 3, 3, 1)
    assert sao["reuse_pct"] == pytest.approx(50.0) and base["reuse_pct"] == 0.0
    assert sao["tests_reused"] == 1 and sao["test_runs_avoided"] == 1
    assert base["test_runs_avoided"] == 0
    assert base["profile"] == "baseline" and sao["profile"] == "sao"


def test_cost_and_savings():
    s = summary()
    # a run that builds everything: 100 + 200 + 1 + 10 s at $0.001/s
    assert s["baseline"]["cost_usd"] == pytest.approx(2 * 0.311)
    assert s["sao"]["cost_usd"] == pytest.approx(0.311)
    assert s["sao"]["savings_usd"] == pytest.approx(0.311)
    assert s["sao"]["savings_pct"] == pytest.approx(50.0)
    assert s["baseline"]["savings_usd"] == 0.0
    assert s["sao"]["billed_hours"] == pytest.approx(311 / 3600)


def test_overheads_are_added_per_run_by_profile():
    model = CostModel(usd_per_hour=3.6, dbt_startup_s=5.0, metadata_query_s=20.0)
    s = summary(cost_model=model)
    # baseline: 2 × 5 s start-up; sao: 2 × (5 + 20) s, and the idle 25 s run topped up to 60 s
    assert s["baseline"]["overhead_usd"] == pytest.approx(0.010)
    assert s["sao"]["overhead_usd"] == pytest.approx(0.025 + 0.060)
    assert s["sao"]["cost_usd"] == pytest.approx(0.311 + 0.085)


def test_per_table_reuse_fee_reduces_net_savings():
    model = CostModel(usd_per_hour=3.6, warehouse_min_billing_s=0, table_reuse_fee_usd=0.1)
    s = summary(cost_model=model, reuse_fee_scenarios=["sao"])
    # stg and fct reused on one day (the view is not a table): 2 × $0.10
    assert s["sao"]["reuse_fee_usd"] == pytest.approx(0.2)
    assert s["sao"]["net_savings_usd"] == pytest.approx(0.311 - 0.2)
    assert summary()["sao"]["net_savings_usd"] == pytest.approx(0.311)  # default: no fee


def test_dbt_state_does_not_bill_views_and_nulls_are_priced_from_runtime():
    log = frame(rows("dbt_state", 1, ALL)).with_columns(pl.lit(None, pl.Float64).alias("cost_usd"))
    s = summary(log)
    assert s["dbt_state"]["cost_usd"] == pytest.approx(0.310)
    assert s["dbt_state"]["savings_usd"] is None  # no baseline scenario in the log
    s = summary(log, profiles={"dbt_state": "sao"})
    assert s["dbt_state"]["cost_usd"] == pytest.approx(0.311)


def test_a_build_without_price_is_an_error():
    log = frame(rows("sao", 1, ALL)).with_columns(
        pl.lit(None, pl.Float64).alias("cost_usd"), pl.lit(None, pl.Float64).alias("runtime_s")
    )
    with pytest.raises(SchemaError, match="cost_usd") as err:
        summary(log)
    assert err.value.row == 1
    with pytest.raises(SchemaError, match="not a node"):
        summary(log.with_columns(pl.lit("model.p.zzz").alias("unique_id")))


def test_staleness_columns():
    assert summary()["sao"]["staleness_max_hours"] == 0.0  # window starts fresh at 01:00
    s = summary(start=T0)
    # both scenarios build stg, fct at 01:00; the data landed 00:10: 50 min at worst
    for name in ("baseline", "sao"):
        assert s[name]["staleness_max_hours"] == pytest.approx(50 / 60)
        assert s[name]["staleness_p50_hours"] == 0.0
    assert s["sao"]["sla_miss_hours"] is None  # no tier declares an SLA: nothing to miss


def test_per_model_per_tier_per_day():
    tiers = {
        "baseline": FreshnessConfig({STG: NodeFreshness(tier="gold", sla_s=1800)}),
        "sao": FreshnessConfig(default=NodeFreshness(tier="silver")),
    }
    log = pl.concat([LOG, frame(rows("sao", 3, ALL, day=1), rows("baseline", 3, ALL, day=1))])
    kw = {
        "project": PROJECT,
        "arrivals": ARRIVALS,
        "freshness": tiers,
        "cost_model": COST,
        "start": T0,
    }
    models = per_model(log, **kw)
    stg = models.filter((pl.col("scenario") == "sao") & (pl.col("unique_id") == STG)).row(
        0, named=True
    )
    assert (stg["builds"], stg["reuses"], stg["tier"], stg["name"]) == (2, 1, "silver", "stg")
    assert stg["cost_usd"] == pytest.approx(0.2)
    assert stg["staleness_max_hours"] == pytest.approx(50 / 60)
    test_row = models.filter((pl.col("unique_id") == TEST) & (pl.col("scenario") == "sao"))
    assert test_row.get_column("test_runs").to_list() == [2]
    assert test_row.get_column("staleness_max_hours").to_list() == [None]

    by_tier = per_tier(log, **kw)
    gold = by_tier.filter((pl.col("scenario") == "baseline") & (pl.col("tier") == "gold"))
    assert gold.get_column("sla_miss_hours").to_list() == pytest.approx([20 / 60])
    assert gold.get_column("node_builds").to_list() == [3]
    silver = by_tier.filter(pl.col("scenario") == "sao")
    assert silver.get_column("tier").to_list() == ["silver"]
    assert silver.get_column("models").to_list() == [3]

    days = per_day(log, **kw).filter(pl.col("scenario") == "sao")
    assert days.get_column("runs").to_list() == [2, 1]
    assert days.get_column("node_builds").to_list() == [3, 3]
    assert days.get_column("cost_usd").to_list() == pytest.approx([0.311, 0.311])
    assert days.to_pandas().shape[0] == 2


def test_report_bundles_everything_once():
    out = report(LOG, project=PROJECT, arrivals=ARRIVALS, cost_model=COST)
    assert out.summary.height == 2 and set(out.staleness) == {"baseline", "sao"}
    assert out.per_model.height == 8 and out.per_day.height == 2
    again = summarize(
        LOG, project=PROJECT, arrivals=ARRIVALS, cost_model=COST, staleness_results=out.staleness
    )
    assert again.equals(out.summary)


def test_enum_and_categorical_columns_give_the_same_numbers():
    plain = summarize(LOG, project=PROJECT, arrivals=ARRIVALS, cost_model=COST, start=T0)
    enum_log = LOG.with_columns(
        pl.col("unique_id").cast(pl.Enum([*PROJECT.order, "model.p.unused"])),
        pl.col("scenario").cast(pl.Enum(["baseline", "sao"])),
        pl.col("action").cast(pl.Enum(["build", "run", "reuse", "skip", "no_op"])),
    )
    cat_log = LOG.with_columns(pl.col("unique_id").cast(pl.Categorical))
    for log in (enum_log, cat_log):
        got = summarize(log, project=PROJECT, arrivals=ARRIVALS, cost_model=COST, start=T0)
        assert got.equals(plain)
        models = per_model(log, project=PROJECT, arrivals=ARRIVALS, cost_model=COST, start=T0)
        assert models.get_column("unique_id").n_unique() == 4
    bad = LOG.with_columns(pl.col("unique_id").cast(pl.Enum([*PROJECT.order, "model.p.zzz"])))
    bad = bad.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("model.p.zzz"))
        .otherwise(pl.col("unique_id").cast(pl.String))
        .cast(bad.schema["unique_id"])
        .alias("unique_id")
    )
    with pytest.raises(SchemaError, match="zzz") as err:
        summarize(bad, project=PROJECT, arrivals=ARRIVALS, cost_model=COST)
    assert err.value.row == 3


def test_no_arrivals_and_no_builds_are_fine():
    empty = pl.DataFrame(schema={"unique_id": pl.String, "arrived_at": pl.Datetime("us", "UTC")})
    reuse_only = frame(rows("sao", 1, {STG: "reuse", FCT: "reuse", VIEW: "reuse", TEST: "reuse"}))
    s = summary(reuse_only, start=T0)["sao"]
    assert (s["node_builds"], s["reuses"], s["cost_usd"], s["reuse_pct"]) == (0, 3, 0.0, 100.0)
    s = summarize(LOG, project=PROJECT, arrivals=empty, cost_model=COST, start=T0)
    assert s.get_column("staleness_max_hours").to_list() == [0.0, 0.0]
    days = per_day(LOG, project=PROJECT, arrivals=empty, cost_model=COST)
    assert days.get_column("reuse_pct").to_list() == [0.0, 50.0]
