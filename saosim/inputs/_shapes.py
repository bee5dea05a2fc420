"""What saosim reads of each dbt artifact, as shapes (:mod:`saosim.inputs._shape`).

One place lists every field a reader uses and the type it must have; the readers check a file
against its shape before they touch it, so a flipped type is a clean error naming the file and
the JSON path, never a traceback or a silently wrong value. The same shapes say what is
decoded of a file at all (:mod:`saosim.inputs._prune`): a field a reader uses must be named
here, or it is not read (``tests/unit/test_inputs_pruned.py`` compares against whole files).

>>> from saosim.inputs._shape import check
>>> check({"metadata": {"dbt_schema_version": 12}}, MANIFEST, path="m.json")
Traceback (most recent call last):
...
saosim.errors.ArtifactError: m.json, field "metadata.dbt_schema_version": 12 is not a string
"""

from __future__ import annotations

from typing import Any

from saosim.inputs._config import BUILD_KEYS
from saosim.inputs._shape import (
    INT64_MAX,
    AnyJson,
    At,
    Bool,
    Int,
    KeysOf,
    ListOf,
    MapOf,
    Num,
    Obj,
    OneOf,
    Problems,
    Str,
)

__all__ = [
    "ARTIFACT_KIND",
    "MANIFEST",
    "MANIFEST_SECTIONS",
    "RESOURCE_TYPES",
    "RUN_RESULTS",
    "SOURCES",
]

#: Every ``resource_type`` dbt (v4–v12 manifests, Fusion) writes.
RESOURCE_TYPES = (
    "model",
    "analysis",
    "test",
    "snapshot",
    "operation",
    "seed",
    "rpc",
    "sql_operation",
    "sql operation",
    "doc",
    "docs",
    "source",
    "macro",
    "exposure",
    "metric",
    "group",
    "saved_query",
    "semantic_model",
    "unit_test",
    "fixture",
    "function",
)

MANIFEST_SECTIONS = (
    "nodes",
    "sources",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
    "functions",
)

_TEXT = Str()
_TAGS = OneOf(ListOf(Str()), Str(), what="a list of strings")
#: ten years of seconds: no single dbt step runs longer
_MAX_SECONDS = 10 * 366 * 86400.0


def _node_rule(entry: dict[str, Any], at: At, out: Problems) -> None:
    # dbt ids start with the resource type ("model.shop.orders"); an entry whose id says
    # otherwise was edited by hand or pasted into the wrong section, and would silently take
    # another node's place.
    uid = at[-1] if at else None
    kind = entry.get("resource_type")
    if isinstance(uid, str) and isinstance(kind, str) and uid.split(".", 1)[0] != kind:
        out.add(
            (*at, "resource_type"),
            f"{kind!r} does not match the id {uid!r} (dbt ids start with their resource type)",
        )
    depends = entry.get("depends_on")
    parents = depends.get("nodes") if isinstance(depends, dict) else None
    if isinstance(parents, list) and uid in parents:
        out.add((*at, "depends_on", "nodes"), "the node depends on itself (a cycle of one)")


NODE = Obj(
    {
        "resource_type": Str(one_of=RESOURCE_TYPES),
        "name": _TEXT,
        "unique_id": _TEXT,
        "package_name": _TEXT,
        "original_file_path": _TEXT,
        "path": _TEXT,
        "root_path": _TEXT,
        "language": _TEXT,
        "raw_code": _TEXT,
        "raw_sql": _TEXT,
        "compiled_code": _TEXT,
        "compiled_sql": _TEXT,
        "database": _TEXT,
        "schema": _TEXT,
        "alias": _TEXT,
        "identifier": _TEXT,
        "loaded_at_field": _TEXT,
        "tags": _TAGS,
        # {name, checksum} everywhere but unit tests, whose checksum is the hash itself
        "checksum": OneOf(Obj({"name": _TEXT, "checksum": _TEXT}), Str(), what="a checksum object"),
        "depends_on": Obj({"nodes": ListOf(Str())}),
        # only whether freshness is set (saosim.inputs._config.freshness_fields)
        "unrendered_config": Obj({"freshness": AnyJson()}),
        "config": Obj(
            {
                "enabled": Bool(),
                "materialized": _TEXT,
                "severity": _TEXT,
                "loaded_at_field": _TEXT,
                "contract": Obj({"enforced": Bool()}),
                # build_after and state are read by saosim.inputs._config, which names the
                # node and the field of a bad value
                "freshness": AnyJson(),
                "state": AnyJson(),
                # the configs that change what is built (saosim.inputs._config.build_config)
                **{key: AnyJson() for key in BUILD_KEYS if key != "materialized"},
            }
        ),
    },
    rule=_node_rule,
)

_METADATA = {
    "dbt_schema_version": _TEXT,
    "dbt_version": _TEXT,
    "generated_at": _TEXT,
    "invocation_id": _TEXT,
    "invocation_started_at": _TEXT,
    "env": Obj({"DBT_CLOUD_JOB_ID": OneOf(Str(), Int(), what="a job id (text or number)")}),
}

MANIFEST = Obj(
    {
        "metadata": Obj(
            {**_METADATA, "project_name": _TEXT, "project_id": _TEXT, "adapter_type": _TEXT},
            required=("dbt_schema_version",),
        ),
        **{section: MapOf(NODE) for section in MANIFEST_SECTIONS},
        # dbt 1.0 kept tests of disabled models enabled: their ids say which edges to drop
        "disabled": KeysOf(),
    },
    required=("metadata",),
)


#: What tells one artifact from another: ``metadata.dbt_schema_version`` (the rest is skipped).
ARTIFACT_KIND = Obj({"metadata": Obj({"dbt_schema_version": _TEXT})})

_ID = OneOf(Str(), Int(), what="an id (text or number)")

RESULT = Obj(
    {
        "unique_id": _TEXT,
        "status": _TEXT,
        "execution_time": Num(lo=0, hi=_MAX_SECONDS),
        "timing": ListOf(Obj({"name": _TEXT, "started_at": _TEXT, "completed_at": _TEXT})),
        "adapter_response": Obj(
            {
                # adapters write -1 for "unknown"
                "rows_affected": Int(lo=-1, hi=INT64_MAX),
                "bytes_processed": Int(lo=-1, hi=INT64_MAX),
                "query_id": _ID,
                "job_id": _ID,
            }
        ),
    },
    required=("unique_id",),
)

_SELECTION = OneOf(ListOf(Str()), Str(), what="a selector (text or a list of text)")

RUN_RESULTS = Obj(
    {
        "metadata": Obj(
            _METADATA, required=("dbt_schema_version", "invocation_id", "generated_at")
        ),
        "results": ListOf(RESULT),
        "elapsed_time": Num(lo=0, hi=_MAX_SECONDS),
        "args": Obj(
            {
                "which": _TEXT,
                "command": _TEXT,
                "rpc_method": _TEXT,
                "select": _SELECTION,
                "models": _SELECTION,
                "full_refresh": Bool(),
                # any value: a number of threads is read, anything else means "not given"
                "threads": AnyJson(),
            }
        ),
    },
    required=("metadata", "results"),
)

SOURCES = Obj(
    {
        "metadata": Obj(_METADATA, required=("dbt_schema_version",)),
        "results": ListOf(
            Obj(
                {
                    "unique_id": _TEXT,
                    "status": _TEXT,
                    "max_loaded_at": _TEXT,
                    "snapshotted_at": _TEXT,
                },
                required=("unique_id",),
            )
        ),
    },
    required=("metadata", "results"),
)
