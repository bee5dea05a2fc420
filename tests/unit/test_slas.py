"""SLAs of a comparison: declared once, every scenario (the baseline too) scored against them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from saosim.errors import ConfigError
from saosim.metrics.tables import per_day, per_tier, summarize
from saosim.project.graph import Node, Project
from saosim.project.slas import Slas, load_slas, resolve_slas
from saosim.project.tiers import Tiers
from saosim.replay.comparison import pick_scenario
from saosim.replay.engine import Scenario, simulate
from saosim.synth.estate import synthetic_estate

T0 = datetime(2025, 5, 1, tzinfo=UTC)
SRC, STG, FCT = "source.p.raw.orders", "model.p.stg", "model.p.fct"
PROJECT = Project(
    [
        Node(SRC, "orders", "source"),
        Node(STG, "stg", "model", materialization="table", tags=("hourly",)),
        Node(FCT, "fct", "model", materialization="table"),
    ],
    [(SRC, STG), (STG, FCT)],
    name="p",
)
# orders land at 00:10 and 01:10
ARRIVALS = pl.DataFrame(
    {
        "unique_id": [SRC, SRC],
        "arrived_at": [T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)],
    },
    schema={"unique_id": pl.String, "arrived_at": pl.Datetime("us", "UTC")},
)


def _rows(scenario: str, hour: int, action: str, day: int = 0) -> list[dict]:
    at = T0 + timedelta(days=day, hours=hour)
    return [
        {
            "scenario": scenario,
            "run_id": f"{scenario}-{day}-{hour}",
            "run_at": at,
            "unique_id": uid,
            "action": action,
            "reason": "x",
            "runtime_s": 10.0 if action == "build" else None,
            "cost_usd": 0.01 if action == "build" else None,
        }
        for uid in (STG, FCT)
    ]


def _log(*groups: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [r for g in groups for r in g],
        schema={
            "scenario": pl.String,
            "run_id": pl.String,
            "run_at": pl.Datetime("us", "UTC"),
            "unique_id": pl.String,
            "action": pl.String,
            "reason": pl.String,
            "runtime_s": pl.Float64,
            "cost_usd": pl.Float64,
        },
    )


# baseline builds at 01:00 and 02:00; sao builds at 01:00 and reuses at 02:00
LOG = _log(
    _rows("baseline", 1, "build"),
    _rows("baseline", 2, "build"),
    _rows("sao", 1, "build"),
    _rows("sao", 2, "reuse"),
)
STG_30M = resolve_slas(PROJECT, Slas.from_dict({"stg": "30m"}))
WINDOW = {"start": T0, "end": T0 + timedelta(hours=3)}


def _summary(log: pl.DataFrame = LOG, **kw) -> dict[str, dict]:
    out = summarize(log, project=PROJECT, arrivals=ARRIVALS, slas=STG_30M, **WINDOW, **kw)
    return {r["scenario"]: r for r in out.iter_rows(named=True)}


def test_every_scenario_is_scored_against_the_same_sla_by_hand():
    s = _summary()
    # stg's SLA is 30 min. Baseline: 00:10 data waits until 01:00 (20 min over), 01:10 data
    # until 02:00 (20 min over). sao reuses at 02:00: 01:10 data is never reflected, over the
    # SLA from 01:40 to 03:00 (80 min). Window 180 min; one model with an SLA.
    base, sao = s["baseline"], s["sao"]
    assert base["sla_models"] == sao["sla_models"] == 1
    assert base["sla_breach_pct"] == pytest.approx(100 * 40 / 180)
    assert sao["sla_breach_pct"] == pytest.approx(100 * 100 / 180)
    assert base["sla_breach_model_hours"] == pytest.approx(40 / 60)
    assert sao["sla_breach_model_hours"] == pytest.approx(100 / 60)
    assert base["sla_breach_models"] == sao["sla_breach_models"] == 1
    assert sao["sla_breach_models_pct"] == 100.0
    # split: what the baseline already misses (40 min) and what sao adds (60 min)
    assert sao["sla_breach_baseline_pct"] == pytest.approx(100 * 40 / 180)
    assert sao["sla_breach_added_pct"] == pytest.approx(100 * 60 / 180)
    assert base["sla_breach_added_pct"] == 0.0


def test_no_sla_declared_leaves_breach_empty_not_zero():
    out = summarize(LOG, project=PROJECT, arrivals=ARRIVALS, **WINDOW)
    for row in out.iter_rows(named=True):
        assert row["sla_breach_pct"] is None and row["sla_breach_models"] is None


def test_scenarios_without_tiers_report_under_the_sla_groups():
    tiers = per_tier(LOG, project=PROJECT, arrivals=ARRIVALS, slas=STG_30M, **WINDOW)
    stg = tiers.filter(pl.col("tier") == "stg").sort("scenario")
    assert stg["scenario"].to_list() == ["baseline", "sao"]
    assert stg["sla_breach_pct"].to_list() == pytest.approx([100 * 40 / 180, 100 * 100 / 180])
    assert stg["models"].to_list() == [1, 1]
    # fct has no SLA: its group is untiered, with no breach figures
    fct = tiers.filter(pl.col("tier") == "untiered")
    assert fct["sla_breach_pct"].to_list() == [None, None]


def test_daily_share_of_selected_models_not_rebuilt():
    log = pl.concat([LOG, _log(_rows("sao", 1, "reuse", day=1), _rows("baseline", 1, "build", 1))])
    s = _summary(log)
    # sao: day 0 built both models (at 01:00), day 1 rebuilt none: mean of 0% and 100%
    assert s["sao"]["daily_not_rebuilt_pct"] == pytest.approx(50.0)
    assert s["baseline"]["daily_not_rebuilt_pct"] == 0.0
    days = per_day(log, project=PROJECT, arrivals=ARRIVALS, **WINDOW).filter(
        pl.col("scenario") == "sao"
    )
    assert days["models_selected"].to_list() == [2, 2]
    assert days["not_rebuilt_pct"].to_list() == [0.0, 100.0]


def test_slas_parse_and_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "slas.yml"
    path.write_text("slas:\n  default: 26h\n  'tag:hourly': 2h\n")
    rules = load_slas(path).rules
    assert [(r.selector, r.sla_s) for r in rules] == [("default", 93600.0), ("tag:hourly", 7200.0)]
    with pytest.raises(ConfigError, match=r'slas.yml, field "slas.tag:hourly".*not a duration'):
        Slas.from_dict({"tag:hourly": "soon"}, path="slas.yml")
    with pytest.raises(ConfigError, match="longer than zero"):
        Slas.from_dict({"default": 0})
    with pytest.raises(ConfigError, match="unknown top-level key 'tiers'"):
        Slas.from_dict({"slas": {"default": "1d"}, "tiers": {}})
    with pytest.raises(ConfigError, match="matches no node"):
        resolve_slas(PROJECT, Slas.from_dict({"tag:nothing": "1h"}))


def test_default_takes_the_rest_and_selectors_win():
    targets = resolve_slas(PROJECT, Slas.from_dict({"default": "26h", "tag:hourly": "2h"}))
    assert dict(targets.sla_s) == {STG: 7200.0, FCT: 93600.0}
    assert dict(targets.group) == {STG: "tag:hourly", FCT: "default"}


def test_conflicting_declarations_are_an_error_naming_both():
    with pytest.raises(ConfigError) as err:
        resolve_slas(PROJECT, Slas.from_dict({"stg": "1h", "tag:hourly": "2h"}, path="s.yml"))
    text = str(err.value)
    assert "model.p.stg" in text and "'stg'" in text and "'tag:hourly'" in text
    tuned = Scenario("tuned", tiers=Tiers.from_dict({"default": {"sla": "26h"}}))
    other = Scenario("other", tiers=Tiers.from_dict({"default": {"sla": "24h"}}))
    with pytest.raises(ConfigError, match=r"scenario 'tuned', tier 'default'.*scenario 'other'"):
        resolve_slas(PROJECT, None, [tuned, other])
    with pytest.raises(ConfigError, match=r"simulate.*scenario 'tuned'"):
        resolve_slas(PROJECT, Slas.coerce({"default": "1d"}), [tuned])
    # declarations that agree are one SLA
    same = resolve_slas(PROJECT, Slas.from_dict({"default": "26h"}), [tuned])
    assert set(same.sla_s.values()) == {93600.0}


def test_recommend_keeps_the_slas_not_just_the_cheapest():
    s = pl.DataFrame(
        {
            "scenario": ["baseline", "lean", "safe", "costly"],
            "cost_usd": [10.0, 4.0, 7.0, 12.0],
            "sla_breach_pct": [5.0, 9.0, 5.0, 1.0],
        }
    )
    r = pick_scenario(s, "baseline")
    assert r.scenario == "safe"
    assert "more than the baseline" in r.why_not("lean")
    assert r.why_not("costly") == "saves nothing against the baseline"
    worse = s.filter(pl.col("scenario") != "safe")
    r = pick_scenario(worse, "baseline")
    assert r.scenario == "baseline" and "no other scenario" in r.reason
    unjudged = s.with_columns(pl.lit(None, pl.Float64).alias("sla_breach_pct"))
    r = pick_scenario(unjudged, "baseline")
    assert r.scenario == "lean" and "no SLA is declared" in r.reason


@pytest.fixture(scope="module")
def estate():
    return synthetic_estate(n_models=60, days=3, seed=5)


def test_simulate_scores_the_baseline_against_the_tiers_slas(estate):
    tiers = Tiers.from_dict(
        {"default": {"build_after": {"count": 1, "period": "day"}, "sla": "6h"}}
    )
    cmp = simulate(estate, [Scenario("sao"), Scenario("tuned", tiers=tiers)], engine="plain")
    summary = {r["scenario"]: r for r in cmp.summary().iter_rows(named=True)}
    assert all(summary[s]["sla_breach_pct"] is not None for s in ("baseline", "sao", "tuned"))
    assert summary["baseline"]["sla_models"] == summary["tuned"]["sla_models"] > 0
    chosen = [s for s, r in summary.items() if r["recommended"]]
    assert len(chosen) == 1
    assert summary[chosen[0]]["sla_breach_pct"] <= summary["baseline"]["sla_breach_pct"] + 1e-9
    with pytest.raises(ConfigError, match=r"simulate.*scenario 'tuned', tier 'default'"):
        simulate(estate, [Scenario("tuned", tiers=tiers)], slas={"default": "7h"})
    explicit = simulate(estate, [Scenario("sao")], slas={"default": "6h"}, engine="plain")
    base = explicit.summary().filter(pl.col("scenario") == "baseline").row(0, named=True)
    assert base["sla_breach_pct"] == pytest.approx(summary["baseline"]["sla_breach_pct"])


def test_results_on_a_synthetic_estate_are_labelled_illustrative(estate, tmp_path):
    from saosim.inputs.estate import load_estate
    from saosim.report import write_report

    assert estate.synthetic and load_estate(estate.save(tmp_path / "e")).synthetic
    cmp = simulate(estate, [Scenario("sao")], engine="plain")
    assert cmp.summary()["illustrative"].to_list() == [True, True]
    page = write_report(cmp, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Illustrative:" in page and "SLA breach" in page


def test_the_report_never_labels_a_scenario_that_breaches_more_recommended(estate, tmp_path):
    from saosim.report import write_report

    lazy = Tiers.from_dict({"default": {"build_after": {"count": 3, "period": "day"}, "sla": "6h"}})
    cmp = simulate(estate, [Scenario("lazy", tiers=lazy)], engine="plain")
    why = cmp.recommendation().why_not("lazy")
    assert why is not None and "more than the baseline" in why
    page = write_report(cmp, tmp_path / "r.html", recommended="lazy").read_text(encoding="utf-8")
    assert "Tiers of lazy as dbt config — not recommended: breaches its SLAs" in page
    assert "Recommended tiers as dbt config — lazy" not in page
    # the freshness card says it breaches more than the baseline, marked as bad
    card = page.split("<h3>The freshness cost</h3>")[1].split("</div>")[0]
    assert 'class="bad"' in card and "its SLAs are breached on" in card


def test_the_report_says_when_nothing_beats_what_ran(estate, tmp_path):
    from saosim.report import write_report

    lazy = Tiers.from_dict({"default": {"build_after": {"count": 3, "period": "day"}, "sla": "6h"}})
    cmp = simulate(estate, [Scenario("lazy", tiers=lazy)], engine="plain")
    assert cmp.recommendation().scenario == cmp.baseline
    page = write_report(cmp, tmp_path / "r.html").read_text(encoding="utf-8")
    card = page.split("<h3>The saving</h3>")[1].split("</div>")[0]
    assert "No scenario is recommended over what ran: the cheapest, lazy" in card
    assert 'class="good"' not in card
