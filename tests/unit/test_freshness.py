"""Freshness values and the dbt project reader (saosim.project.freshness,
saosim.project.freshness_yaml).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saosim.errors import ConfigError, SaosimWarning
from saosim.project.freshness import (
    BuildAfter,
    FreshnessConfig,
    NodeFreshness,
    Where,
    parse_build_after,
    parse_duration_s,
    parse_freshness,
    parse_state,
)
from saosim.project.freshness_yaml import config_kwargs_from_sql, read_project_freshness
from saosim.project.graph import Node, Project

SHOP = Path(__file__).parents[1] / "fixtures" / "freshness" / "shop"

# (name, resource_type, path) of every buildable node of the fixture project.
SHOP_NODES = [
    ("stg_orders", "model", "models/staging/stg_orders.sql"),
    ("stg_customers", "model", "models/staging/stg_customers.sql"),
    ("stg_old_orders", "model", "models/staging/legacy/stg_old_orders.sql"),
    ("fct_orders", "model", "models/marts/fct_orders.sql"),
    ("fct_customers", "model", "models/marts/fct_customers.sql"),
    ("dim_date", "model", "models/marts/dim_date.sql"),
    ("fct_revenue", "model", "models/marts/finance/fct_revenue.sql"),
    ("fct_payouts", "model", "models/marts/finance/fct_payouts.sql"),
    ("country_codes", "seed", "seeds/country_codes.csv"),
]


def shop_project(*, strip_root: bool = False) -> Project:
    nodes = []
    for name, rtype, path in SHOP_NODES:
        if strip_root:  # manifests' `path` is relative to the model path
            path = path.split("/", 1)[1]
        nodes.append(Node(f"{rtype}.shop.{name}", name, rtype, package="shop", path=path))
    nodes.append(Node("model.other.pkg_model", "pkg_model", "model", package="other", path="x.sql"))
    nodes.append(Node("source.shop.raw.orders", "orders", "source", package="shop"))
    return Project(nodes, [], name="shop")


def ba(count: int, period: str, updates_on: str = "any") -> BuildAfter:
    return BuildAfter(count, period, updates_on)


EXPECTED = {
    # staging folder, no own config
    "model.shop.stg_orders": NodeFreshness(ba(1, "hour")),
    # SQL config() beats the properties YAML (4 hours) and the folder (1 hour)
    "model.shop.stg_customers": NodeFreshness(ba(30, "minute")),
    # `freshness: null` without + at folder level resets the inherited hourly config
    "model.shop.stg_old_orders": NodeFreshness(),
    "model.shop.fct_orders": NodeFreshness(ba(6, "hour", "all"), 21600.0, "all"),
    # properties YAML replaces freshness and state as a whole
    "model.shop.fct_customers": NodeFreshness(ba(2, "day"), 10800.0, None),
    # properties `freshness: null` resets; state still comes from the folder
    "model.shop.dim_date": NodeFreshness(None, 21600.0, "all"),
    # deepest folder wins for freshness; SQL state replaces the folder's state
    "model.shop.fct_revenue": NodeFreshness(ba(12, "hour"), 86400.0, None),
    # a model named in dbt_project.yml is more specific than its folder
    "model.shop.fct_payouts": NodeFreshness(ba(2, "day"), 21600.0, "all"),
    "seed.shop.country_codes": NodeFreshness(ba(7, "day")),
    # project level (directly under `models:`) applies to every package
    "model.other.pkg_model": NodeFreshness(ba(1, "day")),
}


@pytest.mark.parametrize("strip_root", [False, True])
def test_reader_resolves_every_level_with_dbt_precedence(strip_root: bool) -> None:
    cfg = read_project_freshness(SHOP, shop_project(strip_root=strip_root))
    got = {uid: cfg.for_node(uid) for uid in EXPECTED}
    assert got == EXPECTED
    assert "source.shop.raw.orders" not in cfg.per_node


def test_raw_code_on_the_node_is_used_before_the_file(tmp_path: Path) -> None:
    project = shop_project()
    raw = "{{ config(freshness={'build_after': {'count': 3, 'period': 'day'}}) }} select 1"
    project = project.replace_node("model.shop.stg_orders", raw_code=raw)
    cfg = read_project_freshness(SHOP, project)
    assert cfg.for_node("model.shop.stg_orders").build_after == ba(3, "day")


def test_custom_model_path_as_a_plain_string(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: shop\nmodel-paths: transform\n")
    (tmp_path / "transform").mkdir()
    (tmp_path / "transform" / "p.yml").write_text(
        "models:\n  - name: fct_orders\n    config:\n"
        "      freshness: {build_after: {count: 5, period: minute}}\n"
    )
    nodes = [Node("model.shop.fct_orders", "fct_orders", "model", package="shop",
                  path="transform/marts/fct_orders.sql")]  # fmt: skip
    cfg = read_project_freshness(tmp_path, Project(nodes, [], name="shop"))
    assert cfg.for_node("model.shop.fct_orders").window_s == 300


def test_no_freshness_anywhere_gives_no_config(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: shop\nmodels:\n  shop:\n    +tags: [a]\n")
    cfg = read_project_freshness(tmp_path, shop_project())
    assert cfg.per_node == {}
    assert cfg.for_node("model.shop.stg_orders").window_s == 0


def test_mapping_under_bare_freshness_key_is_a_folder_as_in_dbt(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nmodels:\n  shop:\n    freshness:\n"
        "      build_after: {count: 1, period: hour}\n"
    )
    with pytest.warns(SaosimWarning, match=r"\+freshness"):
        cfg = read_project_freshness(tmp_path, shop_project())
    assert cfg.per_node == {}


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("build_after: {count: 1, period: weeks}", "'weeks' is not a period"),
        ("build_after: {count: 0, period: hour}", "0 must be a positive whole number"),
        ("build_after: {count: -2, period: hour}", "-2 must be a positive whole number"),
        ("build_after: {count: 1, period: hour, updates_on: some}", "'some' is not allowed"),
        ("build_after: {count: 1, period: hour, every: 2}", "unknown key 'every'"),
        ("warn_after: {count: 1, period: hour}", "unknown key 'warn_after'"),
        ("build_after: {period: hour}", "needs both count and period"),
    ],
)
def test_invalid_project_values_name_file_field_and_value(
    tmp_path: Path, snippet: str, message: str
) -> None:
    (tmp_path / "dbt_project.yml").write_text(
        f"name: shop\nmodels:\n  shop:\n    marts:\n      +freshness: {{{snippet}}}\n"
    )
    with pytest.raises(ConfigError, match=message) as info:
        read_project_freshness(tmp_path, shop_project())
    assert info.value.path == str(tmp_path / "dbt_project.yml")
    assert info.value.field.startswith("models.shop.marts.freshness")
    assert info.value.node_id is None  # a folder setting: the field names the folder


def test_bad_value_in_a_folder_without_models_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nmodels:\n  shop:\n    future_folder:\n"
        "      +freshness: {build_after: {count: 1, period: weeks}}\n"
    )
    with pytest.raises(ConfigError, match="'weeks'") as info:
        read_project_freshness(tmp_path, shop_project())
    assert info.value.field == "models.shop.future_folder.freshness.build_after.period"


def test_invalid_properties_value_names_the_node(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "p.yml").write_text(
        "models:\n  - name: fct_orders\n    config:\n      state: {lag_tolerance: 5 parsecs}\n"
    )
    with pytest.raises(ConfigError, match="'5 parsecs' is not a duration") as info:
        read_project_freshness(tmp_path, shop_project())
    assert info.value.node_id == "model.shop.fct_orders"
    assert info.value.path.endswith("p.yml")
    assert info.value.field == "config.state.lag_tolerance"


def test_invalid_sql_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    bad = "{{ config(freshness={'build_after': {'count': 1, 'period': 'fortnight'}}) }} select 1"
    project = shop_project().replace_node("model.shop.fct_orders", raw_code=bad)
    with pytest.raises(ConfigError, match="'fortnight' is not a period") as info:
        read_project_freshness(tmp_path, project)
    assert info.value.node_id == "model.shop.fct_orders"


def test_sql_config_that_is_not_a_literal_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    bad = "{{ config(freshness=var('fresh')) }} select 1"
    project = shop_project().replace_node("model.shop.fct_orders", raw_code=bad)
    with pytest.raises(ConfigError, match="not a literal") as info:
        read_project_freshness(tmp_path, project)
    assert info.value.node_id == "model.shop.fct_orders"


def test_missing_project_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dbt_project\.yml"):
        read_project_freshness(tmp_path, shop_project())
    (tmp_path / "dbt_project.yml").write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        read_project_freshness(tmp_path, shop_project())
    assert str(err.value).startswith(f"{tmp_path / 'dbt_project.yml'}:2:1: ")
    assert "\n" not in str(err.value)


def test_config_kwargs_ignore_jinja_in_other_kwargs_and_comments() -> None:
    sql = (SHOP / "models" / "staging" / "stg_customers.sql").read_text()
    got = config_kwargs_from_sql(sql)
    assert got == {
        "freshness": {"build_after": {"count": 30, "period": "minute", "updates_on": "any"}}
    }
    assert config_kwargs_from_sql("select 1") == {}
    assert config_kwargs_from_sql("{{ config(state={'lag_tolerance': '2h', 'x': true}) }}") == {
        "state": {"lag_tolerance": "2h", "x": True}
    }


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600.0),
        (90.5, 90.5),
        ("30s", 30.0),
        ("45m", 2700.0),
        ("6h", 21600.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("3 hours", 10800.0),
        ("120", 120.0),
        ({"count": 3, "period": "hour"}, 10800.0),
        ({"count": 1, "period": "week"}, 604800.0),
    ],
)
def test_lag_tolerance_forms(value: object, seconds: float) -> None:
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize(
    "value", ["45x", "", True, -5, {"count": 1}, {"count": 1, "period": "hour", "x": 1}, "{{ a }}"]
)
def test_bad_lag_tolerance(value: object) -> None:
    with pytest.raises(ConfigError, match="lag_tolerance"):
        parse_duration_s(value)


def test_parse_freshness_and_state_values() -> None:
    assert parse_freshness({"build_after": None}) is None
    assert parse_freshness({"build_after": {"count": "2", "period": "day"}}) == ba(2, "day")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_freshness("daily", Where("x.yml", "model.p.m"))
    assert parse_state(None) == {}
    assert parse_state({"pre_clone": "never"}) == {}
    with pytest.raises(ConfigError, match="'sometimes' is not allowed"):
        parse_state({"require_fresh_data_from": "sometimes"})
    with pytest.raises(ConfigError, match="unknown key 'lag'"):
        parse_state({"lag": "1h"})
    with pytest.raises(ConfigError, match=r'field "x\.count"'):
        parse_build_after({"count": 1.5, "period": "day"}, Where(field="x"))


def test_types_are_stable_for_the_planner() -> None:
    cfg = FreshnessConfig({"a": NodeFreshness(ba(2, "hour", "all"), 60.0, "all", "t", 7200.0)})
    nf = cfg.for_node("a")
    assert (nf.window_s, nf.updates_on, nf.tier, nf.sla_s) == (7200, "all", "t", 7200.0)
    assert cfg.for_node("b") == NodeFreshness()


@pytest.mark.slow
def test_reader_agrees_with_dbt_parse(tmp_path: Path) -> None:
    """dbt-core resolves the fixture project the way saosim does, but for one documented case."""
    dbt = Path(sys.executable).parent / "dbt"
    if not dbt.exists() or shutil.which("git") is None:
        pytest.skip("dbt-core is not installed in this environment")
    project_dir = tmp_path / "shop"
    shutil.copytree(SHOP, project_dir)
    (project_dir / "models" / "staging" / "_sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    tables: [{name: orders}, {name: customers}]\n"
    )
    (tmp_path / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n"
        f"    dev: {{type: duckdb, path: '{tmp_path / 'db.duckdb'}'}}\n"
    )
    result = subprocess.run(
        [str(dbt), "parse", "--profiles-dir", str(tmp_path), "--no-partial-parse"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((project_dir / "target" / "manifest.json").read_text())
    ours = read_project_freshness(SHOP, shop_project())
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed"):
            continue
        theirs = node["config"].get("freshness")
        theirs_ba = None if not theirs else parse_freshness(theirs)
        mine = ours.for_node(uid).build_after
        if uid == "model.shop.dim_date":
            # dbt-core 1.10 ignores `freshness: null` in properties YAML; saosim resets (spec).
            assert (theirs_ba, mine) == (ba(6, "hour", "all"), None)
            continue
        assert theirs_ba == mine, uid
        state = node["config"].get("state")
        want = parse_state(state) if state else {}
        assert ours.for_node(uid).lag_tolerance_s == want.get("lag_tolerance_s"), uid
    # and the manifest, read by saosim's manifest reader, resolves to the same settings
    from saosim.inputs import read_manifest

    parsed = read_manifest(project_dir / "target" / "manifest.json")
    from_manifest = FreshnessConfig.from_project(parsed)
    for uid in parsed.buildable:
        if uid == "model.shop.dim_date":
            continue
        got, want = from_manifest.for_node(uid), ours.for_node(uid)
        assert (got.build_after, got.lag_tolerance_s) == (want.build_after, want.lag_tolerance_s)
