"""A failed error-severity data test skips the tested node's children (SAO-SEMANTICS), in
the planner, in both engines and in history replays; the replay never turns a node run the
history skipped into a free success."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from saosim.core.decision import Action, Reason
from saosim.core.planner import plan
from saosim.core.state import State
from saosim.inputs.estate import load_estate
from saosim.project.graph import Node, Project
from saosim.replay.engine import Scenario, simulate
from saosim.replay.timeline import history_node_runs

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
T0 = datetime(2025, 1, 1, 6, tzinfo=UTC)


def _project(severity: str = "error") -> Project:
    base = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"], "rpt": ["fct"]})
    nodes = [
        *base.nodes.values(),
        Node("test.demo.not_null_stg", "not_null_stg", "test", severity=severity),
        Node("test.demo.unique_stg", "unique_stg", "test"),
    ]
    edges = [
        *base.edges,
        ("model.demo.stg", "test.demo.not_null_stg"),
        ("model.demo.stg", "test.demo.unique_stg"),
    ]
    return Project(nodes, edges, name="demo")


def test_order_puts_a_nodes_tests_before_its_children() -> None:
    p = _project()
    pos = p.position
    for test in ("test.demo.not_null_stg", "test.demo.unique_stg"):
        assert pos["model.demo.stg"] < pos[test] < pos["model.demo.fct"]
    assert set(p.run_parents("model.demo.fct")) == {
        "model.demo.stg",
        "test.demo.not_null_stg",
        "test.demo.unique_stg",
    }
    assert p.parents("model.demo.fct") == ("model.demo.stg",)


def test_a_test_on_a_node_and_its_descendant_does_not_make_a_cycle() -> None:
    # relationships(fct -> stg): tests stg and fct; it cannot run before fct, fct's child
    base = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"], "rpt": ["fct"]})
    rel = Node("test.demo.relationships_fct_stg", "relationships_fct_stg", "test")
    p = Project(
        [*base.nodes.values(), rel],
        [*base.edges, ("model.demo.stg", rel.unique_id), ("model.demo.fct", rel.unique_id)],
        name="demo",
    )
    pos = p.position
    assert pos[rel.unique_id] > pos["model.demo.fct"]
    # fct does not wait for a test that needs fct itself; rpt (fct's child) does
    assert rel.unique_id not in p.run_parents("model.demo.fct")
    assert rel.unique_id in p.run_parents("model.demo.rpt")
    assert len(p.order) == len(p.nodes)


@pytest.mark.parametrize("profile", ["baseline", "sao", "dbt_state", "orchestra"])
def test_failed_error_test_skips_children_in_every_profile(profile: str) -> None:
    p = _project()
    failing = frozenset({"test.demo.not_null_stg"})
    result = plan(
        p, State.empty(), at=T0, source_versions={"source.demo.raw.a": T0}, profile=profile,
        failing=failing,
    )  # fmt: skip
    assert result.decision("stg").action is Action.BUILD
    assert result.decision("not_null_stg").action is Action.RUN
    # the tested node's other test still runs; its children are skipped, with the test named
    assert result.decision("unique_stg").action is Action.RUN
    for child in ("fct", "rpt"):
        d = result.decision(child)
        assert (d.action, d.reason) == (Action.SKIP, Reason.UPSTREAM_FAILED)
    fct = result.decision("fct")
    assert fct.failed_tests == ("test.demo.not_null_stg",)
    assert "not_null_stg" in result.explain("fct")


def test_failed_warn_test_skips_nothing() -> None:
    p = _project(severity="warn")
    result = plan(
        p, State.empty(), at=T0, source_versions={"source.demo.raw.a": T0}, profile="sao",
        failing=frozenset({"test.demo.not_null_stg"}),
    )  # fmt: skip
    assert result.decision("fct").action is Action.BUILD
    assert result.decision("rpt").action is Action.BUILD


def _example():
    if not EXAMPLE.is_dir():
        pytest.skip("data/example is not in this checkout")
    return load_estate(EXAMPLE)


def test_history_rows_the_history_skipped_carry_no_runtime() -> None:
    estate = _example()
    rows = history_node_runs(estate)
    skipped = rows.filter(pl.col("status") == "skipped")
    assert skipped.height > 0
    assert skipped["rt"].null_count() == skipped.height
    assert skipped["cost"].null_count() == skipped.height


def test_baseline_replay_skips_exactly_what_the_history_skipped() -> None:
    estate = _example()
    comparison = simulate(estate, [Scenario("baseline", profile="baseline")])
    log = comparison.decisions_of("baseline").select(
        pl.col("run_id").cast(pl.String),
        pl.col("unique_id").cast(pl.String),
        pl.col("status").cast(pl.String).alias("replayed"),
    )
    history = estate.node_runs.select(
        pl.col("run_id", "unique_id").cast(pl.String),
        pl.col("status").cast(pl.String).alias("recorded"),
    )
    both = history.join(log, on=["run_id", "unique_id"], how="left")
    skipped = both.filter(pl.col("recorded") == "skipped")
    assert skipped.height > 100  # the example's history has test failures that skip children
    assert skipped["replayed"].to_list() == ["skipped"] * skipped.height
    replay_skips = log.filter(pl.col("replayed") == "skipped").height
    assert replay_skips == skipped.height
    # statuses agree run by run, node by node
    assert both.filter(pl.col("recorded") != pl.col("replayed")).height == 0
