"""saosim tiers: assignment by selector, validation, and export as dbt YAML read back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.errors import ConfigError
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.freshness_yaml import read_project_freshness
from saosim.project.graph import Node, Project
from saosim.project.tiers import PROPERTIES_FILE, Tiers, load_tiers, tiers_to_dbt_yaml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "freshness"


def shop() -> Project:
    """A small project with folders, tags, a seed, a snapshot and a foreign package."""

    def model(name: str, path: str, *tags: str, package: str = "shop") -> Node:
        return Node(f"model.{package}.{name}", name, "model", "table", package, path, tags)

    nodes = [
        Node("source.shop.raw.orders", "orders", "source", package="shop"),
        Node("source.shop.raw.customers", "customers", "source", package="shop"),
        model("stg_orders", "models/staging/stg_orders.sql", "hourly"),
        model("stg_customers", "models/staging/stg_customers.sql"),
        model("stg_old_orders", "models/staging/legacy/stg_old_orders.sql"),
        model("int_orders", "models/intermediate/int_orders.sql"),
        model("fct_orders", "models/marts/fct_orders.sql"),
        model("fct_customers", "models/marts/fct_customers.sql"),
        model("fct_revenue", "models/marts/finance/fct_revenue.sql"),
        model("fct_payouts", "models/marts/finance/fct_payouts.sql"),
        model("audit_log", "models/audit_log.sql", package="audit"),
        Node("seed.shop.country_codes", "country_codes", "seed", package="shop",
             path="seeds/country_codes.csv"),
        Node("snapshot.shop.snap_customers", "snap_customers", "snapshot", package="shop",
             path="snapshots/snap_customers.sql"),
    ]  # fmt: skip
    edges = [
        ("source.shop.raw.orders", "model.shop.stg_orders"),
        ("source.shop.raw.customers", "model.shop.stg_customers"),
        ("model.shop.stg_orders", "model.shop.stg_old_orders"),
        ("model.shop.stg_orders", "model.shop.int_orders"),
        ("model.shop.int_orders", "model.shop.fct_orders"),
        ("model.shop.stg_customers", "model.shop.fct_customers"),
        ("model.shop.fct_orders", "model.shop.fct_customers"),
        ("model.shop.fct_orders", "model.shop.fct_revenue"),
        ("model.shop.fct_orders", "model.shop.fct_payouts"),
        ("source.shop.raw.customers", "snapshot.shop.snap_customers"),
    ]
    return Project(nodes, edges, name="shop")


def test_fixture_tiers_first_listed_non_default_wins() -> None:
    tiers = load_tiers(FIXTURES / "tiers.yml")
    assigned = tiers.assign(shop())
    assert assigned == {
        # hourly: tag:hourly or path:models/staging, minus stg_old_orders
        "model.shop.stg_orders": "hourly",
        "model.shop.stg_customers": "hourly",
        # stg_orders+ reaches it; hourly excluded it
        "model.shop.stg_old_orders": "downstream_of_orders",
        "model.shop.int_orders": "downstream_of_orders",
        "model.shop.fct_orders": "downstream_of_orders",
        "model.shop.fct_customers": "downstream_of_orders",
        # finance is listed before downstream_of_orders, which also selects these
        "model.shop.fct_revenue": "finance",
        "model.shop.fct_payouts": "finance",
        "model.audit.audit_log": "default",
        "seed.shop.country_codes": "default",
        "snapshot.shop.snap_customers": "default",
    }
    cfg = tiers.resolve(shop())
    revenue = cfg.for_node("model.shop.fct_revenue")
    assert revenue == NodeFreshness(BuildAfter(6, "hour", "all"), 21600.0, None, "finance", 28800.0)
    assert cfg.for_node("model.shop.stg_orders").sla_s == 7200.0
    assert cfg.for_node("model.shop.fct_orders").sla_s == 86400.0
    # nodes that are not buildable get no tier; unknown ids fall back to the default tier
    assert "source.shop.raw.orders" not in cfg.per_node
    assert cfg.for_node("model.shop.new_model").tier == "default"
    assert tiers["hourly"].select == "tag:hourly path:models/staging"


def test_order_of_listing_decides_overlaps_deterministically() -> None:
    spec = {
        "a": {"select": "+fct_orders", "build_after": {"count": 1, "period": "hour"}},
        "b": {"select": "stg_orders+", "build_after": {"count": 2, "period": "hour"}},
    }
    project = shop()
    ab = Tiers.from_dict(spec).assign(project)
    ba = Tiers.from_dict(dict(reversed(spec.items()))).assign(project)
    assert ab["model.shop.int_orders"] == "a" and ba["model.shop.int_orders"] == "b"
    assert ab == Tiers.from_dict(spec).assign(project)  # same input, same answer
    # no default tier: unselected nodes get no tier and no config
    assert ab["model.shop.fct_revenue"] == "b"
    assert ab["seed.shop.country_codes"] is None
    cfg = Tiers.from_dict(spec).resolve(project)
    assert cfg.for_node("seed.shop.country_codes") == NodeFreshness()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"h": {"select": "tag:nope", "build_after": {"count": 1, "period": "hour"}}},
         "tier 'h': select 'tag:nope' is not usable"),
        ({"h": {"select": "tag:hourly", "exclude": "nope"}}, "tier 'h': exclude 'nope' is not"),
        ({"h": {"select": "resource_type:source"}}, "matches no model, seed or snapshot"),
        ({"h": {"select": "bogus:x"}}, "unknown selector method"),
        ({"h": {"select": "tag:hourly", "build_after": {"count": 1, "period": "weeks"}}},
         "tier 'h': 'weeks' is not a period"),
        ({"h": {"select": "tag:hourly", "build_after": {"count": 0, "period": "hour"}}},
         "tier 'h': 0 must be a positive"),
        ({"h": {"select": "tag:hourly",
                "build_after": {"count": 1, "period": "hour", "updates_on": "some"}}},
         "tier 'h': 'some' is not allowed"),
        ({"h": {"select": "tag:hourly", "cron": "0 * * * *"}}, "tier 'h': unknown key 'cron'"),
        ({"h": {"select": "tag:hourly", "sla": "soon"}}, "tier 'h': 'soon' is not a duration"),
        ({"h": {"select": "tag:hourly", "lag_tolerance": "1y"}}, "tier 'h': '1y' is not a dur"),
        ({"h": {"build_after": {"count": 1, "period": "hour"}}}, "tier 'h' needs a dbt selector"),
        ({"default": {"select": "tag:x"}}, "takes every node no other tier selects"),
        ({"h": "hourly"}, "tier 'h': 'hourly' must be a mapping"),
        ({}, "must map tier names"),
    ],
)  # fmt: skip
def test_invalid_tiers_name_tier_and_value(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Tiers.from_dict({"tiers": spec}).resolve(shop())


def test_unknown_tier_and_top_level_key(tmp_path: Path) -> None:
    tiers = load_tiers(FIXTURES / "tiers.yml")
    with pytest.raises(ConfigError, match="unknown tier 'weekly'") as info:
        tiers["weekly"]
    assert info.value.path.endswith("tiers.yml")
    with pytest.raises(ConfigError, match="unknown top-level key 'scenarios'"):
        Tiers.from_dict({"tiers": {"default": {}}, "scenarios": []})
    bad = tmp_path / "t.yml"
    bad.write_text("tiers: {default: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_tiers(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_tiers(tmp_path / "missing.yml")


def _read_back(files: dict[str, str], root: Path, project: Project) -> FreshnessConfig:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return read_project_freshness(root, project)


def _dbt_part(nf: NodeFreshness) -> tuple[object, ...]:
    return (nf.build_after, nf.lag_tolerance_s, nf.require_fresh_data_from)


def test_export_reads_back_to_the_same_resolution(tmp_path: Path) -> None:
    project = shop()
    cfg = load_tiers(FIXTURES / "tiers.yml").resolve(project)
    files = tiers_to_dbt_yaml(cfg, project)
    # every folder here is uniform: no per-model properties needed
    assert set(files) == {"dbt_project.yml"}
    back = _read_back(files, tmp_path, project)
    for uid in project.buildable:
        assert _dbt_part(back.for_node(uid)) == _dbt_part(cfg.for_node(uid)), uid
    doc = yaml.safe_load(files["dbt_project.yml"])
    # folders whose models share a tier get one folder-level config
    finance = doc["models"]["shop"]["marts"]["finance"]
    assert finance["+freshness"] == {
        "build_after": {"count": 6, "period": "hour", "updates_on": "all"}
    }
    assert finance["+state"] == {"lag_tolerance": "6h"}
    assert doc["models"]["shop"]["staging"]["+freshness"]["build_after"]["period"] == "hour"
    assert doc["models"]["audit"]["+freshness"]["build_after"] == {
        "count": 1,
        "period": "day",
        "updates_on": "any",
    }
    assert "seeds" in doc and "snapshots" in doc
    # stg_old_orders is alone in its folder and differs from staging: a nested folder config
    legacy = doc["models"]["shop"]["staging"]["legacy"]
    assert legacy["+freshness"]["build_after"]["count"] == 12


def test_export_of_mixed_folders_and_no_config(tmp_path: Path) -> None:
    project = shop()
    spec = {
        "default": {"build_after": {"count": 1, "period": "day"}},
        "none": {"select": "fct_revenue"},  # a tier without build_after: no config
        "fast": {
            "select": "fct_orders stg_customers audit_log",
            "build_after": {"count": 15, "period": "minute"},
            "lag_tolerance": 90,
            "require_fresh_data_from": "all",
        },
    }
    cfg = Tiers.from_dict(spec).resolve(project)
    files = tiers_to_dbt_yaml(cfg, project)
    back = _read_back(files, tmp_path, project)
    for uid in project.buildable:
        assert _dbt_part(back.for_node(uid)) == _dbt_part(cfg.for_node(uid)), uid
    assert back.for_node("model.shop.fct_orders").lag_tolerance_s == 90.0
    assert back.for_node("model.shop.fct_revenue").build_after is None
    # another package's model cannot go in a properties file: it is named in dbt_project.yml
    doc = yaml.safe_load(files["dbt_project.yml"])
    assert "+freshness" in doc["models"]["audit"]
    # finance, marts and staging are split 1:1: the inherited daily setting stays, the other
    # is per model; a reset to no config goes in dbt_project.yml (dbt ignores null in properties)
    assert doc["models"]["shop"]["marts"]["finance"] == {"fct_revenue": {"+freshness": None}}
    props = yaml.safe_load(files[PROPERTIES_FILE])
    assert [m["name"] for m in props["models"]] == ["fct_orders", "stg_customers"]
    assert props["models"][0]["config"] == {
        "freshness": {"build_after": {"count": 15, "period": "minute", "updates_on": "any"}},
        "state": {"lag_tolerance": "90s", "require_fresh_data_from": "all"},
    }


def test_export_with_paths_relative_to_the_model_path(tmp_path: Path) -> None:
    project = shop()
    stripped = [
        n.unique_id for n in project.nodes.values() if n.path.startswith(("models/", "seeds/"))
    ]
    for uid in stripped:
        node = project.nodes[uid]
        project = project.replace_node(uid, path=node.path.split("/", 1)[1])
    spec = {
        "default": {"build_after": {"count": 1, "period": "day"}},
        "hourly": {"select": "path:staging", "build_after": {"count": 1, "period": "hour"}},
        "mixed": {
            "select": "fct_orders country_codes",
            "build_after": {"count": 3, "period": "hour"},
            "lag_tolerance": "2h",
        },
    }
    cfg = Tiers.from_dict(spec).resolve(project)
    assert cfg.for_node("model.shop.stg_old_orders").tier == "hourly"
    files = tiers_to_dbt_yaml(cfg, project)
    assert PROPERTIES_FILE in files
    back = _read_back(files, tmp_path, project)
    for uid in project.buildable:
        assert _dbt_part(back.for_node(uid)) == _dbt_part(cfg.for_node(uid)), uid


def test_export_when_a_model_shares_its_name_with_a_folder(tmp_path: Path) -> None:
    nodes = [
        Node("model.shop.marts", "marts", "model", package="shop", path="models/marts.sql"),
        Node("model.shop.a", "a", "model", package="shop", path="models/marts/a.sql"),
        Node("model.shop.b", "b", "model", package="shop", path="models/b.sql"),
        Node("model.shop.c", "c", "model", package="shop", path="models/c.sql"),
    ]
    project = Project(nodes, [], name="shop")
    day, hour = NodeFreshness(BuildAfter(1, "day")), NodeFreshness(BuildAfter(1, "hour"))
    cfg = FreshnessConfig({"model.shop.marts": NodeFreshness(), "model.shop.a": hour,
                           "model.shop.b": day, "model.shop.c": day})  # fmt: skip
    files = tiers_to_dbt_yaml(cfg, project)
    back = _read_back(files, tmp_path, project)
    # the reset of `marts` cannot be a model key (a folder is called marts): properties YAML
    assert yaml.safe_load(files[PROPERTIES_FILE])["models"] == [
        {"name": "marts", "config": {"freshness": None}}
    ]
    assert back.for_node("model.shop.a").build_after == BuildAfter(1, "hour")
    assert back.for_node("model.shop.b").build_after == BuildAfter(1, "day")
    assert back.for_node("model.shop.marts").build_after is None


def test_export_is_deterministic() -> None:
    project = shop()
    cfg = load_tiers(FIXTURES / "tiers.yml").resolve(project)
    assert tiers_to_dbt_yaml(cfg, project) == tiers_to_dbt_yaml(cfg, project)


# -- property: any assignment survives export and read-back ---------------------------------

_SETTINGS = [
    NodeFreshness(),
    NodeFreshness(BuildAfter(1, "hour")),
    NodeFreshness(BuildAfter(1, "day")),
    NodeFreshness(BuildAfter(6, "hour", "all"), 3600.0, "all"),
    NodeFreshness(None, 1800.0),
    NodeFreshness(BuildAfter(1, "day"), None, "any"),
]


@st.composite
def project_and_config(draw: st.DrawFn) -> tuple[Project, FreshnessConfig]:
    folders = ["", "staging", "staging/legacy", "marts", "marts/finance", "marts/finance/x"]
    count = draw(st.integers(1, 14))
    nodes, per_node = [], {}
    for i in range(count):
        kind = draw(st.sampled_from(["model", "model", "model", "seed", "snapshot"]))
        package = draw(st.sampled_from(["shop", "shop", "shop", "other"]))
        root = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}[kind]
        folder = draw(st.sampled_from(folders))
        path = "/".join(p for p in (root, folder, f"n{i}.sql") if p)
        uid = f"{kind}.{package}.n{i}"
        nodes.append(Node(uid, f"n{i}", kind, package=package, path=path))
        per_node[uid] = draw(st.sampled_from(_SETTINGS))
    return Project(nodes, [], name="shop"), FreshnessConfig(per_node)


@given(project_and_config())
@settings(max_examples=40, deadline=None)
def test_any_assignment_reads_back_the_same(case: tuple[Project, FreshnessConfig]) -> None:
    project, config = case
    with tempfile.TemporaryDirectory() as folder:
        back = _read_back(tiers_to_dbt_yaml(config, project), Path(folder), project)
    for uid in project.buildable:
        assert _dbt_part(back.for_node(uid)) == _dbt_part(config.for_node(uid)), uid
