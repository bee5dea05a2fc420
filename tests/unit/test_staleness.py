"""Staleness on tiny hand-made decision logs, against hand-computed curves and integrals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.errors import SchemaError
from saosim.metrics.staleness import staleness
from saosim.metrics.staleness_kernel import _heap_pop, _heap_push
from saosim.project.freshness import FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project
from tests.strategies import LOG_SCHEMA

DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
M = 60.0  # seconds per minute


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return DAY0 + timedelta(hours=hours, minutes=minutes)


def log(*rows: tuple) -> pl.DataFrame:
    """rows: (unique_id, run_at, action[, started_at, finished_at[, status]])."""
    out = []
    for i, row in enumerate(rows):
        uid, run_at, action, *rest = row
        out.append(
            {
                "scenario": "s",
                "run_id": f"r{i}",
                "run_at": run_at,
                "unique_id": uid,
                "action": action,
                "reason": "x",
                "started_at": rest[0] if len(rest) > 0 else None,
                "finished_at": rest[1] if len(rest) > 1 else None,
                "status": rest[2] if len(rest) > 2 else "success",
            }
        )
    return pl.DataFrame(
        out,
        schema=LOG_SCHEMA,
    )


def arrivals(*rows: tuple[str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"unique_id": [r[0] for r in rows], "arrived_at": [r[1] for r in rows]},
        schema={"unique_id": pl.String, "arrived_at": pl.Datetime("us", "UTC")},
    )


CHAIN = Project.from_spec({"raw.orders": [], "stg": ["raw.orders"], "fct": ["stg"]})
SRC, STG, FCT = "source.demo.raw.orders", "model.demo.stg", "model.demo.fct"


def one(project, decisions, arr, *, end=3, freshness=None, **kw):
    res = staleness(
        decisions,
        project=project,
        arrivals=arr,
        start=at(0),
        end=at(end),
        freshness=freshness,
        **kw,
    )["s"]
    return res, {u: i for i, u in enumerate(res.node_ids)}


def test_land_at_0010_build_at_0100_is_fresh_after():
    res, ix = one(CHAIN, log((STG, at(1), "build")), arrivals((SRC, at(0, 10))))
    i = ix[STG]
    assert res.max_s[i] == pytest.approx(50 * M)
    assert res.integral_s2[i] == pytest.approx((50 * M) ** 2 / 2)
    assert res.stale_s[i] == pytest.approx(50 * M)
    # fct never built: stale from 00:10 to the window end at 03:00
    j = ix[FCT]
    assert res.max_s[j] == pytest.approx(170 * M)
    assert res.integral_s2[j] == pytest.approx((170 * M) ** 2 / 2)


def test_build_duration_counts_until_the_build_finishes():
    res, ix = one(
        CHAIN,
        log((STG, at(1), "build", at(1), at(1, 20))),
        arrivals((SRC, at(0, 10))),
    )
    assert res.max_s[ix[STG]] == pytest.approx(70 * M)
    assert res.integral_s2[ix[STG]] == pytest.approx((70 * M) ** 2 / 2)


def test_data_landing_at_the_build_start_is_reflected():
    res, ix = one(CHAIN, log((STG, at(0, 10), "build")), arrivals((SRC, at(0, 10))))
    assert res.max_s[ix[STG]] == 0.0
    assert res.integral_s2[ix[STG]] == 0.0


def test_propagation_through_a_chain_and_order_matters():
    decisions = log(
        (FCT, at(0, 30), "build"),  # before stg has the data: reflects nothing new
        (STG, at(1), "build"),
        (FCT, at(2), "build"),
    )
    res, ix = one(CHAIN, decisions, arrivals((SRC, at(0, 10))))
    assert res.max_s[ix[FCT]] == pytest.approx(110 * M)
    assert res.integral_s2[ix[FCT]] == pytest.approx((110 * M) ** 2 / 2)


def test_same_instant_builds_in_topological_order_propagate():
    decisions = log((STG, at(1), "build"), (FCT, at(1), "build"))
    res, ix = one(CHAIN, decisions, arrivals((SRC, at(0, 10))))
    assert res.max_s[ix[FCT]] == pytest.approx(50 * M)


def test_reuse_skip_and_failed_build_reflect_nothing():
    decisions = log(
        (STG, at(1), "reuse"),
        (STG, at(1, 30), "skip"),
        (STG, at(2), "build", None, None, "error"),
    )
    res, ix = one(CHAIN, decisions, arrivals((SRC, at(0, 10))))
    assert res.max_s[ix[STG]] == pytest.approx(170 * M)


def test_two_sources_oldest_unreflected_arrival_counts():
    p = Project.from_spec({"raw.a": [], "raw.b": [], "j": ["raw.a", "raw.b"]})
    a, b, j = "source.demo.raw.a", "source.demo.raw.b", "model.demo.j"
    decisions = log((j, at(0, 30), "build"), (j, at(1), "build"))
    res, ix = one(p, decisions, arrivals((a, at(0, 10)), (b, at(0, 40))), end=2)
    # 00:10–00:30 stale by a (max 20 min); 00:40–01:00 stale by b (max 20 min)
    assert res.max_s[ix[j]] == pytest.approx(20 * M)
    assert res.integral_s2[ix[j]] == pytest.approx(2 * (20 * M) ** 2 / 2)
    assert res.stale_s[ix[j]] == pytest.approx(40 * M)


def test_data_counts_as_reflected_only_when_every_path_carries_it():
    p = Project.from_spec({"raw.s": [], "a": ["raw.s"], "b": ["raw.s"], "c": ["a", "b"]})
    s, a, c = "source.demo.raw.s", "model.demo.a", "model.demo.c"
    decisions = log((a, at(1), "build"), (c, at(2), "build"))
    res, ix = one(p, decisions, arrivals((s, at(0, 10))))
    assert res.max_s[ix[c]] == pytest.approx(170 * M)  # b never carried it


def test_sla_miss_hours():
    cfg = FreshnessConfig({STG: NodeFreshness(tier="gold", sla_s=30 * M)})
    res, ix = one(CHAIN, log((STG, at(1), "build")), arrivals((SRC, at(0, 10))), freshness=cfg)
    assert res.sla_miss_s[ix[STG]] == pytest.approx(20 * M)
    assert res.sla_miss_s[ix[FCT]] == 0.0  # no SLA, no miss
    tiers = res.per_tier().sort("tier")
    assert tiers.get_column("tier").to_list() == ["gold", "untiered"]
    assert tiers.get_column("sla_miss_hours").to_list() == pytest.approx([20 / 60, 0.0])


def test_quantiles_over_model_time():
    p = Project.from_spec({"raw.orders": [], "stg": ["raw.orders"]})
    res, _ = one(p, log((STG, at(1), "build")), arrivals((SRC, at(0, 10))))
    # 3 h window: 130 min at 0, then 50 min uniform on [0, 50 min]
    assert res.quantile_hours(0.5) == 0.0
    target = 0.95 * 180 - 130  # minutes of staleness mass needed above zero
    assert res.quantile_hours(0.95) == pytest.approx(target / 60, abs=1e-3)
    assert res.quantile_hours(1.0) == pytest.approx(50 / 60, abs=1e-3)
    summary = res.summary()
    assert summary["staleness_max_hours"] == pytest.approx(50 / 60)
    assert summary["staleness_mean_hours"] == pytest.approx((50 * M) ** 2 / 2 / (3 * 3600) / 3600)


def test_arrivals_before_the_window_are_reflected_at_start():
    res, ix = one(CHAIN, log((STG, at(1), "build")), arrivals((SRC, at(-1))))
    assert res.max_s[ix[STG]] == 0.0 and res.max_s[ix[FCT]] == 0.0


def test_live_views_follow_their_parents_without_builds():
    p = Project(
        [
            Node(SRC, "orders", "source"),
            Node(STG, "stg", "model", materialization="table"),
            Node("model.demo.v", "v", "model", materialization="view"),
        ],
        [(SRC, STG), (STG, "model.demo.v")],
    )
    decisions = log((STG, at(1), "build"))
    res, ix = one(p, decisions, arrivals((SRC, at(0, 10))))
    assert res.max_s[ix["model.demo.v"]] == pytest.approx(50 * M)
    literal, ix2 = one(p, decisions, arrivals((SRC, at(0, 10))), live_views=False)
    assert literal.max_s[ix2["model.demo.v"]] == pytest.approx(170 * M)


def test_view_directly_on_a_source_is_never_stale():
    p = Project(
        [Node(SRC, "orders", "source"), Node("model.demo.v", "v", "model", materialization="view")],
        [(SRC, "model.demo.v")],
    )
    res, _ = one(p, log(("model.demo.v", at(1), "reuse")), arrivals((SRC, at(0, 10))))
    assert res.max_s.tolist() == [0.0]


def test_ephemeral_parent_is_looked_through():
    p = Project(
        [
            Node(SRC, "orders", "source"),
            Node("model.demo.e", "e", "model", materialization="ephemeral"),
            Node(FCT, "fct", "model", materialization="table"),
        ],
        [(SRC, "model.demo.e"), ("model.demo.e", FCT)],
    )
    res, ix = one(p, log((FCT, at(1), "build")), arrivals((SRC, at(0, 10))))
    assert "model.demo.e" not in ix
    assert res.max_s[ix[FCT]] == pytest.approx(50 * M)


def test_per_day_splits_integrals_at_midnight():
    res, _ = one(
        Project.from_spec({"raw.orders": [], "stg": ["raw.orders"]}),
        log((STG, at(25), "build")),
        arrivals((SRC, at(23))),
        end=26,
    )
    days = res.per_day(by_tier=False)
    assert days.height == 2
    # day 1: staleness 0→1 h during 23:00–24:00 → ∫ = 0.5 h²; mean over 24 h
    # day 2: 1→2 h during 00:00–01:00 → ∫ = 1.5 h²; mean over the 2 h of day 2 in the window
    assert days.get_column("staleness_mean_hours").to_list() == pytest.approx([0.5 / 24, 1.5 / 2])


def test_several_scenarios_are_separate():
    d = pl.concat(
        [
            log((STG, at(1), "build")),
            log((STG, at(2), "build")).with_columns(pl.lit("t").alias("scenario")),
        ]
    )
    res = staleness(d, project=CHAIN, arrivals=arrivals((SRC, at(0, 10))), start=at(0), end=at(3))
    assert sorted(res) == ["s", "t"]
    i = res["s"].node_ids.index(STG)
    assert res["s"].max_s[i] == pytest.approx(50 * M)
    assert res["t"].max_s[i] == pytest.approx(110 * M)


def test_bad_input_names_field_and_row():
    with pytest.raises(SchemaError, match=r"decisions.unique_id.*nope") as err:
        staleness(log(("model.demo.nope", at(1), "build")), project=CHAIN, arrivals=arrivals())
    assert err.value.row == 1
    with pytest.raises(SchemaError, match="not a source"):
        staleness(log((STG, at(1), "build")), project=CHAIN, arrivals=arrivals((STG, at(0))))
    naive = log((STG, at(1), "build")).with_columns(pl.col("run_at").dt.replace_time_zone(None))
    with pytest.raises(SchemaError, match="timezone"):
        staleness(naive, project=CHAIN, arrivals=arrivals())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=60), st.data())
def test_the_replay_heap_pops_in_ascending_order(values, data):
    """The fixed-array heap of the live-view propagation: pushes and pops interleaved, every
    pop is the least value pushed and not yet popped."""
    heap = np.empty(max(len(values), 1), dtype=np.int64)
    size = 0
    pending: list[int] = []
    for v in values:
        size = _heap_push(heap, size, np.int64(v))
        pending.append(v)
        if data.draw(st.booleans()):
            top, size = _heap_pop(heap, size)
            assert top == min(pending)
            pending.remove(top)
    while size:
        top, size = _heap_pop(heap, size)
        assert top == min(pending)
        pending.remove(top)
    assert pending == []
