"""Build locks that survive a crash: who holds them, whether that holder still lives.

Every lock row records its holder's host and pid and a heartbeat the holder refreshes while dbt
runs (:class:`Heartbeat`). Before anyone reads or takes locks, :func:`reap` releases the locks of
holders that are gone:

- a holder on this host whose pid no longer exists (or is a zombie) is released at once — a
  ``kill -9`` during a build frees its nodes for the next run immediately;
- any holder whose heartbeat is older than the lock timeout (default 10 minutes) is released —
  the only way to tell that a holder on another host died.

The plans those holders were running are marked ``abandoned`` in the same transaction, so the
store never shows a run that will not finish as in flight.

>>> pid_alive(os.getpid())
True
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from saosim.live.store_tables import LOCKS_SCHEMA

__all__ = [
    "DEFAULT_LOCK_TIMEOUT_S",
    "Heartbeat",
    "LockMethods",
    "ReapedHolder",
    "default_holder",
    "host_name",
    "pid_alive",
    "reap",
]

#: How long a holder's heartbeat may be silent before its locks are released (10 minutes).
DEFAULT_LOCK_TIMEOUT_S = 600.0
#: Plan statuses in the store: ``running`` while its build runs, ``finished`` once recorded
#: (with or without a dbt run), ``failed`` when dbt itself could not run, ``abandoned`` when
#: its holder died or was unlocked by hand.
PLAN_STATUSES = ("running", "finished", "failed", "abandoned")


def default_holder() -> str:
    """A lock holder name unique to this process and thread: ``host:pid:thread``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def host_name() -> str:
    """This machine's host name, as lock rows record it."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as dead).

    >>> pid_alive(2**22 + 12345)  # above Linux's pid_max
    False
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    except OverflowError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        # field 3, after the parenthesised command name: Z = zombie (dead, not yet reaped)
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@dataclass(frozen=True, slots=True)
class ReapedHolder:
    """A holder whose locks were released, and why (``pid_gone``, ``heartbeat_timeout`` or
    ``unlocked``)."""

    holder: str
    host: str | None
    pid: int | None
    nodes: int
    why: str
    heartbeat_at: datetime | None = None


def _why(
    host: str | None,
    pid: int | None,
    heartbeat_at: datetime | None,
    now: datetime,
    timeout_s: float,
    alive: Callable[[int], bool],
) -> str | None:
    if host == host_name() and pid is not None and not alive(pid):
        return "pid_gone"
    if heartbeat_at is not None and heartbeat_at + timedelta(seconds=timeout_s) <= now:
        return "heartbeat_timeout"
    return None


def reap(
    con: Any,
    *,
    now: datetime,
    timeout_s: float,
    everyone: bool = False,
    alive: Callable[[int], bool] = pid_alive,
) -> list[ReapedHolder]:
    """Release the locks of dead holders (every holder with ``everyone``), in the caller's
    transaction, and mark their running plans ``abandoned``; returns who was released."""
    rows = con.execute(
        "SELECT holder, any_value(host), any_value(pid), max(heartbeat_at), count(*) "
        "FROM locks GROUP BY holder ORDER BY holder"
    ).fetchall()
    reaped = []
    for holder, host, pid, beat, nodes in rows:
        why = "unlocked" if everyone else _why(host, pid, beat, now, timeout_s, alive)
        if why is not None:
            reaped.append(ReapedHolder(holder, host, pid, int(nodes), why, beat))
    # a running plan whose holder holds no lock and is gone (its locks were already reaped)
    running = con.execute(
        "SELECT DISTINCT holder, host, pid FROM plans WHERE status = 'running' "
        "AND holder IS NOT NULL AND holder NOT IN (SELECT holder FROM locks)"
    ).fetchall()
    orphans = [
        h
        for h, host, pid in running
        if everyone or (host == host_name() and pid is not None and not alive(pid))
    ]
    gone = [r.holder for r in reaped] + orphans
    if gone:
        con.execute("DELETE FROM locks WHERE list_contains(?, holder)", [gone])
        con.execute(
            "UPDATE plans SET status = 'abandoned', ended_at = ? "
            "WHERE status = 'running' AND list_contains(?, holder)",
            [now, gone],
        )
    return reaped


class Heartbeat:
    """A daemon thread refreshing a holder's heartbeat every ``interval_s`` while a build runs.

    Use as a context manager around the build; ``beat`` is the store's refresh function.
    """

    def __init__(self, beat: Callable[[], object], *, interval_s: float) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="saosim-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._beat()
            except Exception:  # a busy store: the next beat tries again
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class LockMethods:
    """The lock methods of :class:`saosim.live.store.StateStore` (a mixin: it needs the
    store's ``_transaction``, ``_frame``, ``_insert`` and ``lock_timeout_s``)."""

    lock_timeout_s: float
    # what the store provides (declared for type checkers only)
    _transaction: Callable[[], AbstractContextManager[Any]]
    _frame: Callable[..., pl.DataFrame]
    _insert: Callable[[Any, str, pl.DataFrame], None]

    def acquire(
        self,
        unique_ids: Iterable[str],
        *,
        holder: str | None = None,
        ttl_s: float | None = None,
        at: datetime | None = None,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Lock nodes for building, after releasing the locks of holders that died.

        Args:
            unique_ids: the nodes to lock.
            holder: who builds them (default this process and thread, :func:`default_holder`).
            ttl_s: the lock timeout (default the store's ``lock_timeout_s``): the heartbeat
                (:meth:`heartbeat`) must come within it or others may take the nodes.
            at: the time now (tests).

        Returns:
            ``(acquired, held_elsewhere)``: the nodes now locked by ``holder`` (including ones it
            held already), and those another holder is building — pass these to the planner as
            ``in_flight``.
        """
        holder = holder or default_holder()
        now = at or datetime.now(UTC)
        wanted = sorted(set(unique_ids))
        if not wanted:
            return frozenset(), frozenset()
        timeout = self.lock_timeout_s if ttl_s is None else ttl_s
        with self._transaction() as con:
            reap(con, now=now, timeout_s=self.lock_timeout_s)
            con.execute("DELETE FROM locks WHERE expires_at <= ?", [now])
            rows = con.execute(
                "SELECT unique_id, holder FROM locks WHERE list_contains(?, unique_id)", [wanted]
            ).fetchall()
            elsewhere = frozenset(uid for uid, h in rows if h != holder)
            free = [uid for uid in wanted if uid not in elsewhere]
            n = len(free)
            frame = pl.DataFrame(
                {
                    "unique_id": free,
                    "holder": [holder] * n,
                    "acquired_at": [now] * n,
                    "expires_at": [now + timedelta(seconds=timeout)] * n,
                    "host": [host_name()] * n,
                    "pid": [os.getpid()] * n,
                    "heartbeat_at": [now] * n,
                },
                schema=LOCKS_SCHEMA,
            )
            con.execute(
                "DELETE FROM locks WHERE holder = ? AND list_contains(?, unique_id)",
                [holder, free],
            )
            self._insert(con, "locks", frame)
        return frozenset(free), elsewhere

    def heartbeat(self, *, holder: str | None = None, at: datetime | None = None) -> int:
        """Refresh ``holder``'s heartbeat (and push its locks' expiry out by the lock timeout);
        returns how many locks it holds."""
        now = at or datetime.now(UTC)
        with self._transaction() as con:
            return int(
                con.execute(
                    "UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE holder = ?",
                    [now, now + timedelta(seconds=self.lock_timeout_s), holder or default_holder()],
                ).fetchone()[0]
            )

    def release(self, *, holder: str | None = None, unique_ids: Iterable[str] | None = None) -> int:
        """Release ``holder``'s locks (all, or only ``unique_ids``); returns how many."""
        holder = holder or default_holder()
        with self._transaction() as con:
            if unique_ids is None:
                query, params = "DELETE FROM locks WHERE holder = ?", [holder]
            else:
                query = "DELETE FROM locks WHERE holder = ? AND list_contains(?, unique_id)"
                params = [holder, sorted(set(unique_ids))]
            return int(con.execute(query, params).fetchone()[0])

    def in_flight(self, *, at: datetime | None = None, holder: str | None = None) -> frozenset[str]:
        """Nodes other live holders are building now (dead holders are released first)."""
        now = at or datetime.now(UTC)
        me = holder or default_holder()
        with self._transaction() as con:
            reap(con, now=now, timeout_s=self.lock_timeout_s)
            rows = con.execute(
                "SELECT unique_id FROM locks WHERE expires_at > ? AND holder <> ?", [now, me]
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def unlock(self, *, everyone: bool = True, at: datetime | None = None) -> list[ReapedHolder]:
        """Release locks by hand: every holder's (default), or only dead holders' with
        ``everyone=False``; their running plans become ``abandoned``. Returns who was released."""
        with self._transaction() as con:
            return reap(
                con, now=at or datetime.now(UTC), timeout_s=self.lock_timeout_s, everyone=everyone
            )

    def locks(self) -> pl.DataFrame:
        """The ``locks`` table as it stands (dead holders included until someone reaps them)."""
        return self._frame("SELECT * FROM locks ORDER BY unique_id")
