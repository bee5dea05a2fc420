"""``kill -9`` inside a dbt build, on DuckDB and on PostgreSQL: the dead run's locks do not hold
the next run up, plain ``saosim plan`` never shows its nodes as in flight, its recorded plan is
``abandoned``, and a new ``--execute`` proceeds at once and builds what the dead run did not
finish.

The model that is building when the process dies is ``slow_orders``, added to the copy of the
example: with ``SAOSIM_TEST_SLOW=1`` its pre-hook runs for minutes (``pg_sleep`` on PostgreSQL, a
huge ``range`` on DuckDB); without it, the model is an ordinary table. The kill comes once dbt's
own log says that model has started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import saosim.live as live
from saosim.cli import app
from saosim.live.store import StateStore
from tests.pg_server import Warehouse, example_on, postgres_server  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 2, tzinfo=UTC)
SLOW_MODEL = """\
{{ config(pre_hook=(
    ["select pg_sleep(600)" if target.type == "postgres"
     else "select sum(x) from range(1000000000000) as t(x)"]
    if env_var("SAOSIM_TEST_SLOW", "0") == "1" else []
)) }}

select order_id, customer_id, loaded_at
from {{ ref('stg_orders') }}
"""


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest, tmp_path: Path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    with example_on(request.param, tmp_path, server) as warehouse:
        (warehouse.project_dir / "models/marts/core/slow_orders.sql").write_text(SLOW_MODEL)
        yield warehouse


def _started(log: Path, model: str) -> bool:
    if not log.is_file():
        return False
    return any("START" in line and model in line for line in log.read_text().splitlines())


def _kill_inside_the_build(wh: Warehouse, at: datetime) -> int:
    """Run ``saosim plan --execute`` in a subprocess and SIGKILL it once dbt is building
    slow_orders; returns the dead process's pid."""
    log = wh.project_dir / "logs" / "dbt.log"
    log.unlink(missing_ok=True)
    target = ["--target", wh.target] if wh.target else []
    env = {**os.environ, "SAOSIM_TEST_SLOW": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "saosim", "plan", str(wh.project_dir), "--execute"]
    proc = subprocess.Popen(
        [*cmd, "--at", at.isoformat(), *target],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not _started(log, "slow_orders"):
        assert proc.poll() is None, f"saosim ended before the build: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "dbt never started slow_orders"
        time.sleep(0.2)
    time.sleep(1.0)  # inside the model's pre-hook now
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # killed inside the build: dbt had started the model and not finished it
    lines = [line for line in log.read_text().splitlines() if "slow_orders" in line]
    assert not any(" OK " in line or "ERROR" in line for line in lines), lines
    return proc.pid


def _terminate_sleeping_backends(wh: Warehouse) -> None:
    # the server keeps a dead client's statement running until it next talks to the socket
    if wh.server is not None:
        wh.query(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where query like '%pg_sleep%' and pid <> pg_backend_pid()"
        )


def test_kill_9_inside_the_build_does_not_hold_up_the_next_run(wh: Warehouse) -> None:
    first = live.plan(wh.project_dir, at=T0, target=wh.target).execute()
    assert first.counts()["failed"] == 0
    orders = wh.count("main.slow_orders")
    assert orders == wh.count("raw.orders") == 240
    wh.land_rows("shop.orders", 4, T0 + timedelta(hours=24))

    dead_pid = _kill_inside_the_build(wh, T0 + timedelta(hours=25))
    _terminate_sleeping_backends(wh)
    store = StateStore.for_project(wh.project_dir)
    # the dead run's locks are still in the table, with its pid …
    held = store.locks()
    assert held.height > 0 and set(held.get_column("pid")) == {dead_pid}
    killed = store.plans().filter(store.plans().get_column("status") == "running")
    assert killed.height == 1
    killed_id = killed.get_column("plan_id")[0]
    decisions = store.decisions(killed_id)
    killed_builds = set(decisions.filter(decisions.get_column("action") == "build")["unique_id"])
    assert "model.jaffle_duckdb.slow_orders" in killed_builds

    # … plain `saosim plan` does not show them in flight, and marks the plan abandoned
    target = ["--target", wh.target] if wh.target else []
    at = (T0 + timedelta(hours=25)).isoformat()
    cli = CliRunner().invoke(
        app, ["plan", str(wh.project_dir), "--at", at, "--format", "json", *target]
    )
    assert cli.exit_code == 0, cli.output
    rows = json.loads(cli.stdout)
    assert not [r for r in rows if r["reason"] == "in_flight_elsewhere"]
    assert {r["node"] for r in rows if r["action"] == "build"} == killed_builds
    statuses = dict(store.plans().select("plan_id", "status").iter_rows())
    assert statuses[killed_id] == "abandoned"
    assert store.locks().height == 0

    # a new --execute proceeds at once and builds what the dead run did not finish
    started = time.perf_counter()
    again = live.plan(wh.project_dir, at=T0 + timedelta(hours=25), target=wh.target)
    done = again.execute(wait_timeout_s=30)
    elapsed = time.perf_counter() - started
    assert done.waits == 0
    assert set(again.built) == killed_builds
    assert done.counts()["failed"] == 0 and done.counts()["skipped"] == 0
    assert done.statuses["model.jaffle_duckdb.slow_orders"] == "success"
    assert wh.count("main.slow_orders") == orders + 4
    assert wh.count("main.stg_orders") == orders + 4
    statuses = dict(store.plans().select("plan_id", "status").iter_rows())
    assert statuses[killed_id] == "abandoned" and statuses[done.plan_id] == "finished"
    print(f"\n{wh.name}: re-execute after kill -9 took {elapsed:.1f} s (no wait)")
