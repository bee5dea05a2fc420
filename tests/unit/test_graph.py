from __future__ import annotations

import pytest

from saosim.errors import SchemaError, SelectionError
from saosim.project.graph import Node, Project


@pytest.fixture
def project() -> Project:
    nodes = [
        Node("source.p.raw.orders", "orders", "source", package="p"),
        Node("source.p.raw.customers", "customers", "source", package="p"),
        Node(
            "model.p.stg_orders",
            "stg_orders",
            "model",
            "view",
            "p",
            "models/staging/stg_orders.sql",
            ("hourly",),
        ),
        Node(
            "model.p.stg_customers",
            "stg_customers",
            "model",
            "view",
            "p",
            "models/staging/stg_customers.sql",
        ),
        Node(
            "model.p.fct_orders",
            "fct_orders",
            "model",
            "table",
            "p",
            "models/marts/fct_orders.sql",
            ("hourly", "finance"),
        ),
        Node(
            "model.p.dim_customers",
            "dim_customers",
            "model",
            "table",
            "p",
            "models/marts/dim_customers.sql",
        ),
        Node("model.p.eph", "eph", "model", "ephemeral", "p", "models/marts/eph.sql"),
        Node("test.p.not_null_fct", "not_null_fct", "test", package="p"),
        Node("seed.p.countries", "countries", "seed", "seed", "p", "seeds/countries.csv"),
    ]
    edges = [
        ("source.p.raw.orders", "model.p.stg_orders"),
        ("source.p.raw.customers", "model.p.stg_customers"),
        ("model.p.stg_orders", "model.p.fct_orders"),
        ("model.p.stg_customers", "model.p.fct_orders"),
        ("model.p.stg_customers", "model.p.dim_customers"),
        ("seed.p.countries", "model.p.dim_customers"),
        ("model.p.fct_orders", "model.p.eph"),
        ("model.p.fct_orders", "test.p.not_null_fct"),
    ]
    return Project(nodes, edges, name="p")


def test_topological_order_is_stable_and_respects_edges(project: Project) -> None:
    order = project.order
    for parent, child in project.edges:
        assert order.index(parent) < order.index(child)
    assert order == Project(project.nodes.values(), reversed(project.edges), name="p").order


def test_counts_and_kinds(project: Project) -> None:
    assert project.counts() == {"model": 5, "seed": 1, "source": 2, "test": 1}
    assert project.buildable[0] in (
        "model.p.stg_customers",
        "model.p.stg_orders",
        "seed.p.countries",
    )
    assert project.tests_of("model.p.fct_orders") == ("test.p.not_null_fct",)
    assert project.nodes["model.p.eph"].is_ephemeral
    assert project.depth() == 3


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("fct_orders", {"fct_orders"}),
        ("tag:hourly", {"stg_orders", "fct_orders"}),
        ("tag:hourly,tag:finance", {"fct_orders"}),
        ("path:models/marts", {"fct_orders", "dim_customers", "eph"}),
        ("+fct_orders", {"fct_orders", "stg_orders", "stg_customers", "orders", "customers"}),
        ("1+fct_orders", {"fct_orders", "stg_orders", "stg_customers"}),
        ("stg_customers+", {"stg_customers", "fct_orders", "dim_customers", "eph", "not_null_fct"}),
        ("stg_customers+1", {"stg_customers", "fct_orders", "dim_customers"}),
        ("source:raw.orders+", {"orders", "stg_orders", "fct_orders", "eph", "not_null_fct"}),
        ("stg_* dim_customers", {"stg_orders", "stg_customers", "dim_customers"}),
        ("resource_type:seed", {"countries"}),
        ("config.materialized:view", {"stg_orders", "stg_customers"}),
    ],
)
def test_selection(project: Project, selector: str, expected: set[str]) -> None:
    assert {project.nodes[n].name for n in project.select(selector)} == expected


def test_select_all_and_exclude(project: Project) -> None:
    assert project.select() == frozenset(project.nodes)
    assert project.select("*") == frozenset(project.nodes)
    names = {project.nodes[n].name for n in project.select("path:models/marts", exclude="eph")}
    assert names == {"fct_orders", "dim_customers"}


def test_selector_errors(project: Project) -> None:
    with pytest.raises(SelectionError, match="matches no node"):
        project.select("nope")
    with pytest.raises(SelectionError, match="unknown selector method"):
        project.select("colour:red")


def test_resolve_prefers_models(project: Project) -> None:
    assert project.resolve("fct_orders") == "model.p.fct_orders"
    assert project.resolve("raw.orders") == "source.p.raw.orders"
    with pytest.raises(SelectionError):
        project.resolve("missing")


def test_bad_graphs_are_rejected() -> None:
    a = Node("model.p.a", "a", "model")
    b = Node("model.p.b", "b", "model")
    with pytest.raises(SchemaError, match="edge to a node the project does not have"):
        Project([a], [("model.p.a", "model.p.zzz")], origin="manifest.json")
    with pytest.raises(SchemaError, match="cycle"):
        Project([a, b], [("model.p.a", "model.p.b"), ("model.p.b", "model.p.a")])
    with pytest.raises(SchemaError, match="appears twice"):
        Project([a, a], [])


def test_with_nodes_replaces_without_touching_edges(project: Project) -> None:
    changed = project.replace_node("model.p.fct_orders", fingerprint="abc")
    assert changed.nodes["model.p.fct_orders"].fingerprint == "abc"
    assert project.nodes["model.p.fct_orders"].fingerprint is None
    assert changed.edges == project.edges
