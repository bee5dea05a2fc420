"""The live planner's memory: a DuckDB file holding node state, plans, runs and build locks.

Default place: ``<project>/.saosim/state.duckdb``. Tables:

==============  ==========================================================================
``node_state``  the current :class:`~saosim.core.state.State` (columns of ``State.to_frame()``)
``plans``       one row per plan: id, run time, profile, options, selection, created_at,
                status (running / finished / failed / abandoned) and the holder running it
``decisions``   every decision of every plan (``Plan.to_frame()`` plus ``plan_id``)
``runs``        executed dbt invocations, the canonical ``runs`` table (:mod:`saosim.inputs.schema`)
``node_runs``   their per-node results, the canonical ``node_runs`` table
``plan_runs``   which run executed which plan
``source_arrivals``  when new data landed in each source, as observed from the warehouse
``locks``       nodes being built right now: holder, host, pid, heartbeat (:mod:`.locks`)
``code_changes``  when a node's fingerprint changed, as seen by the live planner
``fingerprint_cache``  fingerprint per code key (checksum + config), so unchanged files are
                not parsed again
``shadow``      per shadow run and node: the planner's prediction and whether the data changed
==============  ==========================================================================

Every write is one transaction: a crash at any point leaves the last committed state whole
(DuckDB's write-ahead log discards an uncommitted transaction on reopen).

Several processes share one store: DuckDB lets one process at a time open a file for writing,
so the store opens it per operation, retrying while another process holds it, and closes it
again. The ``locks`` table is what keeps two concurrent executions from building the same model
at once: :meth:`StateStore.acquire` takes the nodes no one else holds and reports the others,
which the planner receives as ``in_flight`` (SAO waits for them). A holder that died is released
before locks are read or taken — at once when it ran on this host, after the lock timeout of
silence from its heartbeat otherwise — and its running plan is marked ``abandoned``
(:mod:`saosim.live.locks`).

>>> import tempfile, pathlib
>>> from datetime import datetime, timezone
>>> from saosim.core.state import NodeState, State
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> with tempfile.TemporaryDirectory() as d:
...     store = StateStore(pathlib.Path(d) / "state.duckdb")
...     store.save_state(State({"model.p.m": NodeState(t, "fp", {}, t)}))
...     store.load_state().get("model.p.m").fingerprint
'fp'
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from saosim.core.state import NodeState, State
from saosim.errors import SaosimError
from saosim.inputs.history import History
from saosim.inputs.runs import read_runs
from saosim.inputs.schema import TABLES, validate
from saosim.live.locks import DEFAULT_LOCK_TIMEOUT_S, LockMethods, default_holder, host_name
from saosim.live.store_tables import (
    CREATE,
    DECISIONS_SCHEMA,
    FINGERPRINT_CACHE_SCHEMA,
    PLANS_SCHEMA,
    SHADOW_SCHEMA,
)

if TYPE_CHECKING:
    from saosim.core.planner import Plan
    from saosim.inputs.history import History

__all__ = ["STORE_FORMAT", "StateStore", "StoreBusyError", "default_holder", "default_store_path"]

#: Layout version written to the ``meta`` table; a different one is refused.
STORE_FORMAT = 1
_LOCK_BUSY = ("Could not set lock", "Conflicting lock", "database is locked")
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class StoreBusyError(SaosimError):
    """Another process kept the state store open for longer than the timeout."""


def default_store_path(project_dir: str | Path) -> Path:
    """``<project_dir>/.saosim/state.duckdb``.

    >>> default_store_path("proj").as_posix()
    'proj/.saosim/state.duckdb'
    """
    return Path(project_dir) / ".saosim" / "state.duckdb"


class StateStore(LockMethods):
    """A DuckDB state store file (created on first use).

    Args:
        path: the DuckDB file; see :func:`default_store_path`.
        timeout_s: how long an operation waits for another process to close the file.
        lock_timeout_s: how long a lock holder's heartbeat may be silent before its locks are
            released (a holder on this host whose process is gone is released at once).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = 30.0,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.lock_timeout_s = lock_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCKS_GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(self.path.resolve(), threading.Lock())
        with self._transaction() as con:
            for statement in CREATE:
                con.execute(statement)
            row = con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('format', ?)", [str(STORE_FORMAT)])
            elif row[0] != str(STORE_FORMAT):
                raise SaosimError(
                    f"{self.path}: state store format {row[0]} is not {STORE_FORMAT}; "
                    "move the file aside to start a new store"
                )

    @classmethod
    def for_project(cls, project_dir: str | Path, **kwargs: Any) -> StateStore:
        """The store at :func:`default_store_path` of a dbt project folder."""
        return cls(default_store_path(project_dir), **kwargs)

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r})"

    # -- connections ------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.timeout_s
        pause = 0.01
        with self._thread_lock:
            while True:
                try:
                    con = duckdb.connect(str(self.path))
                    break
                except duckdb.IOException as exc:
                    if not any(m in str(exc) for m in _LOCK_BUSY):
                        raise
                    if time.monotonic() > deadline:
                        raise StoreBusyError(
                            f"{self.path}: another process kept the state store open for "
                            f"{self.timeout_s:.0f} s; try again, or raise timeout_s"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.25)
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _frame(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        with self._connect() as con:
            return con.sql(query, params=params).pl()

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        con.register("_saosim_rows", frame)
        try:
            columns = ", ".join(frame.columns)
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _saosim_rows")
        finally:
            con.unregister("_saosim_rows")

    # -- state --------------------------------------------------------------------------------
    def load_state(self) -> State:
        """The last committed state (empty for a new store)."""
        frame = self._frame("SELECT * FROM node_state ORDER BY unique_id")
        return State.from_frame(frame, path=str(self.path))

    def save_state(self, state: State) -> None:
        """Replace the stored state with ``state``, in one transaction."""
        with self._transaction() as con:
            self._write_state(con, state)

    def _write_state(self, con: duckdb.DuckDBPyConnection, state: State) -> None:
        con.execute("DELETE FROM node_state")
        self._insert(con, "node_state", state.to_frame())

    # -- plans ----------------------------------------------------------------------------------
    def record_plan(
        self,
        plan: Plan,
        *,
        job_id: str | None = None,
        selection: str | None = None,
        created_at: datetime | None = None,
        holder: str | None = None,
        status: str = "finished",
    ) -> str:
        """Store a plan and all its decisions; returns the new plan id.

        A plan about to be built is recorded ``running`` with its ``holder`` (this process's);
        recording its run marks it ``finished``, and if the holder dies first it becomes
        ``abandoned``.
        """
        plan_id = uuid.uuid4().hex
        created = created_at or datetime.now(UTC)
        running = status == "running"
        options = json.dumps(asdict(plan.options), sort_keys=True, default=str)
        head = pl.DataFrame(
            [
                [plan_id],
                [plan.at],
                [str(plan.profile)],
                [options],
                [job_id],
                [selection],
                [created],
                [status],
                [holder or default_holder() if running else holder],
                [host_name() if running else None],
                [os.getpid() if running else None],
                [None if running else created],
            ],
            schema=PLANS_SCHEMA,
        )
        decisions = plan.to_frame().with_columns(
            pl.lit(plan_id).alias("plan_id"),
            pl.int_range(pl.len(), dtype=pl.Int32).alias("position"),
            pl.col("action").cast(pl.String),
            pl.col("reason").cast(pl.String),
            pl.col("profile").cast(pl.String),
        )
        with self._transaction() as con:
            self._insert(con, "plans", head)
            self._insert(con, "decisions", decisions.select(list(DECISIONS_SCHEMA)))
        return plan_id

    def end_plan(self, plan_id: str, status: str = "finished") -> None:
        """Mark a running plan ``finished`` or ``failed`` (a plan already ended keeps its
        status)."""
        with self._transaction() as con:
            con.execute(
                "UPDATE plans SET status = ?, ended_at = ? WHERE plan_id = ? "
                "AND status = 'running'",
                [status, datetime.now(UTC), plan_id],
            )

    def plans(self) -> pl.DataFrame:
        """Every stored plan, oldest first."""
        return self._frame("SELECT * FROM plans ORDER BY created_at, plan_id")

    def decisions(self, plan_id: str | None = None) -> pl.DataFrame:
        """Decisions of one plan (or of all), in the plan's order of nodes."""
        if plan_id is None:
            return self._frame(
                "SELECT d.* FROM decisions d JOIN plans p USING (plan_id) "
                "ORDER BY p.created_at, d.plan_id, d.position"
            )
        return self._frame("SELECT * FROM decisions WHERE plan_id = ? ORDER BY position", [plan_id])

    # -- runs -----------------------------------------------------------------------------------
    def record_run(
        self,
        run_results: str | Path,
        *,
        plan_id: str | None = None,
        job_id: str | None = None,
        state: State | None = None,
        holder: str | None = None,
        updates: Mapping[str, NodeState] | None = None,
        time_shift: timedelta | None = None,
    ) -> str:
        """Import a ``run_results.json`` into ``runs``/``node_runs``; returns its run id.

        In the same transaction it links the run to ``plan_id``, replaces the state with
        ``state`` (the plan applied to this run's outcome) — or, with ``updates``, replaces only
        those nodes' entries of the state as stored now, so concurrent runs that touched other
        nodes keep theirs — and releases ``holder``'s locks (default: this process and
        thread's), so a crash leaves either all of it or none. ``time_shift`` moves every
        timestamp of the run (a run planned on a given clock is recorded on that clock).
        """

        history = read_runs(run_results)
        runs, node_runs = history.runs, history.node_runs
        if time_shift:
            runs = runs.with_columns(pl.col("started_at", "finished_at") + time_shift)
            node_runs = node_runs.with_columns(pl.col("started_at", "completed_at") + time_shift)
        if job_id is not None:
            runs = runs.with_columns(pl.lit(job_id).alias("job_id"))
        run_id = runs.get_column("run_id")[0]
        with self._transaction() as con:
            con.execute("DELETE FROM node_runs WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            self._insert(con, "runs", validate(runs, "runs"))
            self._insert(con, "node_runs", validate(node_runs, "node_runs"))
            if plan_id is not None:
                con.execute(
                    "INSERT INTO plan_runs VALUES (?, ?) ON CONFLICT DO NOTHING", [plan_id, run_id]
                )
                con.execute(
                    "UPDATE plans SET status = 'finished', ended_at = ? WHERE plan_id = ?",
                    [datetime.now(UTC), plan_id],
                )
            if state is not None:
                self._write_state(con, state)
            if updates:
                self._merge_state(con, updates)
            con.execute("DELETE FROM locks WHERE holder = ?", [holder or default_holder()])
        return run_id

    def update_state(self, updates: Mapping[str, NodeState]) -> None:
        """Replace only these nodes' entries of the stored state, in one transaction."""
        with self._transaction() as con:
            self._merge_state(con, updates)

    def _merge_state(
        self, con: duckdb.DuckDBPyConnection, updates: Mapping[str, NodeState]
    ) -> None:
        ids = sorted(updates)
        con.execute("DELETE FROM node_state WHERE list_contains(?, unique_id)", [ids])
        self._insert(con, "node_state", State(dict(updates)).to_frame())

    def runs(self) -> pl.DataFrame:
        """The canonical ``runs`` table of every recorded run."""
        return validate(self._frame("SELECT * FROM runs ORDER BY started_at, run_id"), "runs")

    def node_runs(self, run_id: str | None = None) -> pl.DataFrame:
        """The canonical ``node_runs`` table (of one run, or of all)."""
        where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", None)
        query = f"SELECT * FROM node_runs {where} ORDER BY run_id, started_at, unique_id"
        frame = self._frame(query, params)
        return validate(frame, "node_runs")

    # -- source arrivals ------------------------------------------------------------------------
    def record_source_versions(
        self,
        versions: Mapping[str, datetime],
        *,
        observed_at: datetime | None = None,
        how: str = "loaded_at_field",
    ) -> int:
        """Record source data versions read from the warehouse; returns how many were new.

        A version is an arrival only when it is later than every one stored for that source
        (the same value read again, or an older one, is not new data). Together with ``runs``
        and ``node_runs`` this makes the store a history the simulator can replay.
        """
        observed = observed_at or datetime.now(UTC)
        with self._transaction() as con:
            latest = dict(
                con.execute(
                    "SELECT unique_id, max(arrived_at) FROM source_arrivals GROUP BY unique_id"
                ).fetchall()
            )
            new = {
                uid: at
                for uid, at in sorted(versions.items())
                if uid not in latest or at > latest[uid]
            }
            frame = pl.DataFrame(
                {
                    "unique_id": list(new),
                    "arrived_at": list(new.values()),
                    "observed_at": [observed] * len(new),
                    "how": [how] * len(new),
                },
                schema=TABLES["source_arrivals"],
            )
            self._insert(con, "source_arrivals", validate(frame, "source_arrivals"))
        return len(new)

    def add_arrivals(self, arrivals: pl.DataFrame) -> int:
        """Add rows of a canonical ``source_arrivals`` table (from ``saosim arrivals``); a
        ``(source, arrived_at)`` pair stored already is kept as it is. Returns how many were new."""
        frame = validate(arrivals, "source_arrivals")
        with self._transaction() as con:
            con.register("_saosim_rows", frame)
            try:
                added = con.execute(
                    "INSERT INTO source_arrivals SELECT unique_id, arrived_at, observed_at, how "
                    "FROM _saosim_rows ON CONFLICT DO NOTHING"
                ).fetchone()[0]
            finally:
                con.unregister("_saosim_rows")
        return int(added)

    def get_meta(self, key: str) -> str | None:
        """A value kept in the store's ``meta`` table (``None`` when absent)."""
        with self._connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the ``meta`` table (``format`` is the store's own)."""
        assert key != "format"
        with self._transaction() as con:
            con.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                [key, value, value],
            )

    def source_arrivals(self) -> pl.DataFrame:
        """The canonical ``source_arrivals`` table of every recorded arrival."""
        frame = self._frame("SELECT * FROM source_arrivals ORDER BY arrived_at, unique_id")
        return validate(frame, "source_arrivals")

    def history(self) -> History:
        """Recorded runs, node runs and source arrivals as a :class:`History`, ready to become
        an :class:`~saosim.inputs.estate.Estate` with the project and replayed by the simulator."""

        return History(
            runs=self.runs(),
            node_runs=self.node_runs(),
            source_arrivals=self.source_arrivals(),
            code_changes=self.code_changes(),
        )

    # -- code changes and the fingerprint cache -----------------------------------------------
    def record_code_changes(
        self, fingerprints: Mapping[str, tuple[str | None, str]], *, at: datetime
    ) -> int:
        """Record ``{unique_id: (checksum, fingerprint)}`` where the fingerprint differs from
        the last one recorded for that node (a first sighting is recorded too); returns how
        many rows were added."""
        with self._transaction() as con:
            last = dict(
                con.execute(
                    "SELECT unique_id, arg_max(fingerprint, changed_at) FROM code_changes "
                    "GROUP BY unique_id"
                ).fetchall()
            )
            new = {u: v for u, v in sorted(fingerprints.items()) if last.get(u) != v[1]}
            frame = pl.DataFrame(
                {
                    "unique_id": list(new),
                    "changed_at": [at] * len(new),
                    "checksum": [v[0] for v in new.values()],
                    "fingerprint": [v[1] for v in new.values()],
                },
                schema=TABLES["code_changes"],
            )
            con.execute(
                "DELETE FROM code_changes WHERE changed_at = ? AND list_contains(?, unique_id)",
                [at, list(new)],
            )
            self._insert(con, "code_changes", validate(frame, "code_changes"))
        return len(new)

    def code_changes(self) -> pl.DataFrame:
        """The canonical ``code_changes`` table of every recorded change."""
        frame = self._frame("SELECT * FROM code_changes ORDER BY changed_at, unique_id")
        return validate(frame, "code_changes")

    def cached_fingerprints(self, keys: Iterable[str]) -> dict[str, str]:
        """``{key: fingerprint}`` for the keys the cache holds."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        with self._connect() as con:
            con.register("_saosim_keys", pl.DataFrame({"key": wanted}))
            rows = con.execute(
                "SELECT c.key, c.fingerprint FROM fingerprint_cache c "
                "JOIN _saosim_keys k USING (key)"
            ).fetchall()
        return dict(rows)

    def cache_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Add ``{key: fingerprint}`` to the cache (a key already there keeps its value)."""
        if not fingerprints:
            return
        frame = pl.DataFrame(
            {"key": list(fingerprints), "fingerprint": list(fingerprints.values())},
            schema=FINGERPRINT_CACHE_SCHEMA,
        )
        with self._transaction() as con:
            con.register("_saosim_rows", frame)
            try:
                con.execute(
                    "INSERT INTO fingerprint_cache SELECT * FROM _saosim_rows "
                    "ON CONFLICT DO NOTHING"
                )
            finally:
                con.unregister("_saosim_rows")

    # -- shadow runs --------------------------------------------------------------------------
    def record_shadow(self, rows: pl.DataFrame) -> None:
        """Store the rows of one shadow run (columns of :data:`SHADOW_SCHEMA`)."""
        with self._transaction() as con:
            self._insert(con, "shadow", rows.select(list(SHADOW_SCHEMA)).cast(SHADOW_SCHEMA))

    def shadow(self) -> pl.DataFrame:
        """Every shadow-run row, oldest run first."""
        return self._frame("SELECT * FROM shadow ORDER BY run_at, plan_id, unique_id")
