"""SQL through dbt's own connection: the adapter of the project's profile and target.

saosim reads the warehouse (source data versions, arrival history, data hashes) with the very
connection ``dbt build`` uses, opened through dbt-core's programmatic API: the project's
``RuntimeConfig`` (``dbt_project.yml`` + ``profiles.yml`` + target, ``env_var`` and all), the
adapter registered for it, ``adapter.connection_named(...)`` and ``adapter.execute(sql,
fetch=True)``. Every adapter dbt supports works unchanged; saosim only needs to know which SQL
dialect to render for it (:data:`ADAPTER_DIALECTS`).

DuckDB lets one process write a database file at a time, and a ``dbt build`` in another process
holds it for the whole build, so on DuckDB the connection takes saosim's shared file lock
(:func:`saosim.live.filelock.file_lock`) and is retried while another process holds the file.

>>> dialect_of("databricks"), dialect_of("spark")
('databricks', 'databricks')
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saosim.errors import ConfigError, SaosimError, SaosimInputError
from saosim.live.dbt_runner import DbtRunError, dbt_session, release_duckdb
from saosim.live.filelock import file_lock

__all__ = ["ADAPTER_DIALECTS", "WarehouseConnection", "dbt_connection", "dialect_of"]

#: dbt adapter type → the sqlglot dialect saosim renders its SQL in.
ADAPTER_DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "spark": "databricks",
}
_BUSY = ("Could not set lock", "Conflicting lock", "database is locked")


def dialect_of(adapter_type: str) -> str:
    """The sqlglot dialect of a dbt adapter type.

    Raises:
        ConfigError: saosim renders no SQL for that adapter.
    """
    dialect = ADAPTER_DIALECTS.get(adapter_type.lower())
    if dialect is None:
        raise ConfigError(
            f"dbt adapter {adapter_type!r} has no SQL dialect in saosim (supported: "
            f"{', '.join(sorted(ADAPTER_DIALECTS))}); pass source_versions= yourself",
            field="type",
        )
    return dialect


@dataclass
class WarehouseConnection:
    """An open connection of dbt's adapter; :meth:`query` runs one statement and fetches rows."""

    adapter_type: str
    dialect: str
    #: the target's database (DuckDB: the catalog; BigQuery: the project) and schema
    database: str | None
    schema: str | None
    _adapter: Any

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` on dbt's connection and return its rows as tuples.

        Raises:
            SaosimError: the warehouse refused the statement (its message, and the SQL).
        """
        try:
            _, table = self._adapter.execute(sql, fetch=True)
        except Exception as exc:  # each adapter raises its own driver's errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SaosimError(
                f"the {self.adapter_type} warehouse refused saosim's query: {first}\n  {sql}"
            ) from None
        return [tuple(row) for row in table.rows]


def _runtime_config(folder: Path, profiles_dir: Path, target: str | None) -> Any:
    from argparse import Namespace

    from dbt.config.runtime import RuntimeConfig
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context
    from dbt_common.events.event_manager_client import cleanup_event_logger

    # dbt's console logger stays silent, as in saosim's dbt invocations (--log-level none)
    cleanup_event_logger()
    set_invocation_context(dict(os.environ))  # env_var() in profiles.yml reads this
    args = Namespace(
        project_dir=str(folder),
        profiles_dir=str(profiles_dir),
        target=target,
        profile=None,
        threads=None,
        vars={},
    )
    set_from_args(args, {})
    try:
        return RuntimeConfig.from_args(args)
    except Exception as exc:  # dbt's project/profile errors
        raise DbtRunError(f"dbt cannot load the profile of {folder}: {exc}") from None


@contextmanager
def dbt_connection(
    project_dir: str | Path,
    *,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    timeout_s: float = 600.0,
) -> Iterator[WarehouseConnection]:
    """dbt's own connection to the project's warehouse, for the profile's target.

    Args:
        project_dir: the dbt project folder.
        target: the profile output; default the profile's ``target``.
        profiles_dir: where ``profiles.yml`` is; default the project folder (as saosim's dbt
            invocations pass it).
        timeout_s: DuckDB only: how long to wait while another process writes the file.

    Yields:
        A :class:`WarehouseConnection`; closed (dbt's adapters reset) when the block ends.

    Raises:
        DbtRunError: dbt cannot load the project or its profile.
        ConfigError: the adapter has no SQL dialect in saosim.
    """
    folder = Path(project_dir).resolve()
    if not (folder / "dbt_project.yml").is_file():
        raise SaosimInputError("is not a dbt project (no dbt_project.yml)", path=str(folder))
    profiles = Path(profiles_dir).resolve() if profiles_dir else folder
    with ExitStack() as stack:
        stack.enter_context(dbt_session(folder))
        from dbt.adapters.factory import get_adapter, register_adapter
        from dbt.mp_context import get_mp_context

        config = _runtime_config(folder, profiles, target)
        dialect = dialect_of(config.credentials.type)
        if config.credentials.type == "duckdb":
            stack.enter_context(_duckdb_file_lock(folder, config))
        register_adapter(config, get_mp_context())
        adapter = get_adapter(config)
        connection = WarehouseConnection(
            config.credentials.type,
            dialect,
            getattr(config.credentials, "database", None),
            getattr(config.credentials, "schema", None),
            adapter,
        )
        _open(stack, connection, timeout_s)
        yield connection


def _open(stack: ExitStack, connection: WarehouseConnection, timeout_s: float) -> None:
    # DuckDB opens the file on the first statement; retry while another process writes it
    deadline = time.monotonic() + timeout_s
    pause = 0.05
    while True:
        attempt = ExitStack()
        attempt.enter_context(connection._adapter.connection_named("saosim"))
        try:
            if connection.adapter_type == "duckdb":
                connection._adapter.execute("select 1", fetch=True)
        except Exception as exc:
            attempt.close()
            if not any(m in str(exc) for m in _BUSY):
                raise
            if time.monotonic() > deadline:
                raise SaosimError(
                    f"another process kept the DuckDB warehouse locked for {timeout_s:.0f} s"
                ) from None
            release_duckdb()
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
            continue
        stack.push(attempt.__exit__)
        return


@contextmanager
def _duckdb_file_lock(folder: Path, config: Any) -> Iterator[None]:
    raw = str(getattr(config.credentials, "path", "") or "")
    if not raw or raw.startswith(":memory:") or raw.startswith("md:"):
        yield
        return
    path = Path(raw).expanduser()
    with file_lock(path if path.is_absolute() else folder / path, exclusive=False):
        yield
