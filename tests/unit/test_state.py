"""State: serialisation round trips (frame, Parquet, DuckDB) and how Plan.apply moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from saosim.core.planner import NodeState, State, plan
from saosim.core.state import STATE_SCHEMA
from saosim.errors import ConfigError, SchemaError
from saosim.project.graph import Node, Project

SRC = "source.demo.raw.orders"
STG = "model.demo.stg_orders"
FCT = "model.demo.fct_orders"


def t(h: int, m: int = 0) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h, minutes=m)


def sample() -> State:
    return State(
        {
            STG: NodeState(t(1), "abc", {SRC: t(0, 10)}, t(1)),
            FCT: NodeState(t(2), None, {STG: t(1), "model.demo.x": t(0)}, t(2), False, True),
            "seed.demo.codes": NodeState(t(0), "sum", {}, t(0)),
        }
    )


def test_frame_round_trip_and_schema() -> None:
    state = sample()
    frame = state.to_frame()
    assert dict(frame.schema) == STATE_SCHEMA
    assert frame["unique_id"].to_list() == sorted(state.nodes)
    assert State.from_frame(frame) == state


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.parquet"
    sample().to_frame().write_parquet(path)
    assert State.from_frame(pl.read_parquet(path)) == sample()


def test_duckdb_round_trip() -> None:
    frame = sample().to_frame()
    con = duckdb.connect()
    con.register("frame", frame.to_arrow())
    con.execute("create table state as select * from frame")
    back = pl.from_arrow(con.sql("select * from state").to_arrow_table())
    assert State.from_frame(back) == sample()
    seen = con.execute(
        "select s.parent_id from state, unnest(seen_versions) as u(s) where unique_id = ?", [STG]
    ).fetchall()
    assert seen == [(SRC,)]


def test_from_frame_rejects_naive_timestamps() -> None:
    frame = sample().to_frame().with_columns(pl.col("built_at").dt.replace_time_zone(None))
    with pytest.raises(SchemaError, match="time zone") as err:
        State.from_frame(frame, path="state.parquet")
    assert err.value.field == "built_at"
    with pytest.raises(SchemaError, match="missing column"):
        State.from_frame(pl.DataFrame({"unique_id": ["x"]}))


def test_state_helpers_do_not_mutate() -> None:
    state = sample()
    dropped = state.with_table_dropped(STG)
    assert dropped.get(STG).table_exists is False
    assert state.get(STG).table_exists is True
    assert STG not in state.without(STG)
    assert len(state) == 3


def project_with_test(severity: str) -> Project:
    nodes = [
        Node(SRC, "orders", "source"),
        Node(STG, "stg_orders", "model", "table"),
        Node("test.demo.nn", "nn", "test", severity=severity),
    ]
    return Project(nodes, [(SRC, STG), (STG, "test.demo.nn")], name="demo")


@pytest.mark.parametrize(
    ("severity", "status", "flagged"),
    [
        ("error", "fail", True),
        ("error", "error", True),
        ("warn", "fail", False),
        ("error", "warn", False),
        ("error", "pass", False),
    ],
)
def test_apply_test_outcomes(severity: str, status: str, flagged: bool) -> None:
    project = project_with_test(severity)
    run = plan(project, State.empty(), at=t(0), source_versions={SRC: t(0)})
    after = run.apply({"test.demo.nn": status}, finished_at=t(0, 5))
    assert after.get(STG).tests_failed is flagged
    assert after.get("test.demo.nn").built_at == t(0, 5)


def test_apply_per_node_finish_times_feed_seen_versions() -> None:
    project = Project.from_spec(
        {"raw.orders": [], "stg_orders": ["raw.orders"], "fct_orders": ["stg_orders"]}
    )
    run = plan(project, State.empty(), at=t(1), source_versions={SRC: t(0, 30)})
    after = run.apply(finished_at={STG: t(1, 5), FCT: t(1, 9)})
    assert after.get(STG) == NodeState(t(1, 5), None, {SRC: t(0, 30)}, t(1, 5))
    assert after.get(FCT).seen_versions == {STG: t(1, 5)}
    with pytest.raises(ConfigError, match="no finish time"):
        run.apply(finished_at={STG: t(1, 5)})


def test_apply_dbt_state_view_carries_parent_data_version() -> None:
    nodes = [
        Node(SRC, "orders", "source"),
        Node(STG, "stg_orders", "model", "view"),
        Node(FCT, "fct_orders", "model", "table"),
    ]
    project = Project(nodes, [(SRC, STG), (STG, FCT)], name="demo")
    state = State(
        {
            STG: NodeState(t(0), None, {SRC: t(0)}, t(0)),
            FCT: NodeState(t(0), None, {STG: t(0)}, t(0)),
        }
    )
    versions = {SRC: t(0, 20)}
    run = plan(project, state, at=t(1), source_versions=versions, profile="dbt_state")
    assert (run.decision(STG).action.value, run.decision(FCT).action.value) == ("reuse", "build")
    after = run.apply(finished_at=t(1))
    # the reused view is untouched; its child saw the data that flowed through it
    assert after.get(STG) == state.get(STG)
    assert after.get(FCT).seen_versions == {STG: t(0, 20)}
    again = plan(project, after, at=t(2), source_versions=versions, profile="dbt_state")
    assert again.decision(FCT).reason.value == "no_new_data"
