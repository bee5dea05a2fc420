"""SQL for synthetic nodes: raw (Jinja) and compiled code at a version, and its identity.

A node's code has a *logic* version (what the query computes) and a *cosmetic* version (comments
only), so a synthetic history can hold both kinds of edit.

>>> node = Node("model.p.m", "m", "model", materialization="view")
>>> with_version(node, SqlSpec("order", ("raw.orders",)), 1, 0).compiled_code.splitlines()[0]
'with p0 as ('
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from saosim.project.graph import Node

__all__ = [
    "DATABASE",
    "SqlSpec",
    "build_config",
    "data_test_sql",
    "fingerprint_sql",
    "render_sql",
    "with_version",
]

DATABASE = "analytics"


@dataclass(frozen=True, slots=True)
class SqlSpec:
    """What :func:`render_sql` needs to write a node's SQL.

    ``parents`` are the parents' relations as compiled SQL names them; ``refs`` the Jinja that
    names them in raw code (``{{ ref('stg_orders') }}``, ``{{ source('stripe', 'orders') }}``).
    """

    entity: str
    parents: tuple[str, ...]
    refs: tuple[str, ...] = ()


def build_config(materialization: str, entity: str) -> str:
    """The configs that change what is built, as JSON with sorted keys (the readers' form)."""
    config: dict[str, str] = {"materialized": materialization}
    if materialization == "incremental":
        config |= {"incremental_strategy": "merge", "unique_key": f"{entity}_id"}
    elif materialization == "snapshot":
        config |= {"strategy": "timestamp", "unique_key": "id", "updated_at": "updated_at"}
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def data_test_sql(kind: str, relation: str, column: str) -> str:
    if kind == "unique":
        return (
            f"select {column} as unique_field, count(*) as n_records\nfrom {relation}\n"
            f"where {column} is not null\ngroup by {column}\nhaving count(*) > 1\n"
        )
    if kind == "accepted_values":
        return (
            f"select {column} as value_field, count(*) as n_records\nfrom {relation}\n"
            f"group by {column}\nhaving {column} not in ('active', 'inactive', 'pending')\n"
        )
    return f"select {column}\nfrom {relation}\nwhere {column} is null\n"


def render_sql(
    node: Node, spec: SqlSpec, logic_version: int, cosmetic_version: int
) -> tuple[str, str]:
    """Raw (Jinja) and compiled SQL of a synthetic node at a version of its code.

    A *logic* version changes what the query computes (a filter bound); a *cosmetic* version only
    adds a comment, so a fingerprint that ignores comments stays equal.

    >>> node = Node("model.p.fct_orders", "fct_orders", "model", materialization="table")
    >>> spec = SqlSpec("order", ("analytics.staging.stg_orders",), ("{{ ref('stg_orders') }}",))
    >>> raw, compiled = render_sql(node, spec, 1, 0)
    >>> "{{ ref('stg_orders') }}" in raw, "analytics.staging.stg_orders" in compiled
    (True, True)
    >>> fingerprint_sql(render_sql(node, spec, 1, 2)[1]) == fingerprint_sql(compiled)
    True
    """
    e = spec.entity
    comment = "".join(f"-- reviewed (change {k})\n" for k in range(1, cosmetic_version + 1))
    if node.resource_type == "seed":
        return f"{e}_id,name,updated_at  -- v{logic_version}\n", ""
    if not spec.parents:
        body = (
            "select dateadd(day, seq4(), '2015-01-01'::date) as date_day\n"
            f"from table(generator(rowcount => {3650 + logic_version}))\n"
        )
        return comment + body, comment + body
    aliases = [f"p{i}" for i in range(len(spec.parents))]
    refs = spec.refs or spec.parents
    cols = [f"p0.{e}_id", "p0.updated_at"] + [f"{a}.amount as amount_{a}" for a in aliases[1:]]
    joins = "".join(f"\nleft join {a} on {a}.{e}_id = p0.{e}_id" for a in aliases[1:])
    where = f"\nwhere p0.updated_at >= '2019-01-01'::date + {logic_version}"
    raw_where = compiled_where = where
    if node.materialization == "incremental":
        this = f"{DATABASE}.{node.schema}.{node.alias}"
        raw_where += (
            "\n{% if is_incremental() %}\n"
            "and p0.updated_at > (select max(updated_at) from {{ this }})\n{% endif %}"
        )
        compiled_where += f"\nand p0.updated_at > (select max(updated_at) from {this})"
    select = f"\nselect {', '.join(cols)}\nfrom p0{joins}"

    def ctes(names: Sequence[str]) -> str:
        parts = (f"{a} as (\n    select * from {r}\n)" for a, r in zip(aliases, names, strict=True))
        return "with " + ",\n".join(parts)

    config = f"{{{{ config(materialized='{node.materialization}') }}}}\n"
    raw = f"{config}{comment}{ctes(refs)}{select}{raw_where}\n"
    return raw, f"{comment}{ctes(spec.parents)}{select}{compiled_where}\n"


def fingerprint_sql(compiled_code: str, build_config: str | None = None) -> str:
    """A code identity that ignores ``--`` comments, whitespace and keyword case.

    saosim's sqlglot fingerprint is the reference; this light one labels synthetic versions.

    >>> fingerprint_sql("select 1 -- x") == fingerprint_sql("SELECT  1")
    True
    """
    text = re.sub(r"--[^\n]*", " ", compiled_code)
    text = " ".join(text.lower().split())
    return hashlib.sha256(f"{text}|{build_config or ''}".encode()).hexdigest()[:32]


def with_version(node: Node, spec: SqlSpec, logic_version: int, cosmetic_version: int) -> Node:
    """The node with code, checksum (sha256 of the raw code) and fingerprint of one version.

    >>> node = Node("model.p.m", "m", "model", materialization="view")
    >>> v1 = with_version(node, SqlSpec("order", ("raw.orders",)), 1, 0)
    >>> v2 = with_version(node, SqlSpec("order", ("raw.orders",)), 1, 1)
    >>> (v1.checksum == v2.checksum, v1.fingerprint == v2.fingerprint)
    (False, True)
    """
    raw, compiled = render_sql(node, spec, logic_version, cosmetic_version)
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    fp = checksum if node.resource_type == "seed" else fingerprint_sql(compiled, node.build_config)
    return replace(
        node,
        raw_code=None if node.resource_type == "seed" else raw,
        compiled_code=compiled or None,
        checksum=checksum,
        fingerprint=fp,
    )
