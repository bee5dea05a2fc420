"""Arrival history from the warehouse: when did data land in each source, over the past days?

:func:`warehouse_arrivals` opens dbt's own connection (:mod:`saosim.live.adapter`), finds for each
source the best record of its loads (:mod:`saosim.live.arrival_sql`: the loader's audit column,
else the ``loaded_at_field``, else the warehouse's last-modified metadata), pushes the SQL down,
and returns the canonical ``source_arrivals`` table, with ``how`` naming the method of each row.

A batch counts once: a loader writes one batch's rows over seconds or minutes, so load times
less than ``gap_s`` apart (default two minutes) after the previous one are one arrival, at the
batch's last load time.

>>> t = datetime(2025, 1, 1, 6, tzinfo=UTC)
>>> [a.minute for a in batch_ends([(t, t), (t + timedelta(seconds=50), t + timedelta(seconds=70)),
...                                 (t + timedelta(hours=1), t + timedelta(hours=1))])]
[1, 0]
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from saosim.errors import SaosimWarning
from saosim.inputs.schema import TABLES, validate
from saosim.live.arrival_sql import (
    DLT_LOAD_ID,
    LOADER_COLUMNS,
    batches_query,
    columns_query,
    dlt_batches_query,
    metadata_query,
    render,
)
from saosim.live.metadata import SourceRelation, run_query, source_relations, to_utc
from saosim.project.graph import Project

__all__ = [
    "ArrivalHistory",
    "SourceMethod",
    "WrittenArrivals",
    "batch_ends",
    "parse_since",
    "reconstruct_arrivals",
    "warehouse_arrivals",
    "write_arrivals",
]

#: Where the Postgres change counters of the last reading are kept (the store's meta table).
PG_COUNTERS_KEY = "arrivals.pg_stat_user_tables"
#: Delta history operations that do not change a table's data.
_NOT_DATA = frozenset(
    {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "ADD COLUMNS",
     "CHANGE COLUMN", "FSCK", "CREATE TABLE", "RESTORE", "UPGRADE PROTOCOL"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourceMethod:
    """How one source's arrivals were read: ``how`` (the ``source_arrivals`` vocabulary) and
    ``detail`` (the column, loader or metadata used), with the SQL that was run."""

    unique_id: str
    how: str | None
    detail: str
    sql: str | None = None
    arrivals: int = 0


@dataclass(frozen=True)
class ArrivalHistory:
    """The reconstructed ``source_arrivals`` table, how each source was read, and the
    Postgres change counters to compare with next time."""

    arrivals: pl.DataFrame
    methods: tuple[SourceMethod, ...]
    counters: dict[str, int]


def batch_ends(batches: list[tuple[datetime, datetime]], *, gap_s: float = 120.0) -> list[datetime]:
    """The end of each batch: ``(first, last)`` load-time spans closer than ``gap_s`` to the
    previous span's end are one batch."""
    ends: list[datetime] = []
    current: datetime | None = None
    for first, last in sorted(batches):
        if current is not None and (first - current).total_seconds() > gap_s:
            ends.append(current)
            current = None
        current = last if current is None else max(current, last)
    if current is not None:
        ends.append(current)
    return ends


def _found_columns(
    connection: Any, relations: tuple[SourceRelation, ...], dialect: str
) -> dict[tuple[str, str], set[str]]:
    query = columns_query(relations, dialect)
    out: dict[tuple[str, str], set[str]] = {}
    if query is None:
        return out
    for schema, table, column in run_query(connection, render(query, dialect)):
        out.setdefault((str(schema).lower(), str(table).lower()), set()).add(str(column).lower())
    return out


def _method(rel: SourceRelation, columns: set[str], dialect: str) -> tuple[str | None, str, Any]:
    """(how, detail, query) for one source: loader column, loaded_at_field, or metadata."""
    for column, loader in LOADER_COLUMNS:
        if column in columns:
            if column == DLT_LOAD_ID:
                return "loader_log", f"{column} + _dlt_loads ({loader})", "dlt"
            return "loader_log", f"{column} ({loader})", column
    if rel.loaded_at_field:
        return "loaded_at_field", rel.loaded_at_field, rel.loaded_at_field
    if dialect == "duckdb":
        return None, "none: no audit column, no loaded_at_field, and DuckDB keeps no metadata", None
    detail = {
        "postgres": "pg_stat_user_tables change counters",
        "databricks": "Delta table history",
        "redshift": "sys_query_detail inserts",
        "snowflake": "information_schema.tables.last_altered",
        "bigquery": "__TABLES__.last_modified_time",
    }[dialect]
    return "metadata", detail, "metadata"


def _spans(rows: list[tuple[Any, ...]], uid: str) -> list[tuple[datetime, datetime]]:
    spans = []
    for first, last in rows:
        a, b = to_utc(first, unique_id=uid), to_utc(last, unique_id=uid)
        if a is not None and b is not None:
            spans.append((a, b))
    return spans


def reconstruct_arrivals(
    project: Project,
    connection: Any,
    *,
    since: datetime,
    now: datetime,
    gap_s: float = 120.0,
    counters: dict[str, int] | None = None,
) -> ArrivalHistory:
    """Every source's arrivals since ``since``, read through an open warehouse connection.

    Args:
        project: the dbt project (its sources).
        connection: dbt's connection (:func:`saosim.live.adapter.dbt_connection`) or a DuckDB one.
        since: the earliest load time to read (UTC-aware).
        now: the reading's time (``observed_at`` of every row, and of a Postgres counter move).
        gap_s: load times closer than this to the previous ones are the same batch.
        counters: Postgres change counters of the previous reading (``ArrivalHistory.counters``).

    Returns:
        An :class:`ArrivalHistory`; sources with no method get a :class:`SaosimWarning`.
    """
    dialect = getattr(connection, "dialect", None) or "duckdb"
    relations = source_relations(project)
    found = _found_columns(connection, relations, dialect)
    previous, seen = dict(counters or {}), {}
    rows: list[dict[str, Any]] = []
    methods = []
    for rel in relations:
        columns = found.get(((rel.schema or "").lower(), rel.identifier.lower()), set())
        how, detail, kind = _method(rel, columns, dialect)
        ends: list[datetime] = []
        sql = None
        if kind == "dlt":
            sql = render(dlt_batches_query(rel, dialect, since), dialect)
            ends = batch_ends(_spans(run_query(connection, sql), rel.unique_id), gap_s=gap_s)
        elif kind == "metadata":
            query = metadata_query(rel, dialect, since)
            sql = render(query, dialect) if query is not None else None
            ends, seen_now = _metadata_arrivals(connection, sql, dialect, rel, since, now, previous)
            seen.update(seen_now)
        elif kind is not None:
            sql = render(batches_query(rel, kind, dialect, since), dialect)
            ends = batch_ends(_spans(run_query(connection, sql), rel.unique_id), gap_s=gap_s)
        for end in ends:
            rows.append(
                {"unique_id": rel.unique_id, "arrived_at": end, "observed_at": now, "how": how}
            )
        methods.append(SourceMethod(rel.unique_id, how, detail, sql, len(ends)))
    missing = [m.unique_id for m in methods if m.how is None]
    if missing:
        warnings.warn(
            f"{len(missing)} source(s) have no arrival history (no loader column, no "
            f"loaded_at_field, no warehouse metadata): {', '.join(missing[:5])}. Set "
            "loaded_at_field on them.",
            SaosimWarning,
            stacklevel=2,
        )
    frame = pl.DataFrame(rows, schema=TABLES["source_arrivals"]).sort("arrived_at", "unique_id")
    return ArrivalHistory(validate(frame, "source_arrivals"), tuple(methods), seen)


def _metadata_arrivals(
    connection: Any,
    sql: str | None,
    dialect: str,
    rel: SourceRelation,
    since: datetime,
    now: datetime,
    previous: dict[str, int],
) -> tuple[list[datetime], dict[str, int]]:
    if sql is None:
        return [], {}
    result = run_query(connection, sql)
    if dialect == "postgres":
        # no time, only a counter: an arrival is seen when it moved since the last reading
        changes = int(result[0][0]) if result and result[0][0] is not None else 0
        before = previous.get(rel.unique_id)
        moved = before is not None and changes != before
        return ([now] if moved else []), {rel.unique_id: changes}
    if dialect == "databricks":
        stamps = [
            to_utc(r[1], unique_id=rel.unique_id)
            for r in result
            if len(r) > 4 and str(r[4]).upper() not in _NOT_DATA
        ]
        return sorted(s for s in stamps if s is not None and s >= since), {}
    return [e for e in batch_ends(_spans(result, rel.unique_id), gap_s=0) if e >= since], {}


def warehouse_arrivals(
    project: Project,
    project_dir: str | Path,
    *,
    since: datetime,
    now: datetime | None = None,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    store: Any = None,
    gap_s: float = 120.0,
) -> ArrivalHistory:
    """:func:`reconstruct_arrivals` through dbt's own connection to the project's warehouse.

    With a ``store`` (:class:`saosim.live.store.StateStore`), the Postgres change counters of
    the previous reading come from it and this reading's are kept in it.
    """
    from saosim.live.adapter import dbt_connection

    now = now or datetime.now(UTC)
    counters = json.loads(store.get_meta(PG_COUNTERS_KEY) or "{}") if store is not None else {}
    with dbt_connection(project_dir, target=target, profiles_dir=profiles_dir) as con:
        history = reconstruct_arrivals(
            project, con, since=since, now=now, gap_s=gap_s, counters=counters
        )
    if store is not None and history.counters:
        store.set_meta(PG_COUNTERS_KEY, json.dumps({**counters, **history.counters}))
    return history


def parse_since(value: str, *, now: datetime) -> datetime:
    """``90d``, ``12h``, ``2w`` before ``now``, or an ISO date/time (UTC when it has no zone).

    >>> parse_since("90d", now=datetime(2025, 4, 1, tzinfo=UTC)).date().isoformat()
    '2025-01-01'
    """
    from saosim.errors import ConfigError

    units = {"d": "days", "h": "hours", "w": "weeks", "m": "minutes"}
    text = value.strip().lower()
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{value!r} is neither a span (90d, 12h, 2w) nor an ISO date", field="--since"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(frozen=True)
class WrittenArrivals:
    """What :func:`write_arrivals` read and where it wrote it (``added``: rows new there)."""

    history: ArrivalHistory
    written_to: Path
    added: int


def write_arrivals(
    project_dir: str | Path,
    *,
    since: datetime,
    now: datetime | None = None,
    out: str | Path | None = None,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    manifest: str | Path | None = None,
    project: Project | None = None,
) -> WrittenArrivals:
    """Reconstruct the project's arrivals (:func:`warehouse_arrivals`) and keep them.

    Args:
        project_dir: the dbt project folder.
        since, now: the window read.
        out: an estate folder: its ``source_arrivals`` table is replaced for the project's
            sources (created with the project when the folder is not an estate yet). Default:
            the rows are added to the project's state store, so :func:`saosim.live.estate`
            replays them.
        target, profiles_dir, manifest, project: as for :func:`saosim.live.plan`.
    """
    from saosim.inputs.estate import Estate, load_estate
    from saosim.live.runner import _project_dir, load_live_project
    from saosim.live.store import StateStore

    folder = _project_dir(project_dir)
    if project is None:
        project = load_live_project(
            folder, manifest=manifest, target=target, profiles_dir=profiles_dir
        )
    store = StateStore.for_project(folder)
    history = warehouse_arrivals(
        project, folder, since=since, now=now, target=target, profiles_dir=profiles_dir,
        store=store,
    )  # fmt: skip
    if out is None:
        return WrittenArrivals(history, store.path, store.add_arrivals(history.arrivals))
    dest = Path(out)
    if (dest / "estate.json").is_file():
        estate = load_estate(dest)
        kept = estate.source_arrivals.filter(~pl.col("unique_id").is_in(list(project.sources)))
        arrivals = pl.concat([kept, history.arrivals]).sort("arrived_at", "unique_id")
        estate = Estate(
            estate.project,
            runs=estate.runs,
            node_runs=estate.node_runs,
            source_arrivals=arrivals,
            code_changes=estate.code_changes,
        )
    else:
        estate = Estate(project, source_arrivals=history.arrivals)
    estate.save(dest)
    return WrittenArrivals(history, dest, history.arrivals.height)
