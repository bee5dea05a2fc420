"""dbt ``manifest.json`` (schema v4–v12: dbt-core 1.0 → 1.10+, dbt Fusion 2.0) → ``Project``.

What becomes a node: every enabled entry of ``nodes``, ``sources``, ``exposures``, ``metrics``,
``semantic_models``, ``saved_queries``, ``unit_tests`` and ``functions`` — the resources
``dbt ls`` lists — except run hooks (``operation`` nodes), which run at the start or end of an
invocation and sit on no DAG edge, and analyses, which a job only compiles. ``disabled``
entries are not nodes. Edges are ``depends_on.nodes`` (parent → child); edges to macros are
dropped; an edge to a node the manifest does not have is an
:class:`~saosim.errors.ArtifactError` naming the child.

Before anything is read, the file is checked against :data:`saosim.inputs._shapes.MANIFEST`
(the type of every field used), and against plausibility rules: an id that appears in two
sections, an id whose prefix is not its resource type, a node that depends on itself, a cycle,
and a ``build_after``/``state`` config dbt would not accept are errors naming the node and field.

>>> from pathlib import Path
>>> fixture = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts" / "manifest_v12.json"
>>> project = read_manifest(fixture)
>>> project.counts()["model"], project.dialect
(3, 'duckdb')
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from saosim.errors import ArtifactError, SaosimInputError, join_problems
from saosim.inputs._config import build_config, checksum_of, freshness_fields
from saosim.inputs._io import read_json, schema_version
from saosim.inputs._shape import check
from saosim.inputs._shapes import MANIFEST, MANIFEST_SECTIONS
from saosim.project.graph import Node, Project

__all__ = [
    "DIALECTS",
    "MANIFEST_VERSIONS",
    "manifest_metadata",
    "project_from_manifest",
    "read_manifest",
]

#: Manifest schema versions saosim reads (v4 = dbt-core 1.0; v12 = dbt-core 1.8+ and Fusion).
MANIFEST_VERSIONS = range(4, 13)

#: dbt ``adapter_type`` → sqlglot dialect.
DIALECTS = {
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "spark": "spark",
    "glue": "spark",
    "postgres": "postgres",
    "redshift": "redshift",
    "duckdb": "duckdb",
    "trino": "trino",
    "starburst": "trino",
    "athena": "athena",
    "presto": "presto",
    "clickhouse": "clickhouse",
    "sqlserver": "tsql",
    "fabric": "tsql",
    "synapse": "tsql",
    "mysql": "mysql",
    "oracle": "oracle",
    "teradata": "teradata",
    "materialize": "postgres",
    "risingwave": "postgres",
    "doris": "doris",
    "dremio": "dremio",
}

_SECTIONS = MANIFEST_SECTIONS
# Hooks run around an invocation and sit on no DAG edge; analyses are only compiled, never run
# by a job. `dbt ls` lists neither by default (dbt-core task/list.py DEFAULT_RESOURCE_VALUES).
_NOT_NODES = frozenset({"operation", "sql_operation", "rpc", "analysis"})
_DEFAULT_MATERIALIZATION = {"seed": "seed", "snapshot": "snapshot", "test": "test"}


def read_manifest(path: str | Path) -> Project:
    """Read a dbt ``manifest.json`` (or ``.json.gz``) into a :class:`Project`.

    Args:
        path: the manifest file.

    Returns:
        The project: nodes as dbt lists them, ``depends_on`` edges, name and sqlglot dialect.

    Raises:
        ArtifactError: unreadable file, a schema version other than v4–v12, a value of the wrong
            type, a node without a required field, an id in two sections, a self-dependency,
            a cycle, or an edge to a node the manifest does not have.
        ConfigError: a node's ``freshness.build_after`` or ``state`` config is not valid.

    >>> read_manifest("missing.json")
    Traceback (most recent call last):
    ...
    saosim.errors.ArtifactError: missing.json: does not exist or is not a file
    """
    return project_from_manifest(read_json(path, shape=MANIFEST), path=str(path))


def manifest_metadata(data: dict[str, Any], *, path: str) -> dict[str, Any]:
    """The checked ``metadata`` block of a manifest (raises on a wrong kind or version, or on a
    value of the wrong type anywhere in the file)."""
    kind, version = schema_version(data, path)
    if kind != "manifest":
        raise ArtifactError(
            f"is a dbt {kind} artifact, not a manifest",
            path=path,
            field="metadata.dbt_schema_version",
        )
    if version not in MANIFEST_VERSIONS:
        meta = data["metadata"]
        hint = (
            "re-run `dbt parse` with dbt-core ≥ 1.0 to write a newer manifest"
            if version < MANIFEST_VERSIONS.start
            else "this saosim does not know that version yet"
        )
        raise ArtifactError(
            f"manifest schema v{version} (dbt {meta.get('dbt_version', '?')}) is not supported; "
            f"saosim reads v{MANIFEST_VERSIONS.start}–v{MANIFEST_VERSIONS.stop - 1}: {hint}",
            path=path,
            field="metadata.dbt_schema_version",
        )
    check(data, MANIFEST, path=path, node_sections=frozenset(MANIFEST_SECTIONS))
    return data["metadata"]


def project_from_manifest(data: dict[str, Any], *, path: str = "manifest.json") -> Project:
    """Build a :class:`Project` from an already parsed manifest (see :func:`read_manifest`).

    >>> project_from_manifest({"metadata": {"dbt_schema_version":
    ...     "https://schemas.getdbt.com/dbt/manifest/v3.json"}}, path="old.json")
    Traceback (most recent call last):
    ...
    saosim.errors.ArtifactError: old.json, field "metadata.dbt_schema_version": manifest schema \
v3 (dbt ?) is not supported; saosim reads v4–v12: re-run `dbt parse` with dbt-core ≥ 1.0 to \
write a newer manifest
    """
    meta = manifest_metadata(data, path=path)
    raw: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    section_of: dict[str, str] = {}
    for section in _SECTIONS:
        entries = data.get(section) or {}
        for uid, entry in entries.items():
            if uid in section_of:
                raise ArtifactError(
                    f"the id is in both {section_of[uid]} and {section}; a dbt id names one "
                    "resource — the file was edited or merged by hand",
                    path=path,
                    field=section,
                    node_id=uid,
                )
            section_of[uid] = section
            if (entry.get("config") or {}).get("enabled") is False:
                continue
            if entry.get("resource_type") in _NOT_NODES:
                skipped.add(uid)
                continue
            raw[uid] = entry
    nodes = [_node(uid, entry, path) for uid, entry in raw.items()]
    # dbt 1.0 kept a test of a disabled model enabled; its edge goes with the disabled parent
    disabled = data.get("disabled")
    if isinstance(disabled, dict):
        skipped.update(uid for uid in disabled if isinstance(uid, str) and uid not in raw)
    edges = _edges(raw, skipped, path)
    name = meta.get("project_name") or _root_package(raw, meta.get("project_id"))
    adapter = (meta.get("adapter_type") or "").lower()
    try:
        return Project(
            nodes, edges, name=name, dialect=DIALECTS.get(adapter, adapter or None), origin=path
        )
    except SaosimInputError as exc:  # a cycle, or a duplicate id across sections
        raise ArtifactError(exc.message, path=path, field=exc.field, node_id=exc.node_id) from None


def _root_package(raw: dict[str, dict[str, Any]], project_id: str | None) -> str:
    # Manifests before v10 have no metadata.project_name, but dbt sets project_id to the md5 of
    # the name. Failing that, installed packages live under dbt_packages/ (dbt_modules/ before
    # 1.0), so the root is the package whose nodes do not.
    packages = {e.get("package_name") for e in raw.values() if e.get("package_name")}
    for package in sorted(packages):
        if project_id and hashlib.md5(package.encode()).hexdigest() == project_id:
            return package
    installed = ("/dbt_packages/", "/dbt_modules/", "\\dbt_packages\\", "\\dbt_modules\\")
    counts: Counter[str] = Counter()
    fallback: Counter[str] = Counter()
    for entry in raw.values():
        package = entry.get("package_name")
        if not package or entry.get("resource_type") != "model":
            continue
        fallback[package] += 1
        root_path = str(entry.get("root_path") or "")
        if root_path and not any(mark in root_path + "/" for mark in installed):
            counts[package] += 1
    best = counts or fallback
    return best.most_common(1)[0][0] if best else "project"


def _text(entry: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str):
            return value
    return None


def _node(uid: str, entry: dict[str, Any], path: str) -> Node:
    resource_type = entry.get("resource_type") or uid.split(".", 1)[0]
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ArtifactError("has no name", path=path, field="name", node_id=uid)
    config = entry.get("config") or {}
    tags = entry.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    is_source = resource_type == "source"
    severity = config.get("severity") if resource_type == "test" else None
    fields: dict[str, Any] = {}
    if resource_type in ("model", "seed", "snapshot"):
        fields = freshness_fields(entry, where=path, node_id=uid)
    return Node(
        unique_id=uid,
        name=name,
        resource_type=resource_type,
        materialization=config.get("materialized") or _DEFAULT_MATERIALIZATION.get(resource_type),
        package=entry.get("package_name") or "",
        path=entry.get("original_file_path") or entry.get("path") or "",
        tags=tuple(str(t) for t in tags or ()),
        checksum=checksum_of(entry),
        language=entry.get("language") or "sql",
        raw_code=_text(entry, "raw_code", "raw_sql"),
        compiled_code=_text(entry, "compiled_code", "compiled_sql"),
        build_config=build_config(config)
        if resource_type in ("model", "seed", "snapshot")
        else None,
        database=entry.get("database"),
        schema=entry.get("schema"),
        alias=entry.get("identifier") if is_source else entry.get("alias"),
        loaded_at_field=(entry.get("loaded_at_field") or config.get("loaded_at_field"))
        if is_source
        else None,
        severity=severity.lower() if isinstance(severity, str) else None,
        **fields,
    )


def _edges(raw: dict[str, dict[str, Any]], skipped: set[str], path: str) -> list[tuple[str, str]]:
    edges = []
    unknown: list[tuple[str, str]] = []
    for child, entry in raw.items():
        depends_on = entry.get("depends_on") or {}
        parents = (depends_on.get("nodes") or []) if isinstance(depends_on, dict) else []
        for parent in parents:
            if parent.startswith("macro.") or parent in skipped:
                continue
            if parent in raw:
                edges.append((parent, child))
            else:
                unknown.append((child, parent))
    if unknown:
        # One error for the whole file: the first few dangling edges and how many more.
        child, parent = unknown[0]
        others = [f"{c} → {p}" for c, p in unknown[1:]]
        more = f" (also: {join_problems(others, limit=3)})" if others else ""
        raise ArtifactError(
            f"depends on {parent!r}, which is not an enabled node of this manifest{more}; "
            "re-run `dbt parse` so the manifest is complete",
            path=path,
            field="depends_on.nodes",
            node_id=child,
        )
    return edges
