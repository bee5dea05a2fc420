"""The cost model on a real project's run history (../shared/real-artifacts/carlosofnyc__btc:
a manifest, three run_results.json and a sources.json)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from saosim.cost.rates import CostModel
from saosim.cost.runtime import EXECUTED, RuntimeModel, fit_costs, history_cost
from saosim.inputs.ingest import ingest

pytestmark = pytest.mark.real_artifacts

BTC = "carlosofnyc__btc"


@pytest.fixture(scope="module")
def estate(real_artifacts: Path):
    folder = real_artifacts / BTC
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    return ingest(sorted(folder.iterdir()))


def test_nodes_with_a_little_history_are_priced_from_it_not_from_defaults(estate):
    model = RuntimeModel.fit(estate)
    frame = model.to_frame()
    observed = frame.filter(pl.col("n_obs") > 0)
    assert observed.height > 0
    # two builds each: too few to fit alone, but the materialization's median of real runs
    # stands in, not the 60 s default
    assert "default" not in observed.get_column("fitted_by").to_list()
    runs = estate.node_runs.filter(pl.col("status").is_in(["success", "pass", "fail", "warn"]))
    lo, hi = runs.get_column("execution_time_s").min(), runs.get_column("execution_time_s").max()
    for uid in observed.get_column("unique_id"):
        assert lo <= model.runtime_s(uid) <= hi


def test_history_cost_is_the_executed_seconds_at_the_rate(estate):
    model = CostModel(usd_per_hour=3.6, warehouse_min_billing_s=0.0)
    executed = estate.node_runs.filter(pl.col("status").is_in(EXECUTED))
    seconds = executed.get_column("execution_time_s").fill_null(0).sum()
    got = history_cost(estate, model)
    assert got.node_usd == pytest.approx(seconds * 0.001)
    assert got.overhead_usd == 0.0
    assert got.per_run.height == estate.runs.height
    # the fitted costs price one build of every observed node at a positive, finite amount
    costs = fit_costs(estate, model)
    ids = executed.get_column("unique_id").unique().to_list()
    prices = costs.cost_usd_array(costs.index(ids), float("nan"))
    assert (prices > 0).all() and (prices < 1).all()
