"""The SQL that reconstructs a source's past arrivals, written once and rendered per dialect.

Where a source's rows say when they landed, arrivals are the distinct load times, pushed down
as one row per minute (first and last load time in it) so a large table returns little:

==========================  =================================================================
method (``how``)            the column
==========================  =================================================================
``loader_log``              the loader's audit column, detected by name (:data:`LOADER_COLUMNS`:
                            Fivetran ``_fivetran_synced``, Airbyte ``_airbyte_extracted_at``,
                            Stitch ``_sdc_batched_at``, …); dlt's ``_dlt_load_id`` is joined to
                            its ``_dlt_loads`` table (one row per completed load)
``loaded_at_field``         the source's ``loaded_at_field``
``metadata``                no such column: the warehouse's own last-modified metadata
==========================  =================================================================

Last-modified metadata per dialect (:func:`metadata_query`): Snowflake and Databricks
``information_schema.tables.last_altered``; BigQuery ``__TABLES__.last_modified_time``; Redshift
the insert steps of ``sys_query_detail`` (every one still in its log); Postgres the change
counters of ``pg_stat_user_tables`` (no time: an arrival is seen when they move between two
readings); DuckDB none.

>>> rel = SourceRelation("source.p.s.t", "db", "raw", "t")
>>> print(render(batches_query(rel, "_fivetran_synced", "snowflake", SINCE), "snowflake"))
... # doctest: +NORMALIZE_WHITESPACE
SELECT CAST(MIN(_fivetran_synced) AS VARCHAR) AS first_at,
  CAST(MAX(_fivetran_synced) AS VARCHAR) AS last_at FROM db.raw.t
WHERE _fivetran_synced >= CAST('2025-01-01 00:00:00+00:00' AS TIMESTAMPTZ)
GROUP BY DATE_TRUNC('MINUTE', _fivetran_synced)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlglot import exp

from saosim.live.metadata import (
    SourceRelation,
    _check_dialect,
    _loaded_at,
    _name_equals,
    _table,
    render,
)

__all__ = [
    "DLT_LOAD_ID",
    "LOADER_COLUMNS",
    "batches_query",
    "columns_query",
    "dlt_batches_query",
    "metadata_query",
    "render",
]

#: Audit columns loaders add to every row they write, in the order they are looked for, with
#: the loader's name.
LOADER_COLUMNS = (
    ("_fivetran_synced", "fivetran"),
    ("_airbyte_extracted_at", "airbyte"),
    ("_airbyte_emitted_at", "airbyte"),
    ("_sdc_batched_at", "stitch"),
    ("_dlt_load_id", "dlt"),
)
DLT_LOAD_ID = "_dlt_load_id"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # the doctests' --since


def _text(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, exp.DataType.build("text"))


def _since(value: datetime) -> exp.Expression:
    # a zoned literal: BigQuery compares its TIMESTAMP columns only with TIMESTAMP (zoned)
    text = value.astimezone(UTC).isoformat(sep=" ")
    return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamptz"))


def columns_query(relations: Iterable[SourceRelation], dialect: str) -> exp.Query | None:
    """``(table_schema, table_name, column_name)`` of every column of the sources' tables,
    from ``information_schema.columns`` (names compared case-insensitively).

    >>> rel = SourceRelation("source.p.s.t", "proj", "raw", "t")
    >>> print(render(columns_query([rel], "bigquery"), "bigquery"))
    ... # doctest: +NORMALIZE_WHITESPACE
    SELECT table_schema, table_name, column_name FROM proj.raw.INFORMATION_SCHEMA.COLUMNS
    WHERE LOWER(table_name) IN (LOWER('t'))
    """
    _check_dialect(dialect)
    by_place: dict[tuple[str | None, str | None], list[str]] = {}
    for rel in relations:
        by_place.setdefault((rel.database, rel.schema), []).append(rel.identifier)
    selects: list[exp.Query] = []
    for (database, schema), names in sorted(by_place.items(), key=lambda kv: str(kv[0])):
        fold = exp.Upper if dialect == "snowflake" else exp.Lower
        in_names = exp.In(
            this=fold(this=exp.column("table_name")),
            expressions=[fold(this=exp.Literal.string(n)) for n in sorted(set(names))],
        )
        cols = [exp.column("table_schema"), exp.column("table_name"), exp.column("column_name")]
        if dialect == "bigquery":
            # INFORMATION_SCHEMA is per dataset: <project>.<dataset>.INFORMATION_SCHEMA.COLUMNS
            parts = [p for p in (database, schema) if p]
            table = exp.Table(
                this=exp.to_identifier("COLUMNS"),
                db=exp.to_identifier("INFORMATION_SCHEMA"),
                catalog=exp.Dot.build([exp.to_identifier(p) for p in parts])
                if len(parts) > 1
                else exp.to_identifier(parts[0]),
            )
            selects.append(exp.select(*cols).from_(table).where(in_names))
            continue
        catalog = database if dialect in ("snowflake", "databricks") else None
        table = exp.table_(
            exp.to_identifier("columns"),
            db=exp.to_identifier("information_schema"),
            catalog=exp.to_identifier(catalog) if catalog else None,
        )
        where = exp.and_(_name_equals(exp.column("table_schema"), schema or "", fold), in_names)
        selects.append(exp.select(*cols).from_(table).where(where))
    if not selects:
        return None
    out = selects[0]
    for q in selects[1:]:
        out = exp.union(out, q, distinct=False)
    return out


def batches_query(
    relation: SourceRelation, column: str, dialect: str, since: datetime
) -> exp.Select:
    """First and last load time per minute of one source's load-time column (or its
    ``loaded_at_field`` expression), as text, for rows loaded since ``since``."""
    _check_dialect(dialect)
    stamp = _loaded_at(
        SourceRelation(relation.unique_id, None, None, relation.identifier, column), dialect
    )
    minute = exp.TimestampTrunc(this=stamp.copy(), unit=exp.var("MINUTE"))
    return (
        exp.select(
            _text(exp.Min(this=stamp.copy())).as_("first_at"),
            _text(exp.Max(this=stamp.copy())).as_("last_at"),
        )
        .from_(_table(relation))
        .where(exp.GTE(this=stamp.copy(), expression=_since(since)))
        .group_by(minute)
    )


def dlt_batches_query(relation: SourceRelation, dialect: str, since: datetime) -> exp.Select:
    """One row per completed dlt load (``_dlt_loads.status = 0``) whose ``load_id`` is on a
    row of the source's table: the load's ``inserted_at``, twice (first and last)."""
    _check_dialect(dialect)
    loads = exp.table_(
        exp.to_identifier("_dlt_loads"),
        db=exp.to_identifier(relation.schema) if relation.schema else None,
        catalog=exp.to_identifier(relation.database) if relation.database else None,
    )
    inserted = exp.column("inserted_at", table="l")
    ids = exp.select(exp.column(DLT_LOAD_ID)).distinct().from_(_table(relation))
    return (
        exp.select(_text(inserted).as_("first_at"), _text(inserted.copy()).as_("last_at"))
        .from_(loads.as_("l"))
        .where(
            exp.and_(
                exp.EQ(this=exp.column("status", table="l"), expression=exp.Literal.number(0)),
                exp.column("load_id", table="l").isin(query=ids),
                exp.GTE(this=inserted.copy(), expression=_since(since)),
            )
        )
    )


def metadata_query(
    relation: SourceRelation, dialect: str, since: datetime
) -> exp.Expression | None:
    """The warehouse's own record of when the table changed (see the module), or ``None``
    (DuckDB keeps none). Postgres returns its change counter instead of a time."""
    _check_dialect(dialect)
    schema, name = relation.schema or "", relation.identifier
    if dialect == "duckdb":
        return None
    if dialect == "postgres":
        changes = exp.Add(
            this=exp.Add(this=exp.column("n_tup_ins"), expression=exp.column("n_tup_upd")),
            expression=exp.column("n_tup_del"),
        )
        return (
            exp.select(changes.as_("changes"))
            .from_(exp.table_("pg_stat_user_tables"))
            .where(
                exp.and_(
                    exp.EQ(this=exp.column("schemaname"), expression=exp.Literal.string(schema)),
                    exp.EQ(this=exp.column("relname"), expression=exp.Literal.string(name)),
                )
            )
        )
    if dialect == "databricks":
        # Delta table history: one row per commit (version, timestamp, …, operation, …)
        return exp.Describe(this=_table(relation), style=exp.var("HISTORY"))
    if dialect == "redshift":
        qd, c, ns = "qd", "c", "ns"
        start = exp.column("start_time", table=qd)
        return (
            exp.select(_text(start).as_("first_at"), _text(start.copy()).as_("last_at"))
            .distinct()
            .from_(exp.table_("sys_query_detail").as_(qd))
            .join(
                exp.table_("pg_class").as_(c),
                on=exp.EQ(
                    this=exp.column("table_id", table=qd), expression=exp.column("oid", table=c)
                ),
            )
            .join(
                exp.table_("pg_namespace").as_(ns),
                on=exp.EQ(
                    this=exp.column("oid", table=ns),
                    expression=exp.column("relnamespace", table=c),
                ),
            )
            .where(
                exp.and_(
                    exp.EQ(
                        this=exp.column("step_name", table=qd),
                        expression=exp.Literal.string("insert"),
                    ),
                    _name_equals(exp.column("nspname", table=ns), schema, exp.Lower),
                    _name_equals(exp.column("relname", table=c), name, exp.Lower),
                    exp.GTE(this=start.copy(), expression=_since(since)),
                )
            )
        )
    # snowflake, bigquery: the table's current last-modified time (one arrival at most)
    from saosim.live.metadata import last_modified_query

    query = last_modified_query(relation, dialect)
    assert query is not None
    value = query.selects[1].this
    out = query.copy()
    out.set(
        "expressions", [_text(value.copy()).as_("first_at"), _text(value.copy()).as_("last_at")]
    )
    return out
