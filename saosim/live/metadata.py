"""Source data versions from the warehouse: when did new data last land in each source?

For a source with a ``loaded_at_field`` the answer is ``max(loaded_at_field)`` over its table (the
query ``dbt source freshness`` runs). Without one it is the warehouse's own last-modified metadata
for the table. The SQL is built once as a sqlglot expression tree and rendered per dialect, so
every database, schema and table name is an identifier node that the generator quotes and
escapes — never text pasted into a query — and a hostile name cannot inject SQL.

Last-modified metadata per dialect (what :func:`last_modified_query` reads):

=============  ===========================================================================
snowflake      ``<db>.information_schema.tables.last_altered`` (as dbt-snowflake does)
bigquery       ``<project>.<dataset>.__TABLES__.last_modified_time`` (epoch ms)
databricks     ``<catalog>.information_schema.tables.last_altered`` (Unity Catalog)
redshift       ``sys_query_detail`` insert steps joined to ``pg_class`` (latest insert start)
postgres       ``pg_xact_commit_timestamp(xmin)`` over the table's rows; needs
               ``track_commit_timestamp = on``
duckdb         none: DuckDB keeps no per-table modification time, so such a source has no
               data version (the planner's ``no_metadata_source`` option decides)
=============  ===========================================================================

Time rule: a value with a zone is converted to UTC; a value without one (DuckDB ``TIMESTAMP``,
Snowflake ``TIMESTAMP_NTZ``, a ``DATE``) is read as UTC — loaders write UTC, and dbt's own
source freshness makes the same assumption.

>>> rel = SourceRelation("source.p.shop.orders", "db", "raw", "orders", "loaded_at")
>>> render(source_versions_query([rel], "snowflake"), "snowflake")
"SELECT 'source.p.shop.orders' AS unique_id, MAX(loaded_at) AS data_version FROM db.raw.orders"
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlglot
from sqlglot import exp

from saosim.errors import ConfigError, SaosimInputError, SaosimWarning
from saosim.project.graph import Project

__all__ = [
    "DIALECTS",
    "SourceRelation",
    "last_modified_query",
    "loaded_at_query",
    "render",
    "run_query",
    "source_relations",
    "source_versions",
    "source_versions_query",
    "to_utc",
]

#: Dialects whose metadata queries saosim renders (sqlglot dialect names).
DIALECTS = ("duckdb", "snowflake", "bigquery", "databricks", "postgres", "redshift")
#: Dialects with no last-modified metadata for a table.
_NO_LAST_MODIFIED = frozenset({"duckdb"})
_PLAIN_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
#: an offset after a space (Snowflake renders ``2025-01-02 07:00:00.000 +0100``)
_SPACED_OFFSET = re.compile(r"\s+([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True, slots=True)
class SourceRelation:
    """Where one dbt source lives in the warehouse, and its ``loaded_at_field`` if any."""

    unique_id: str
    database: str | None
    schema: str | None
    identifier: str
    loaded_at_field: str | None = None


def source_relations(project: Project) -> tuple[SourceRelation, ...]:
    """The warehouse relation of every source in the project, in topological (id) order.

    >>> from saosim.project.graph import Node
    >>> p = Project([Node("source.p.s.t", "t", "source", schema="raw", alias="T_1")], [])
    >>> source_relations(p)[0].identifier
    'T_1'
    """
    out = []
    for uid in project.sources:
        node = project.nodes[uid]
        out.append(
            SourceRelation(
                uid, node.database, node.schema, node.alias or node.name, node.loaded_at_field
            )
        )
    return tuple(out)


def _table(relation: SourceRelation) -> exp.Table:
    return exp.table_(
        exp.to_identifier(relation.identifier),
        db=exp.to_identifier(relation.schema) if relation.schema else None,
        catalog=exp.to_identifier(relation.database) if relation.database else None,
    )


def _loaded_at(relation: SourceRelation, dialect: str) -> exp.Expression:
    field = relation.loaded_at_field or ""
    if _PLAIN_COLUMN.match(field):
        return exp.column(exp.to_identifier(field))
    # dbt allows an SQL expression here (e.g. a timezone conversion); it is project code, trusted
    # as dbt trusts it, but it must be one expression and not a statement.
    try:
        statements = sqlglot.parse(field, read=dialect)
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(
            f"{field!r} is not a column or an SQL expression in {dialect}: "
            f"{str(exc).splitlines()[0]}",
            field="loaded_at_field",
            node_id=relation.unique_id,
        ) from None
    parsed = statements[0] if len(statements) == 1 else None
    if not isinstance(parsed, exp.Condition) or parsed.find(exp.Query) is not None:
        raise ConfigError(
            f"{field!r} must be one column or expression, not a statement or a subquery",
            field="loaded_at_field",
            node_id=relation.unique_id,
        )
    return parsed


def _versioned(uid: str, value: exp.Expression) -> list[exp.Expression]:
    return [exp.Literal.string(uid).as_("unique_id"), value.as_("data_version")]


def loaded_at_query(relation: SourceRelation, dialect: str) -> exp.Select:
    """``SELECT '<id>' AS unique_id, MAX(<loaded_at_field>) AS data_version FROM <relation>``.

    >>> rel = SourceRelation("source.p.s.t", "proj", "raw", "t", "loaded_at")
    >>> loaded_at_query(rel, "bigquery").sql("bigquery")
    "SELECT 'source.p.s.t' AS unique_id, MAX(loaded_at) AS data_version FROM proj.raw.t"
    """
    if not relation.loaded_at_field:
        raise ConfigError(
            "has no loaded_at_field", field="loaded_at_field", node_id=relation.unique_id
        )
    value = exp.Max(this=_loaded_at(relation, dialect))
    return exp.select(*_versioned(relation.unique_id, value)).from_(_table(relation))


def _name_equals(column: exp.Expression, name: str, fold: type[exp.Func]) -> exp.Expression:
    # Names in information_schema are stored folded (Snowflake: upper, Unity Catalog: lower), so
    # compare case-insensitively, as dbt's adapters do for source freshness.
    return exp.EQ(this=fold(this=column), expression=fold(this=exp.Literal.string(name)))


def _information_schema(relation: SourceRelation, table: str) -> exp.Table:
    return exp.table_(
        exp.to_identifier(table),
        db=exp.to_identifier("information_schema"),
        catalog=exp.to_identifier(relation.database) if relation.database else None,
    )


def last_modified_query(relation: SourceRelation, dialect: str) -> exp.Select | None:
    """The warehouse's last-modified time of the relation's table, or ``None`` when the dialect
    keeps none (DuckDB).

    >>> rel = SourceRelation("source.p.s.t", "DB", "RAW", "T")
    >>> print(render(last_modified_query(rel, "databricks"), "databricks"))
    ... # doctest: +NORMALIZE_WHITESPACE
    SELECT 'source.p.s.t' AS unique_id, MAX(last_altered) AS data_version
    FROM DB.information_schema.tables
    WHERE LOWER(table_schema) = LOWER('RAW') AND LOWER(table_name) = LOWER('T')
    """
    _check_dialect(dialect)
    if dialect in _NO_LAST_MODIFIED:
        return None
    uid, schema, name = relation.unique_id, relation.schema or "", relation.identifier
    if dialect in ("snowflake", "databricks"):
        fold = exp.Upper if dialect == "snowflake" else exp.Lower
        where = exp.and_(
            _name_equals(exp.column("table_schema"), schema, fold),
            _name_equals(exp.column("table_name"), name, fold),
        )
        value = exp.Max(this=exp.column("last_altered"))
        source = _information_schema(relation, "tables")
        return exp.select(*_versioned(uid, value)).from_(source).where(where)
    if dialect == "bigquery":
        # __TABLES__ is per dataset and has no region qualifier, unlike INFORMATION_SCHEMA views.
        source = exp.table_(
            exp.to_identifier("__TABLES__"),
            db=exp.to_identifier(schema),
            catalog=exp.to_identifier(relation.database) if relation.database else None,
        )
        value = exp.func("TIMESTAMP_MILLIS", exp.Max(this=exp.column("last_modified_time")))
        where = exp.EQ(this=exp.column("table_id"), expression=exp.Literal.string(name))
        return exp.select(*_versioned(uid, value)).from_(source).where(where)
    if dialect == "postgres":
        value = exp.Max(
            this=exp.Anonymous(this="pg_xact_commit_timestamp", expressions=[exp.column("xmin")])
        )
        return exp.select(*_versioned(uid, value)).from_(_table(relation))
    # redshift: the latest insert into the table recorded in the system query log.
    qd, c, ns = "qd", "c", "ns"
    source = (
        exp.select(*_versioned(uid, exp.Max(this=exp.column("start_time", table=qd))))
        .from_(exp.table_("sys_query_detail").as_(qd))
        .join(
            exp.table_("pg_class").as_(c),
            on=exp.EQ(this=exp.column("table_id", table=qd), expression=exp.column("oid", table=c)),
        )
        .join(
            exp.table_("pg_namespace").as_(ns),
            on=exp.EQ(
                this=exp.column("oid", table=ns), expression=exp.column("relnamespace", table=c)
            ),
        )
        .where(
            exp.and_(
                exp.EQ(
                    this=exp.column("step_name", table=qd), expression=exp.Literal.string("insert")
                ),
                _name_equals(exp.column("nspname", table=ns), schema, exp.Lower),
                _name_equals(exp.column("relname", table=c), name, exp.Lower),
            )
        )
    )
    return source


def source_versions_query(
    relations: Iterable[SourceRelation], dialect: str, *, as_text: bool = False
) -> exp.Query | None:
    """One query for many sources: the per-source queries joined with ``UNION ALL``.

    Sources with a ``loaded_at_field`` use :func:`loaded_at_query`, the others
    :func:`last_modified_query`; a source the dialect has no metadata for is left out. With
    ``as_text`` every value is cast to text, so each branch keeps its own type's meaning (a
    ``TIMESTAMP`` next to a ``TIMESTAMPTZ`` would otherwise be cast through the session zone).
    Returns ``None`` when no source can be queried.
    """
    _check_dialect(dialect)
    selects = []
    for rel in relations:
        query = (
            loaded_at_query(rel, dialect)
            if rel.loaded_at_field
            else last_modified_query(rel, dialect)
        )
        if query is None:
            continue
        if as_text:
            value = query.selects[1]
            value.set("this", exp.cast(value.this, exp.DataType.build("text")))
        selects.append(query)
    if not selects:
        return None
    out: exp.Query = selects[0]
    for q in selects[1:]:
        out = exp.union(out, q, distinct=False)
    return out


def render(query: exp.Expression, dialect: str) -> str:
    """The query as SQL text in ``dialect``."""
    _check_dialect(dialect)
    return query.sql(dialect=dialect)


def to_utc(value: Any, *, unique_id: str = "") -> datetime | None:
    """A warehouse timestamp as an aware UTC ``datetime`` (naive values are UTC; see the module).

    >>> to_utc("2025-01-02 07:00:00+01")
    datetime.datetime(2025, 1, 2, 6, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc(datetime(2025, 1, 2, 7))
    datetime.datetime(2025, 1, 2, 7, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc("2025-01-02 07:00:00.000 +0100")  # Snowflake's TIMESTAMP_TZ as text
    datetime.datetime(2025, 1, 2, 6, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1\2:\3", value.strip()))
        except ValueError:
            raise SaosimInputError(
                f"the warehouse returned {value!r}, which is not a timestamp; point "
                "loaded_at_field at a timestamp column",
                field="loaded_at_field",
                node_id=unique_id or None,
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise SaosimInputError(
        f"the warehouse returned {type(value).__name__} {value!r}, not a timestamp",
        field="loaded_at_field",
        node_id=unique_id or None,
    )


def source_versions(
    project: Project, connection: Any, dialect: str | None = None
) -> dict[str, datetime]:
    """When new data last landed in each source, read from a live warehouse connection.

    Args:
        project: the dbt project (its sources' database, schema, identifier, loaded_at_field).
        connection: dbt's connection (a :class:`saosim.live.adapter.WarehouseConnection`, which
            knows its dialect) or an open ``duckdb.DuckDBPyConnection``.
        dialect: the SQL dialect; default the connection's own (``duckdb`` for DuckDB's).

    Returns:
        ``{source unique_id: aware UTC datetime}`` for every source whose table has rows and a
        data version; sources without metadata or rows are absent (a :class:`SaosimWarning`
        names the ones with no metadata).

    >>> import duckdb
    >>> from saosim.project.graph import Node
    >>> con = duckdb.connect()
    >>> _ = con.execute("create table t as select timestamp '2025-01-01 06:00' as loaded_at")
    >>> p = Project([Node("source.p.s.t", "t", "source", loaded_at_field="loaded_at")], [])
    >>> source_versions(p, con)
    {'source.p.s.t': datetime.datetime(2025, 1, 1, 6, 0, tzinfo=datetime.timezone.utc)}
    """
    dialect = dialect or getattr(connection, "dialect", None) or "duckdb"
    _check_dialect(dialect)
    relations = source_relations(project)
    missing = [r.unique_id for r in relations if not r.loaded_at_field]
    if missing and dialect in _NO_LAST_MODIFIED:
        warnings.warn(
            f"{len(missing)} source(s) have no loaded_at_field and {dialect} keeps no table "
            f"modification time, so they have no data version: {', '.join(missing[:5])}. "
            "Set loaded_at_field on them to track when data lands.",
            SaosimWarning,
            stacklevel=2,
        )
    query = source_versions_query(relations, dialect, as_text=True)
    if query is None:
        return {}
    return _collect(run_query(connection, render(query, dialect)))


def run_query(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from dbt's connection (``.query``) or a DuckDB one (``.execute``)."""
    if hasattr(connection, "query") and not hasattr(connection, "fetchall"):
        return list(connection.query(sql))
    return [tuple(r) for r in connection.execute(sql).fetchall()]


def _collect(rows: Iterable[tuple[str, Any]]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for uid, value in rows:
        stamp = to_utc(value, unique_id=uid)
        if stamp is not None:
            out[uid] = stamp
    return dict(sorted(out.items()))


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ConfigError(
            f"{dialect!r} is not a supported warehouse dialect; use one of {', '.join(DIALECTS)}",
            field="dialect",
        )
