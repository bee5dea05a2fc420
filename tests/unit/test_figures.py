"""Figures hold the numbers of the metrics tables (data, not pixels)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import saosim
from saosim.replay.engine import Scenario, simulate
from saosim.report import figures
from saosim.report.dag import dag_layout
from saosim.synth.estate import synthetic_estate


@pytest.fixture(scope="module")
def cmp():
    estate = synthetic_estate(n_models=60, days=3, seed=11)
    tuned = Scenario("tuned", "sao", tiers=saosim.Tiers.from_dict(saosim.TUNED_TIERS))
    return simulate(estate, [Scenario("sao", "sao"), tuned])


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_cost_per_day_traces_are_per_day_costs(cmp):
    fig = figures.cost_per_day(cmp)
    assert [t.name for t in fig.data] == ["baseline", "sao", "tuned"]
    per_day = cmp.per_day().filter(pl.col("runs").is_not_null())
    for name in ("baseline", "sao", "tuned"):
        rows = per_day.filter(pl.col("scenario") == name).sort("day")
        trace = _trace(fig, name)
        assert list(trace.x) == rows["day"].to_list()
        assert list(trace.y) == pytest.approx(rows["cost_usd"].to_list())
    assert _trace(fig, "baseline").line.dash == "dash"


def test_reuse_per_day_is_reuses_over_decisions(cmp):
    fig = figures.reuse_per_day(cmp)
    rows = cmp.per_day().filter((pl.col("scenario") == "tuned") & pl.col("runs").is_not_null())
    rows = rows.sort("day")
    want = [100 * r / (b + r) for r, b in zip(rows["reuses"], rows["node_builds"], strict=True)]
    assert list(_trace(fig, "tuned").y) == pytest.approx(want)
    assert set(_trace(fig, "baseline").y) == {0.0}


def test_builds_per_model_top_n_by_dollars_saved(cmp):
    fig = figures.builds_per_model(cmp, "tuned", top=5)
    pm = cmp.per_model().filter(pl.col("resource_type") != "test")
    base = {r["name"]: r for r in pm.filter(pl.col("scenario") == "baseline").iter_rows(named=True)}
    tuned = {r["name"]: r for r in pm.filter(pl.col("scenario") == "tuned").iter_rows(named=True)}
    saved = {n: base[n]["cost_usd"] - (tuned[n]["cost_usd"] if n in tuned else 0.0) for n in base}
    bars = _trace(fig, "baseline")
    assert len(bars.x) == 5
    assert [base[n]["builds"] for n in bars.x] == list(bars.y)
    assert [tuned[n]["builds"] if n in tuned else 0 for n in bars.x] == list(_trace(fig, "tuned").y)
    # the five bars are the five largest savings in dollars, largest first
    assert [saved[n] for n in bars.x] == pytest.approx(sorted(saved.values(), reverse=True)[:5])
    assert "by dollars saved" in fig.layout.title.text


def test_staleness_by_tier_boxes_and_sla_lines(cmp):
    fig = figures.staleness_by_tier(cmp)
    pm = cmp.per_model().filter(pl.col("staleness_max_hours").is_not_null())
    tuned = pm.filter(pl.col("scenario") == "tuned")
    box = _trace(fig, "tuned")
    assert sorted(box.y) == pytest.approx(sorted(tuned["staleness_max_hours"].to_list()))
    assert set(box.x) == {"default", "hourly"}
    sla = _trace(fig, "SLA")
    assert dict(zip(sla.x, sla.y, strict=True))["hourly"] == pytest.approx(2.0)
    assert dict(zip(sla.x, sla.y, strict=True))["default"] == pytest.approx(26.0)


def test_staleness_by_tier_compares_the_same_models_in_every_scenario(cmp):
    fig = figures.staleness_by_tier(cmp)
    tier_of = dict(
        cmp.per_model().filter(pl.col("scenario") == "tuned").select("name", "tier").iter_rows()
    )
    boxes = [t for t in fig.data if t.name in ("baseline", "sao", "tuned")]
    assert len(boxes) == 3
    # baseline and sao have no tiers; their boxes are grouped by tuned's tiers, model by model
    members = [sorted(zip(b.x, b.text, strict=True)) for b in boxes]
    assert members[0] == members[1] == members[2]
    assert all(tier_of[name] == tier for tier, name in members[0])
    assert "hourly" in {tier for tier, _ in members[0]}


def test_cost_vs_staleness_one_point_per_scenario_and_sweep(cmp):
    swept = saosim.sweep(cmp.estate, saosim.TUNED_TIERS, "default", [1, 3], period="day")
    fig = figures.cost_vs_staleness(cmp, sweep=swept)
    summary = cmp.summary()
    for r in summary.iter_rows(named=True):
        t = _trace(fig, r["scenario"])
        assert list(t.x) == pytest.approx([r["staleness_p95_hours"]])
        assert list(t.y) == pytest.approx([r["cost_usd"]])
    line = _trace(fig, "sweep")
    ss = swept.summary().filter(pl.col("scenario") != "baseline")
    assert list(line.text) == ["default 1 day", "default 3 day"]
    assert list(line.y) == pytest.approx(ss["cost_usd"].to_list())
    # a longer window builds less: cost does not go up
    assert line.y[1] <= line.y[0]


def test_dag_reuse_colours_are_reuse_shares(cmp):
    fig = figures.dag_reuse(cmp, "sao")
    models = _trace(fig, "models")
    log = cmp.decisions_of("sao").with_columns(
        pl.col("unique_id").cast(pl.String), pl.col("action").cast(pl.String)
    )
    for uid, colour in list(zip(models.customdata, models.marker.color, strict=True))[:25]:
        rows = log.filter(pl.col("unique_id") == uid)
        b = (rows["action"] == "build").sum()
        r = (rows["action"] == "reuse").sum()
        assert colour == pytest.approx(100 * r / (b + r))
    assert all(not cmp.estate.project.nodes[u].is_test for u in models.customdata)
    with pytest.raises(ValueError, match="max_nodes"):
        figures.dag_reuse(cmp, "sao", max_nodes=3)


def test_dag_layout_edges_point_right():
    project = synthetic_estate(n_models=40, days=1, seed=2).project
    ids = [u for u in project.order if not project.nodes[u].is_test]
    layout = dag_layout(project, ids)
    x = dict(zip(ids, layout.x, strict=True))
    for u in ids:
        for p in project.parents(u):
            if p in x:
                assert x[p] < x[u]
    # slots in a layer are distinct
    pairs = set(zip(layout.x.tolist(), layout.y.tolist(), strict=True))
    assert len(pairs) == len(ids)
    assert np.all(np.isfinite(layout.y))


def test_day_timeline_counts_match_the_log(cmp):
    fig = figures.day_timeline(cmp, "tuned")
    built, reused = fig.data
    day = fig.layout.title.text.split(" on ")[1].split(" ")[0]
    log = cmp.decisions_of("tuned").with_columns(pl.col("action").cast(pl.String))
    on_day = log.filter(pl.col("run_at").dt.date().cast(pl.String) == day)
    n_built = (on_day["action"] == "build").sum()
    assert len(built.x) == len(built.base) == n_built
    builds = on_day.filter(pl.col("action") == "build").sort("run_at", "run_id", "started_at")
    spans = builds.select((pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds())
    assert sorted(built.x) == pytest.approx(sorted(v / 1000 for v in spans.to_series()))
    assert len(reused.x) == (on_day["action"] == "reuse").sum()
    assert built.name == f"built ({n_built:,})"


def test_day_timeline_rows_are_in_time_order(cmp):
    fig = figures.day_timeline(cmp, "tuned")
    rows = list(fig.layout.yaxis.categoryarray)
    assert fig.layout.yaxis.categoryorder == "array"
    assert rows == sorted(rows)  # "HH:MM job": time order is text order within one day
    shown = {y for t in fig.data for y in t.y if y is not None}
    assert shown == set(rows)


def test_unknown_scenario_is_named():
    estate = synthetic_estate(n_models=20, days=1, seed=1)
    c = simulate(estate, [Scenario("sao")])
    with pytest.raises(KeyError, match="nope"):
        figures.builds_per_model(c, "nope")
    assert not math.isnan(c.summary()["cost_usd"][0])


def test_big_dag_in_the_report_is_the_top_models_sub_dag(cmp, monkeypatch):
    from saosim.report import html

    monkeypatch.setattr(html, "DAG_MAX_NODES", 30)
    fig = html._dag(cmp, "tuned")
    shown = set(_trace(fig, "models").customdata) | set(
        _trace(fig, "sources / not decided").customdata
    )
    assert shown == figures.around_top_models(cmp, "tuned", top=2)
    assert len(shown) < 30
    assert "around the 2 models" in fig.layout.title.text
