"""Fingerprints for the live planner, cached in the state store by code key.

A node's fingerprint (:mod:`saosim.project.fingerprint`) parses its SQL with sqlglot, which takes
about
a millisecond per model. A model whose file did not change has the same dbt ``checksum`` (the
SHA-256 of the file), so the fingerprint made for that checksum, dialect and build config is
looked up instead of parsed again: only edited files cost a parse.

Live fingerprints are always made from **raw** code: ``dbt parse`` writes no compiled SQL, while
a manifest from ``dbt compile``/``build`` has it, and mixing the two would make every model look
edited between runs.

>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> p = p.replace_node("model.demo.m", raw_code="select 1 -- one", checksum="c1")
>>> p2, fresh = live_fingerprints(p, None)
>>> p2.nodes["model.demo.m"].fingerprint == live_fingerprints(
...     p.replace_node("model.demo.m", raw_code="SELECT 1", checksum="c2"), None)[0].nodes[
...     "model.demo.m"].fingerprint
True
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from saosim.project.fingerprint import FINGERPRINTED, fingerprint_code, fingerprint_node
from saosim.project.graph import Node, Project

if TYPE_CHECKING:
    from saosim.live.store import StateStore

__all__ = ["code_key", "live_fingerprints"]


@cache
def _canon_version() -> str:
    # The fingerprint of a fixed query changes exactly when fingerprint.py changes its canonical
    # form, so keys made by an older saosim never match.
    return fingerprint_code("select a from t where b = 1 -- canary").value


def code_key(node: Node, dialect: str | None) -> str:
    """The cache key of a node's fingerprint: what the fingerprint is a function of.

    The dbt checksum stands for the file's text; a node without one (generic data tests) is
    keyed by its raw code.

    >>> from saosim.project.graph import Node
    >>> a = Node("model.p.m", "m", "model", "table", checksum="c1", raw_code="select 1")
    >>> code_key(a, "duckdb") == code_key(replace(a, raw_code="select 2"), "duckdb")
    True
    """
    text = node.checksum or hashlib.sha256((node.raw_code or "").encode()).hexdigest()
    parts = (
        _canon_version(),
        dialect or "",
        node.resource_type,
        node.language,
        node.materialization or "",
        node.build_config or "",
        text,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def live_fingerprints(
    project: Project, store: StateStore | None, *, dialect: str | None = None
) -> tuple[Project, int]:
    """Fill ``Node.fingerprint`` on every model, seed, snapshot and data test from raw code.

    Args:
        project: the parsed project.
        store: the state store whose cache is read and extended; ``None`` caches nothing.
        dialect: sqlglot dialect; default the project's.

    Returns:
        The fingerprinted project and how many nodes were parsed (cache misses).
    """
    dialect = dialect or project.dialect
    nodes = [n for n in project.nodes.values() if n.resource_type in FINGERPRINTED]
    keys = {n.unique_id: code_key(n, dialect) for n in nodes}
    cached = store.cached_fingerprints(keys.values()) if store is not None else {}
    made: dict[str, str] = {}
    updated = []
    for node in nodes:
        key = keys[node.unique_id]
        value = cached.get(key) or made.get(key)
        if value is None:
            value = made[key] = fingerprint_node(replace(node, compiled_code=None), dialect).value
        updated.append(replace(node, fingerprint=value))
    if store is not None and made:
        store.cache_fingerprints(made)
    return project.with_nodes(updated), len(made)
