"""A throwaway PostgreSQL server for the live tests: ``initdb`` in a temporary folder,
``pg_ctl start`` on a free port, ``pg_ctl stop`` at teardown.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (created
by the Debian package; ``nobody`` when there is none) and its folder, under ``/tmp``, is handed
to that user. Tests that need the server skip,
with the reason, only when the PostgreSQL binaries are not installed (``.ci/run`` installs the
Debian package ``postgresql`` when missing).

Use in a test module::

    from tests.pg_server import postgres_server  # noqa: F401  (pytest fixture)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_SEARCH = ("/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))


def pg_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is absent."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += [Path(d) for d in _SEARCH]
    for folder in candidates:
        if (folder / "pg_ctl").is_file() and (folder / "initdb").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: connect as ``user`` (trust auth) to ``host:port``."""

    host: str
    port: int
    user: str
    data_dir: Path

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname)
        con.autocommit = True
        return con

    def create_database(self, prefix: str = "saosim") -> str:
        """A new empty database; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        con = self.connect()
        try:
            con.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return name

    def env(self, dbname: str) -> dict[str, str]:
        """The environment the example project's ``postgres`` target reads."""
        return {
            "SAOSIM_PG_HOST": self.host,
            "SAOSIM_PG_PORT": str(self.port),
            "SAOSIM_PG_USER": self.user,
            "SAOSIM_PG_DBNAME": dbname,
        }

    def dsn(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"


def _run_as(user: pwd.struct_passwd | None, args: list[str]) -> None:
    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout}")


def start_server() -> tuple[PostgresServer, Callable[[], None]]:
    """Start a server; returns it and the function that stops it."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl); apt-get install postgresql")
    run_as = None
    if os.geteuid() == 0:
        # PostgreSQL refuses root: run it as the Debian package's user, else as nobody
        for name in ("postgres", "nobody"):
            try:
                run_as = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if run_as is None:
            pytest.skip("running as root with neither a 'postgres' nor a 'nobody' user")
    # as another user, the folder must be reachable by it: /tmp, not root's own TMPDIR
    where = "/tmp" if run_as is not None and Path("/tmp").is_dir() else None
    base = Path(tempfile.mkdtemp(prefix="saosim-pg-", dir=where))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if run_as is not None:
        for path in (base, sockets):
            os.chown(path, run_as.pw_uid, run_as.pw_gid)
    user = "saosim"
    _run_as(run_as, [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust"])
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = base / "server.log"
    _run_as(
        run_as,
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
    )
    stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    server = PostgresServer("127.0.0.1", port, user, data)
    return server, lambda: _run_as(run_as, stop)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test session (per xdist worker), stopped at the end."""
    pytest.importorskip("psycopg2", reason="dbt-postgres (the dbt extra) is not installed")
    server, stop = start_server()
    try:
        yield server
    finally:
        stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@dataclass
class Warehouse:
    """A copy of the example project on one warehouse (its dbt target), with the loader and
    the row counts a test checks against."""

    name: str
    project_dir: Path
    #: the dbt target (``None``: the profile's default, DuckDB)
    target: str | None
    server: PostgresServer | None = None
    dbname: str | None = None

    def land(self, *args: str) -> str:
        from tests.live_fixtures import land

        extra = ["--postgres", self.server.dsn(self.dbname)] if self.server and self.dbname else []
        return land(self.project_dir, *args, *extra)

    def land_rows(self, table: str, rows: int, at: Any) -> str:
        return self.land(table, "--rows", str(rows), "--at", at.isoformat())

    def query(self, sql: str) -> list[tuple]:
        if self.server is not None and self.dbname is not None:
            con = self.server.connect(self.dbname)
            try:
                with con.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall()
            finally:
                con.close()
        import duckdb

        with duckdb.connect(str(self.project_dir / "jaffle.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()

    def execute(self, *statements: str) -> None:
        """Run statements that write (a loader's work), committed."""
        if self.server is not None and self.dbname is not None:
            con = self.server.connect(self.dbname)
            try:
                with con.cursor() as cur:
                    for sql in statements:
                        cur.execute(sql)
            finally:
                con.close()
            return
        import duckdb

        with duckdb.connect(str(self.project_dir / "jaffle.duckdb")) as con:
            for sql in statements:
                con.execute(sql)

    def count(self, relation: str) -> int:
        return int(self.query(f"select count(*) from {relation}")[0][0])

    def columns(self, relation: str) -> list[str]:
        schema, table = relation.split(".")
        rows = self.query(
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
        )
        return [r[0] for r in rows]


@contextmanager
def example_on(name: str, dest: Path, server: PostgresServer | None) -> Iterator[Warehouse]:
    """A fresh copy of the example project on ``duckdb`` or ``postgres`` (its raw tables
    loaded), with the environment the ``postgres`` target reads set while the block runs."""
    from tests.live_fixtures import copy_example

    project_dir = copy_example(dest)
    if name == "duckdb":
        wh = Warehouse(name, project_dir, None)
        wh.land("--init")
        yield wh
        return
    assert server is not None
    dbname = server.create_database("jaffle")
    wh = Warehouse(name, project_dir, "postgres", server, dbname)
    saved = {k: os.environ.get(k) for k in server.env(dbname)}
    os.environ.update(server.env(dbname))
    try:
        wh.land("--init")
        yield wh
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
