"""The ``rates:`` configuration and per-run overheads."""

from __future__ import annotations

import numpy as np
import pytest

from saosim.cost.rates import SNOWFLAKE_CREDITS_PER_HOUR, CostModel
from saosim.errors import ConfigError


@pytest.mark.parametrize(
    ("size", "credits"),
    [("XS", 1), ("S", 2), ("M", 4), ("L", 8), ("XL", 16), ("2XL", 32), ("3XL", 64), ("4XL", 128)],
)
def test_snowflake_sizes(size, credits):
    assert SNOWFLAKE_CREDITS_PER_HOUR[size] == credits
    model = CostModel.from_config({"snowflake_size": size})
    assert model.usd_per_hour == credits * 3.0  # default $3/credit
    assert CostModel.from_config(
        {"snowflake_size": size.lower(), "usd_per_credit": 2}
    ).usd_per_hour == (credits * 2.0)


def test_size_aliases_and_other_rate_forms():
    assert CostModel.from_config({"snowflake_size": "x-large"}).usd_per_hour == 48.0
    assert CostModel.from_config({"snowflake_size": "Medium"}).usd_per_hour == 12.0
    assert CostModel.from_config({"credits_per_hour": 6, "usd_per_credit": 2.5}).usd_per_hour == 15
    assert CostModel.from_config({"warehouse_usd_per_hour": 4.0}).usd_per_hour == 4.0
    assert CostModel.from_config({}).usd_per_hour == 12.0  # default: Snowflake M at $3
    bq = CostModel.from_config({"bigquery_usd_per_tib": 5})
    assert (bq.basis, bq.usd_per_tib, bq.usd_per_hour) == ("bytes", 5.0, 0.0)
    hist = CostModel.from_config({"cost_from_history": True, "warehouse_usd_per_hour": 2.0})
    assert (hist.basis, hist.usd_per_hour) == ("history", 2.0)
    assert CostModel.from_config({"rates": {"snowflake_size": "L"}}).usd_per_hour == 24.0


def test_overhead_and_fee_keys():
    model = CostModel.from_config(
        {
            "warehouse_usd_per_hour": 3.6,
            "warehouse_min_billing_s": 0,
            "dbt_startup_s": 10,
            "metadata_query_s": 20,
            "per_run_usd": 0.5,
            "table_reuse_fee_usd": 0.01,
            "concurrency": 4,
            "bill_views": False,
        }
    )
    assert model.table_reuse_fee_usd == 0.01 and model.concurrency == 4.0
    assert not model.bills_views("sao")
    assert model.run_overhead_usd(100.0, state_aware=False) == pytest.approx(0.01 + 0.5)
    assert model.run_overhead_usd(100.0, state_aware=True) == pytest.approx(0.03 + 0.5)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"warehouse_usd_per_hour": "cheap"}, "rates.warehouse_usd_per_hour"),
        ({"warehouse_usd_per_hour": 0}, "rates.warehouse_usd_per_hour"),
        ({"snowflake_size": "XXXL"}, "rates.snowflake_size"),
        ({"usd_per_credit": -3}, "rates.usd_per_credit"),
        ({"bigquery_usd_per_tib": float("nan")}, "rates.bigquery_usd_per_tib"),
        ({"warehouse_usd_per_hour": 1, "snowflake_size": "M"}, "rates.snowflake_size"),
        ({"bigquery_usd_per_tib": 6.25, "cost_from_history": True}, "rates.cost_from_history"),
        ({"cost_from_history": "yes"}, "rates.cost_from_history"),
        ({"dbt_startup_s": -1}, "rates.dbt_startup_s"),
        ({"concurrency": 0}, "rates.concurrency"),
        ({"bill_views": "no"}, "rates.bill_views"),
        ({"warehouse_cost": 3}, "rates.warehouse_cost"),
        ({"rates": ["M"]}, "rates"),
    ],
)
def test_bad_values_name_the_key(config, field):
    with pytest.raises(ConfigError) as err:
        CostModel.from_config(config)
    assert err.value.field == field
    assert field in str(err.value)


def test_min_billing_tops_up_short_runs_and_skips_idle_ones():
    model = CostModel(usd_per_hour=3.6)  # $0.001 per second, 60 s minimum
    billed = np.array([0.0, 10.0, 59.0, 60.0, 500.0])
    top_up = model.run_overhead_usd_array(billed, False)
    assert top_up.tolist() == pytest.approx([0.0, 0.05, 0.001, 0.0, 0.0])
    # a state-aware run that reuses everything still queries metadata: the minimum applies
    aware = CostModel(usd_per_hour=3.6, metadata_query_s=2.0)
    assert aware.run_overhead_usd(0.0, state_aware=True) == pytest.approx(0.06)
    assert aware.run_overhead_usd(0.0, state_aware=False) == 0.0
    mixed = aware.run_overhead_usd_array(np.array([0.0, 0.0]), np.array([True, False]))
    assert mixed.tolist() == pytest.approx([0.06, 0.0])


def test_views_billing_follows_profile_unless_forced():
    assert CostModel().bills_views("baseline") and CostModel().bills_views("orchestra")
    assert not CostModel().bills_views("dbt_state")
    assert CostModel(bill_views=True).bills_views("dbt_state")
