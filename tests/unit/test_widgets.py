"""The tier tuner: the quick path replays exactly what simulate replays; the widget follows
its controls."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import saosim
from saosim.errors import ConfigError
from saosim.replay.engine import Scenario, simulate
from saosim.replay.kernel.compile import compile_replay
from saosim.synth.estate import synthetic_estate
from saosim.tune.tuner import Tuner, retier

TIERS = {
    "hourly": {"select": "tag:hourly", "build_after": {"count": 1, "period": "hour"}, "sla": "2h"},
    "default": {"build_after": {"count": 1, "period": "day"}, "sla": "26h"},
}
OTHER = {
    "hourly": {
        "select": "tag:hourly",
        "build_after": {"count": 3, "period": "hour", "updates_on": "all"},
        "lag_tolerance": "2h",
    },
    "default": {"build_after": {"count": 12, "period": "hour"}},
}


@pytest.fixture(scope="module")
def estate():
    return synthetic_estate(n_models=60, days=3, seed=21)


@pytest.fixture(scope="module")
def tuner(estate):
    return Tuner(estate)


@pytest.mark.parametrize("profile", ["sao", "dbt_state"])
def test_retier_equals_a_fresh_compile(estate, tuner, profile):
    first = Scenario("t", profile, tiers=saosim.Tiers.from_dict(TIERS))
    second = Scenario("t", profile, tiers=saosim.Tiers.from_dict(OTHER))
    compiled = compile_replay(estate, first, tuner.timeline, tuner.costs)
    want = compile_replay(estate, second, tuner.timeline, tuner.costs)
    got = retier(compiled, second, estate)
    # every field, so a new tier-dependent input of the kernel is caught here
    for field in dataclasses.fields(want):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        elif isinstance(b, tuple) and b and isinstance(b[0], np.ndarray):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert a == b, field.name
    assert not np.array_equal(compiled.window_s, want.window_s)


@pytest.mark.parametrize("tiers", [TIERS, OTHER])
def test_tuner_matches_simulate(estate, tuner, tiers):
    got = tuner.update(tiers).summary()
    scenario = Scenario("tuned", "sao", tiers=saosim.Tiers.from_dict(tiers))
    want = simulate(estate, [scenario]).summary()
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9)


def test_tuner_remembers_and_names_bad_selectors(tuner):
    tuner.update(TIERS)
    again = tuner.update(TIERS)
    assert tuner.timings.cached
    assert again is tuner.comparison
    with pytest.raises(ConfigError, match="tag:nothing"):
        tuner.update({"x": {"select": "tag:nothing"}, "default": {}})


def test_tier_tuner_follows_its_controls(estate, tuner, tmp_path):
    tt = saosim.TierTuner(tuner, tiers=TIERS)
    assert tt.error is None and tt.last_update_s is not None
    before = tt.comparison.summary().filter(pl.col("scenario") == "tuned")
    default = next(r for r in tt.rows if r.name.value == "default")
    default.count.value = 3  # 3 days: fewer builds
    after = tt.comparison.summary().filter(pl.col("scenario") == "tuned")
    assert after["node_builds"][0] < before["node_builds"][0]
    assert tt.tiers()["default"]["build_after"] == {
        "count": 3,
        "period": "day",
        "updates_on": "any",
    }
    assert "updated in" in tt.status.value
    assert "models" in default.models.value
    # the YAML export is the dbt export of what the controls say
    cfg = saosim.Tiers.from_dict(tt.tiers()).resolve(estate.project)
    assert tt.dbt_yaml() == saosim.tiers_to_dbt_yaml(cfg, estate.project)
    written = tt.write_dbt_yaml(tmp_path)
    assert (tmp_path / "dbt_project.yml") in written
    # a bad selector shows as a message, the last good comparison stays
    hourly = next(r for r in tt.rows if r.name.value == "hourly")
    hourly.select.value = "tag:<nothing>"
    assert tt.error is not None and "&lt;nothing&gt;" in tt.status.value
    assert tt.comparison is not None
    hourly.select.value = "tag:hourly"
    assert tt.error is None
    # add then remove a tier
    tt.add_button.click()
    assert len(tt.rows) == 3
    tt.rows[-1].remove.click()
    assert len(tt.rows) == 2
    html = tt.to_html()
    assert "Tier tuner" in html and "plotly" in html


def test_tier_tuner_profile_switch(tuner):
    tt = saosim.TierTuner(tuner, tiers=TIERS, auto=True)
    tt.profile.value = "dbt_state"
    assert tt.error is None
    assert tt.comparison.profiles["tuned"] == "dbt_state"
