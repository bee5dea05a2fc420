"""Reading the live warehouse: source data versions (through dbt's own connection, any
adapter) and, on DuckDB, per-relation data hashes for shadow runs.

DuckDB lets one process write a database file at a time, and ``dbt build`` in another process
holds it for the whole build, so a read-only connection is retried until the file is free, and
saosim's readers and builds take a file lock beside the database (:func:`file_lock`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
from sqlglot import exp

from saosim.errors import ConfigError, SaosimError
from saosim.live.filelock import file_lock
from saosim.live.metadata import source_versions
from saosim.live.profiles import warehouse_target
from saosim.project.graph import Project

__all__ = [
    "HASH_SQL",
    "DataHash",
    "data_hashes",
    "duckdb_path",
    "file_lock",
    "read_only",
    "warehouse_data_hashes",
    "warehouse_source_versions",
]

_BUSY = ("Could not set lock", "Conflicting lock", "database is locked")


def duckdb_path(
    project_dir: str | Path, *, target: str | None = None, profiles_dir: str | Path | None = None
) -> Path:
    """The DuckDB file a project's dbt profile writes to.

    Raises:
        ConfigError: the profile's adapter is not DuckDB, or the file does not exist.
    """
    wh = warehouse_target(project_dir, profiles_dir=profiles_dir, target=target)
    if wh.adapter != "duckdb" or wh.path is None:
        raise ConfigError(
            f"saosim reads the warehouse of DuckDB profiles only, not {wh.adapter!r}: render "
            "the metadata SQL with saosim.live.metadata.source_versions_query, run it with your "
            "warehouse's client and pass source_versions=",
            field=f"{wh.profile}.outputs.{wh.target}.type",
        )
    if not wh.path.is_file():
        raise ConfigError(
            "does not exist yet; load the sources first (examples/jaffle_duckdb/land.py --init)",
            path=str(wh.path),
        )
    return wh.path


@contextmanager
def read_only(path: Path, *, timeout_s: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, waiting while another process (a dbt build) writes the file."""
    with file_lock(path, exclusive=False), _read_only(path, timeout_s) as con:
        yield con


@contextmanager
def _read_only(path: Path, timeout_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    deadline = time.monotonic() + timeout_s
    pause = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as exc:
            if not any(m in str(exc) for m in _BUSY):
                raise
            if time.monotonic() > deadline:
                raise SaosimError(
                    f"{path}: another process kept the database locked for {timeout_s:.0f} s"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    try:
        yield con
    finally:
        con.close()


def warehouse_source_versions(
    project: Project,
    project_dir: str | Path,
    *,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
) -> dict[str, datetime]:
    """When data last landed in each source, read through dbt's own connection to the
    project's warehouse (any adapter; see :mod:`saosim.live.adapter`)."""
    from saosim.live.adapter import dbt_connection

    with dbt_connection(project_dir, target=target, profiles_dir=profiles_dir) as con:
        return source_versions(project, con)


#: (row count, order-independent hash of every row); both ``None`` when the relation is missing.
DataHash = tuple[int | None, str | None]


def _relation_sql(project: Project, uid: str, dialect: str = "duckdb") -> str:
    node = project.nodes[uid]
    table = exp.table_(
        exp.to_identifier(node.alias or node.name),
        db=exp.to_identifier(node.schema) if node.schema else None,
        catalog=exp.to_identifier(node.database) if node.database else None,
    )
    return table.sql(dialect)


#: Row count and an order-independent hash of every whole row, per dialect ({rel}: the relation).
HASH_SQL = {
    "duckdb": "SELECT count(*), CAST(sum(hash(t)) AS VARCHAR) FROM {rel} AS t",
    "postgres": "SELECT count(*), CAST(sum(hashtext(CAST(t AS text))) AS text) FROM {rel} AS t",
    "snowflake": "SELECT count(*), TO_VARCHAR(HASH_AGG(*)) FROM {rel}",
    "bigquery": (
        "SELECT count(*), CAST(BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS STRING) "
        "FROM {rel} AS t"
    ),
    "databricks": "SELECT count(*), CAST(sum(xxhash64(*)) AS STRING) FROM {rel}",
}


def warehouse_data_hashes(
    project: Project,
    project_dir: str | Path,
    unique_ids: Iterable[str],
    *,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
) -> dict[str, DataHash]:
    """Row count and content hash of each node's relation, through dbt's own connection
    (:data:`HASH_SQL`; a relation that does not exist yet is ``(None, None)``).

    Raises:
        ConfigError: the warehouse has no whole-row hash saosim knows (Redshift).
    """
    from saosim.live.adapter import dbt_connection
    from saosim.live.arrival_sql import columns_query, render
    from saosim.live.metadata import SourceRelation, run_query

    ids = sorted(set(unique_ids))
    with dbt_connection(project_dir, target=target, profiles_dir=profiles_dir) as con:
        template = HASH_SQL.get(con.dialect)
        if template is None:
            raise ConfigError(
                f"shadow runs need a whole-row hash, which saosim has no SQL for on "
                f"{con.adapter_type}; use plan --execute",
                field="type",
            )
        rels = [
            SourceRelation(u, project.nodes[u].database, project.nodes[u].schema,
                           project.nodes[u].alias or project.nodes[u].name)
            for u in ids
        ]  # fmt: skip
        query = columns_query(rels, con.dialect)
        found = run_query(con, render(query, con.dialect)) if query is not None else []
        present = {(str(s).lower(), str(t).lower()) for s, t, _ in found}
        out: dict[str, DataHash] = {}
        for rel in rels:
            if ((rel.schema or "").lower(), rel.identifier.lower()) not in present:
                out[rel.unique_id] = (None, None)
                continue
            table = _relation_sql(project, rel.unique_id, con.dialect)
            rows, digest = con.query(template.format(rel=table))[0]
            out[rel.unique_id] = (int(rows), None if digest is None else str(digest))
    return out


def data_hashes(project: Project, path: Path, unique_ids: Iterable[str]) -> dict[str, DataHash]:
    """Row count and content hash of each node's relation (tables and views alike).

    The hash sums DuckDB's ``hash()`` of every whole row, so it ignores row order and changes
    when any value, row or column changes.
    """
    out: dict[str, DataHash] = {}
    with read_only(path) as con:
        for uid in sorted(set(unique_ids)):
            query = f"SELECT count(*), sum(hash(t))::VARCHAR FROM {_relation_sql(project, uid)} t"
            try:
                rows, digest = con.execute(query).fetchone()
            except duckdb.CatalogException:
                out[uid] = (None, None)
                continue
            out[uid] = (int(rows), digest)
    return out
