"""manifest.json → Project: what becomes a node and an edge, node fields, versions, bad input."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import orjson
import pytest

from saosim.errors import ArtifactError
from saosim.inputs._config import build_config, lag_tolerance_seconds
from saosim.inputs.manifest import project_from_manifest, read_manifest
from saosim.project.freshness import FreshnessConfig

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
BROKEN = FIXTURES / "broken"


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads((FIXTURES / "manifest_v12.json").read_text())


@pytest.fixture(scope="module")
def project():
    return read_manifest(FIXTURES / "manifest_v12.json")


def test_nodes_are_what_dbt_lists_without_hooks_or_disabled(project, raw) -> None:
    assert project.counts() == {
        "exposure": 1,
        "model": 3,
        "seed": 1,
        "snapshot": 1,
        "source": 2,
        "test": 2,
    }
    assert "operation.shop.shop-on-run-end-0" in raw["nodes"]
    assert "operation.shop.shop-on-run-end-0" not in project.nodes
    assert "model.shop.old_orders" not in project.nodes  # only in `disabled`
    assert (project.name, project.dialect, project.origin) == (
        "shop",
        "duckdb",
        str(FIXTURES / "manifest_v12.json"),
    )


def test_edges_follow_depends_on_and_drop_macros(project) -> None:
    assert project.parents("model.shop.fct_orders") == (
        "model.shop.stg_customers",
        "model.shop.stg_orders",
    )
    assert project.parents("model.shop.stg_orders") == ("source.shop.raw.orders",)
    assert not any(p.startswith("macro.") for p, _ in project.edges)
    assert project.tests_of("model.shop.stg_orders") == (
        "test.shop.not_null_stg_orders_order_id.1a2b3c",
    )
    # A test on two nodes is attached to both.
    assert "test.shop.relationships_fct_orders.4d5e6f" in project.tests_of(
        "model.shop.stg_customers"
    )
    assert len(project.edges) == 10


def test_model_fields(project) -> None:
    fct = project.nodes["model.shop.fct_orders"]
    assert fct.materialization == "incremental"
    assert fct.checksum == "ccc333"
    assert fct.tags == ("marts", "hourly")
    assert fct.path == "models/marts/fct_orders.sql"
    assert fct.package == "shop"
    assert (fct.database, fct.schema, fct.alias) == ("shop", "marts", "fct_orders")
    assert fct.raw_code.startswith("select o.*")
    assert fct.compiled_code.startswith('select o.*, c.name from "shop"')
    assert json.loads(fct.build_config) == {
        "contract.enforced": True,
        "incremental_strategy": "merge",
        "materialized": "incremental",
        "on_schema_change": "append_new_columns",
        "unique_key": "order_id",
    }
    assert (fct.build_after_count, fct.build_after_period, fct.updates_on) == (6, "hour", "all")
    assert fct.lag_tolerance_s == 45 * 60
    assert fct.require_fresh_data_from == "all"
    assert fct.freshness_declared


def test_freshness_declared_reads_the_unrendered_config(project) -> None:
    # dbt ≥ 1.10 writes `freshness: null` into every resolved config; only an explicit
    # `freshness: null` in the user's config (a reset) counts as declared.
    assert project.nodes["model.shop.stg_customers"].freshness_declared
    assert not project.nodes["model.shop.stg_orders"].freshness_declared
    assert project.nodes["model.shop.stg_orders"].build_after_count is None


def test_freshness_config_reads_what_the_manifest_resolved(project) -> None:
    cfg = FreshnessConfig.from_project(project)
    assert cfg.for_node("model.shop.fct_orders").window_s == 6 * 3600
    assert cfg.for_node("model.shop.stg_orders").window_s == 0


def test_sources_seeds_snapshots_tests(project) -> None:
    orders = project.nodes["source.shop.raw.orders"]
    assert (orders.alias, orders.loaded_at_field, orders.materialization) == (
        "orders_v2",
        "_loaded_at",
        None,
    )
    # loaded_at_field set in the source's config block only
    assert project.nodes["source.shop.raw.customers"].loaded_at_field == "updated_at"
    assert project.nodes["seed.shop.country_codes"].checksum == "c0ffee01"
    snap = project.nodes["snapshot.shop.customers_snapshot"]
    assert json.loads(snap.build_config)["strategy"] == "timestamp"
    assert project.nodes["test.shop.not_null_stg_orders_order_id.1a2b3c"].severity == "error"
    assert project.nodes["test.shop.relationships_fct_orders.4d5e6f"].severity == "warn"
    assert project.nodes["test.shop.relationships_fct_orders.4d5e6f"].checksum is None


def test_pre_1_5_code_keys_and_missing_project_name(raw) -> None:
    old = copy.deepcopy(raw)
    old["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v7.json"
    del old["metadata"]["project_name"]
    old["metadata"]["project_id"] = "no-match"
    model = old["nodes"]["model.shop.stg_orders"]
    model["raw_sql"] = model.pop("raw_code")
    model["compiled_sql"] = model.pop("compiled_code")
    old["metadata"]["adapter_type"] = "sqlserver"
    project = project_from_manifest(old, path="v7.json")
    node = project.nodes["model.shop.stg_orders"]
    assert node.raw_code.startswith("select * from {{ source")
    assert node.compiled_code.startswith('select * from "shop"')
    assert project.name == "shop"
    assert project.dialect == "tsql"


def test_project_name_from_project_id_md5(raw) -> None:
    # Before v10 there is no project_name; dbt's project_id is the md5 of the name.
    old = copy.deepcopy(raw)
    del old["metadata"]["project_name"]
    old["nodes"]["model.other.x"] = {
        **copy.deepcopy(old["nodes"]["model.shop.stg_orders"]),
        "unique_id": "model.other.x",
        "name": "x",
        "package_name": "other",
    }
    old["metadata"]["project_id"] = hashlib.md5(b"other").hexdigest()
    assert project_from_manifest(old, path="m.json").name == "other"


@pytest.mark.parametrize(
    ("version", "hint"), [(3, r"dbt-core ≥ 1\.0"), (1, r"dbt-core ≥ 1\.0"), (13, "does not know")]
)
def test_unsupported_versions_are_rejected_naming_the_field(raw, version, hint) -> None:
    data = copy.deepcopy(raw)
    data["metadata"]["dbt_schema_version"] = (
        f"https://schemas.getdbt.com/dbt/manifest/v{version}.json"
    )
    with pytest.raises(ArtifactError, match=rf"manifest schema v{version} .*{hint}") as info:
        project_from_manifest(data, path="m.json")
    assert info.value.field == "metadata.dbt_schema_version"


def test_v6_fixture_file_reads_like_v12() -> None:
    # v4–v6 (dbt 1.0–1.2) are read too: the fixture is the v12 one under a v6 header
    assert read_manifest(BROKEN / "manifest_v6.json").counts()["model"] >= 1


def test_another_artifact_kind_is_not_a_manifest() -> None:
    path = FIXTURES / "runs_tree" / "hourly" / "2026-01-05T07" / "target" / "run_results.json"
    with pytest.raises(ArtifactError, match="is a dbt run-results artifact, not a manifest"):
        read_manifest(path)


def test_edge_to_unknown_node_names_the_child_and_the_parent() -> None:
    with pytest.raises(ArtifactError, match=r"model\.shop\.stg_refunds") as info:
        read_manifest(BROKEN / "manifest_unknown_parent.json")
    assert info.value.node_id == "model.shop.fct_orders"
    assert info.value.field == "depends_on.nodes"


def test_node_without_name_and_cycles_are_artifact_errors(raw) -> None:
    nameless = copy.deepcopy(raw)
    del nameless["nodes"]["model.shop.stg_orders"]["name"]
    with pytest.raises(ArtifactError, match="has no name") as info:
        project_from_manifest(nameless, path="m.json")
    assert info.value.node_id == "model.shop.stg_orders"
    cyclic = copy.deepcopy(raw)
    cyclic["nodes"]["model.shop.stg_orders"]["depends_on"]["nodes"].append("model.shop.fct_orders")
    with pytest.raises(ArtifactError, match="cycle"):
        project_from_manifest(cyclic, path="m.json")


def test_bad_freshness_values_name_the_node(raw) -> None:
    bad = copy.deepcopy(raw)
    bad["nodes"]["model.shop.fct_orders"]["config"]["state"]["lag_tolerance"] = "soon"
    with pytest.raises(ArtifactError, match="'soon' is not a duration") as info:
        project_from_manifest(bad, path="m.json")
    assert (info.value.node_id, info.value.field) == (
        "model.shop.fct_orders",
        "config.state.lag_tolerance",
    )
    bad["nodes"]["model.shop.fct_orders"]["config"]["state"] = {"require_fresh_data_from": "most"}
    with pytest.raises(ArtifactError, match="'most' is not any or all"):
        project_from_manifest(bad, path="m.json")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        ("30s", 30.0),
        ("45m", 2700.0),
        ("6h", 21600.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("3 hours", 10800.0),
        ("120", 120.0),
        ({"count": 4, "period": "hour"}, 14400.0),
        (None, None),
    ],
)
def test_lag_tolerance_forms(value, seconds) -> None:
    assert lag_tolerance_seconds(value, where="m.json", node_id="model.p.m") == seconds


@pytest.mark.parametrize("value", [-5, True, "6 fortnights", {"count": 1, "period": "year"}, [1]])
def test_lag_tolerance_rejects_nonsense(value) -> None:
    with pytest.raises(ArtifactError):
        lag_tolerance_seconds(value, where="m.json", node_id="model.p.m")


def test_build_config_ignores_configs_that_do_not_change_the_build() -> None:
    assert build_config({"tags": ["a"], "meta": {"x": 1}, "grants": {}}) is None
    assert build_config({"materialized": "table", "contract": {"enforced": False}}) == (
        '{"materialized":"table"}'
    )


def test_gzipped_manifest_reads_like_the_plain_one(tmp_path: Path, project) -> None:
    import gzip

    packed = tmp_path / "manifest.json.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "manifest_v12.json").read_bytes()))
    again = read_manifest(packed)
    assert again.counts() == project.counts()
    assert again.edges == project.edges
    assert orjson.dumps(sorted(again.nodes)) == orjson.dumps(sorted(project.nodes))


def test_many_dangling_edges_are_reported_at_once(raw) -> None:
    data = copy.deepcopy(raw)
    for i, uid in enumerate(
        ("model.shop.stg_orders", "model.shop.stg_customers", "model.shop.fct_orders")
    ):
        data["nodes"][uid]["depends_on"]["nodes"].append(f"model.shop.gone_{i}")
    with pytest.raises(ArtifactError, match=r"gone_0.*also: .*gone_1.*gone_2") as info:
        project_from_manifest(data, path="m.json")
    assert info.value.node_id == "model.shop.stg_orders"
