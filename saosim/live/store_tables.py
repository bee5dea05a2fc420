"""The state store's tables: DuckDB DDL made from the canonical polars schemas."""

from __future__ import annotations

import polars as pl

from saosim.core.state import STATE_SCHEMA
from saosim.inputs.schema import TABLES

__all__ = [
    "CREATE",
    "DECISIONS_SCHEMA",
    "FINGERPRINT_CACHE_SCHEMA",
    "LOCKS_SCHEMA",
    "PLANS_SCHEMA",
    "PLAN_RUNS_SCHEMA",
    "SHADOW_SCHEMA",
]


def _duck_type(dtype: pl.DataType | type[pl.DataType]) -> str:
    if isinstance(dtype, type):  # the canonical schemas spell simple types as classes
        dtype = dtype()
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{_duck_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Struct):
        return "STRUCT(" + ", ".join(f"{f.name} {_duck_type(f.dtype)}" for f in dtype.fields) + ")"
    simple = {
        pl.String: "VARCHAR",
        pl.Float64: "DOUBLE",
        pl.Int64: "BIGINT",
        pl.Int32: "INTEGER",
        pl.Boolean: "BOOLEAN",
        pl.Enum: "VARCHAR",
        pl.Categorical: "VARCHAR",
    }
    for kind, name in simple.items():
        if isinstance(dtype, kind):
            return name
    raise AssertionError(f"no DuckDB type for {dtype}")


def _ddl(table: str, schema: dict[str, pl.DataType], key: tuple[str, ...] = ()) -> str:
    columns = [f"{name} {_duck_type(dtype)}" for name, dtype in schema.items()]
    if key:
        columns.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})"


_TS = pl.Datetime("us", "UTC")
PLANS_SCHEMA: dict[str, pl.DataType] = {
    "plan_id": pl.String(),
    "run_at": _TS,
    "profile": pl.String(),
    "options": pl.String(),
    "job_id": pl.String(),
    "selection": pl.String(),
    "created_at": _TS,
    # running / finished / failed / abandoned (saosim.live.locks.PLAN_STATUSES)
    "status": pl.String(),
    "holder": pl.String(),
    "host": pl.String(),
    "pid": pl.Int64(),
    "ended_at": _TS,
}
DECISIONS_SCHEMA: dict[str, pl.DataType] = {
    "plan_id": pl.String(),
    "position": pl.Int32(),
    "run_at": _TS,
    "unique_id": pl.String(),
    "name": pl.String(),
    "action": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "fresh_parents": pl.List(pl.String()),
    "window_ends_at": _TS,
    "profile": pl.String(),
}
PLAN_RUNS_SCHEMA: dict[str, pl.DataType] = {"plan_id": pl.String(), "run_id": pl.String()}
LOCKS_SCHEMA: dict[str, pl.DataType] = {
    "unique_id": pl.String(),
    "holder": pl.String(),
    "acquired_at": _TS,
    "expires_at": _TS,
    "host": pl.String(),
    "pid": pl.Int64(),
    "heartbeat_at": _TS,
}
FINGERPRINT_CACHE_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),
    "fingerprint": pl.String(),
}
SHADOW_SCHEMA: dict[str, pl.DataType] = {
    "plan_id": pl.String(),
    "run_id": pl.String(),
    "run_at": _TS,
    "unique_id": pl.String(),
    "name": pl.String(),
    "predicted": pl.String(),
    "reason": pl.String(),
    "status": pl.String(),
    "rows_before": pl.Int64(),
    "rows_after": pl.Int64(),
    "hash_before": pl.String(),
    "hash_after": pl.String(),
    "changed": pl.Boolean(),
}
CREATE = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    _ddl("node_state", STATE_SCHEMA, ("unique_id",)),
    _ddl("plans", PLANS_SCHEMA, ("plan_id",)),
    _ddl("decisions", DECISIONS_SCHEMA, ("plan_id", "unique_id")),
    _ddl("runs", TABLES["runs"], ("run_id",)),
    _ddl("node_runs", TABLES["node_runs"], ("run_id", "unique_id")),
    _ddl("plan_runs", PLAN_RUNS_SCHEMA, ("plan_id", "run_id")),
    _ddl("source_arrivals", TABLES["source_arrivals"], ("unique_id", "arrived_at")),
    _ddl("locks", LOCKS_SCHEMA, ("unique_id",)),
    _ddl("code_changes", TABLES["code_changes"], ("unique_id", "changed_at")),
    _ddl("fingerprint_cache", FINGERPRINT_CACHE_SCHEMA, ("key",)),
    _ddl("shadow", SHADOW_SCHEMA, ("plan_id", "unique_id")),
    # stores made before plans had a status and locks a host, pid and heartbeat
    *(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {_duck_type(dtype)}"
        for table, schema, names in (
            ("plans", PLANS_SCHEMA, ("status", "holder", "host", "pid", "ended_at")),
            ("locks", LOCKS_SCHEMA, ("host", "pid", "heartbeat_at")),
        )
        for name, dtype in schema.items()
        if name in names
    ),
)
