"""The parts of a manifest node's ``config`` that saosim reads: what is built, and how fresh.

Kept apart from the manifest walk so the rules (which configs change what is built, how a
``lag_tolerance`` string becomes seconds) can be read and tested on their own.

>>> lag_tolerance_seconds("6h", where="m.json", node_id="model.p.fct")
21600.0
>>> lag_tolerance_seconds({"count": 2, "period": "day"}, where="m.json", node_id="model.p.fct")
172800.0
"""

from __future__ import annotations

from typing import Any

import orjson

from saosim.errors import ArtifactError, ConfigError
from saosim.project.freshness import Where, parse_build_after, parse_duration_s

__all__ = ["BUILD_KEYS", "build_config", "checksum_of", "freshness_fields", "lag_tolerance_seconds"]

#: Configs that change what a build writes; tags, docs, meta and grants do not (SAO-SEMANTICS,
#: "fingerprint"). Snapshot keys only matter for snapshots but are harmless elsewhere (null).
BUILD_KEYS = (
    "materialized",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "strategy",
    "updated_at",
    "check_cols",
)


def build_config(config: dict[str, Any]) -> str | None:
    """JSON (sorted keys, nulls dropped) of the configs that change what is built.

    >>> build_config({"materialized": "incremental", "unique_key": "id", "tags": ["x"],
    ...               "contract": {"enforced": True}})
    '{"contract.enforced":true,"materialized":"incremental","unique_key":"id"}'
    """
    picked: dict[str, Any] = {k: config[k] for k in BUILD_KEYS if config.get(k) is not None}
    contract = config.get("contract")
    if isinstance(contract, dict) and contract.get("enforced"):
        picked["contract.enforced"] = True
    if not picked:
        return None
    return orjson.dumps(picked, option=orjson.OPT_SORT_KEYS).decode()


def checksum_of(entry: dict[str, Any]) -> str | None:
    """A node's checksum: ``{"name", "checksum"}`` in most entries, a bare hash in unit tests.

    >>> checksum_of({"checksum": {"name": "sha256", "checksum": "ab"}}), checksum_of({})
    ('ab', None)
    """
    checksum = entry.get("checksum")
    if isinstance(checksum, dict):
        checksum = checksum.get("checksum")
    return checksum if isinstance(checksum, str) and checksum else None


def lag_tolerance_seconds(value: Any, *, where: str, node_id: str) -> float | None:
    """dbt State's ``lag_tolerance`` in seconds (``None`` when unset).

    Accepts whole seconds, a duration string (``30s``, ``45m``, ``6h``, ``1d``, ``2w``, or the
    long unit names) or ``{count, period}``; the forms
    :func:`saosim.project.freshness.parse_duration_s`
    reads, reported here as an artifact error.
    """
    if value is None:
        return None
    try:
        return parse_duration_s(value, Where(where, node_id, "config.state.lag_tolerance"))
    except ConfigError as exc:
        raise ArtifactError(exc.message, path=where, field=exc.field, node_id=node_id) from None


def freshness_fields(node: dict[str, Any], *, where: str, node_id: str) -> dict[str, Any]:
    """``build_after``, dbt State ``state`` and whether ``freshness`` was declared, as Node fields.

    ``freshness_declared`` reads ``unrendered_config``: dbt ≥ 1.10 writes ``freshness: null`` into
    every model's resolved config, so only the unrendered one tells a user's explicit
    ``freshness: null`` (a reset) from no setting at all.
    """
    config = node.get("config") or {}
    out: dict[str, Any] = {}
    freshness = config.get("freshness")
    unrendered = node.get("unrendered_config") or {}
    out["freshness_declared"] = "freshness" in unrendered or bool(freshness)
    if freshness is not None and not isinstance(freshness, dict):
        raise ConfigError(
            f"{freshness!r} must be an object with build_after, or null",
            path=where,
            field="config.freshness",
            node_id=node_id,
        )
    build_after = freshness.get("build_after") if isinstance(freshness, dict) else None
    # dbt ≥ 1.10 writes {"count": null, "period": null, "updates_on": "any"} for "not set"
    unset = isinstance(build_after, dict) and build_after.get("count") is None
    if build_after is not None and not (unset and build_after.get("period") is None):
        parsed = parse_build_after(
            build_after, Where(where, node_id, "config.freshness.build_after")
        )
        out["build_after_count"] = parsed.count
        out["build_after_period"] = parsed.period
        out["updates_on"] = parsed.updates_on
    state = config.get("state")
    if state is not None and not isinstance(state, dict):
        raise ConfigError(
            f"{state!r} must be an object with lag_tolerance / require_fresh_data_from, or null",
            path=where,
            field="config.state",
            node_id=node_id,
        )
    if isinstance(state, dict):
        out["lag_tolerance_s"] = lag_tolerance_seconds(
            state.get("lag_tolerance"), where=where, node_id=node_id
        )
        fresh_from = state.get("require_fresh_data_from")
        if fresh_from is not None:
            if not isinstance(fresh_from, str) or fresh_from not in ("any", "all"):
                raise ArtifactError(
                    f"{fresh_from!r} is not any or all",
                    path=where,
                    field="config.state.require_fresh_data_from",
                    node_id=node_id,
                )
            out["require_fresh_data_from"] = fresh_from
    return out
