"""Build locks that survive a crash: a dead holder on this host is released at once, a silent
one on another host after the heartbeat timeout; its running plan becomes ``abandoned``;
``saosim unlock`` clears by hand and says what it cleared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.core.planner import plan
from saosim.core.state import State
from saosim.live.locks import Heartbeat, pid_alive
from saosim.live.store import StateStore
from saosim.project.graph import Project

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
NODES = ["model.p.stg", "model.p.fct"]

_HOLDER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from saosim.core.planner import plan
    from saosim.core.state import State
    from saosim.live.store import StateStore, default_holder
    from saosim.project.graph import Project

    store = StateStore(sys.argv[1])
    made = plan(Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]}, name="p"),
                State.empty(), at=datetime(2025, 1, 1, tzinfo=UTC), source_versions={})
    store.acquire(["model.p.stg", "model.p.fct"])
    store.record_plan(made, holder=default_holder(), status="running")
    print("holding", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _plan():
    return plan(
        Project.from_spec({"raw.a": [], "stg": ["raw.a"]}, name="p"),
        State.empty(),
        at=T0,
        source_versions={},
    )


def test_pid_alive_sees_a_killed_child_as_dead_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # a zombie until waited for: dead all the same
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())


@pytest.mark.slow
def test_a_holder_killed_on_this_host_is_released_at_once_and_its_plan_abandoned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _HOLDER, str(path)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL and "holding" in done.stdout, done.stderr
    store = StateStore(path)
    # the dead process's rows are still in the table, with its host and pid …
    held = store.locks()
    assert sorted(held.get_column("unique_id")) == sorted(NODES)
    assert set(held.get_column("pid")) == {held.get_column("pid")[0]} != {os.getpid()}
    assert store.plans().get_column("status").to_list() == ["running"]
    # … but no one is told they are in flight, well before any timeout
    assert store.in_flight() == frozenset()
    assert store.locks().height == 0
    assert store.plans().get_column("status").to_list() == ["abandoned"]
    assert store.acquire(NODES, holder="next") == (frozenset(NODES), frozenset())


def _move_to_another_host(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE locks SET host = 'build-box-2', pid = 1")
        con.execute("UPDATE plans SET host = 'build-box-2', pid = 1")


def test_a_holder_on_another_host_is_released_after_the_heartbeat_timeout(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    store = StateStore(path, lock_timeout_s=120)
    store.acquire(NODES, holder="remote", at=T0)
    store.record_plan(_plan(), holder="remote", status="running")
    _move_to_another_host(path)
    # pid 1 exists here, but on another host a pid says nothing: only the heartbeat counts
    assert store.in_flight(at=T0 + timedelta(seconds=60)) == frozenset(NODES)
    store.heartbeat(holder="remote", at=T0 + timedelta(seconds=100))
    assert store.in_flight(at=T0 + timedelta(seconds=200)) == frozenset(NODES)
    assert store.plans().get_column("status").to_list() == ["running"]
    # silent for longer than the timeout: released, and its plan abandoned
    assert store.in_flight(at=T0 + timedelta(seconds=221)) == frozenset()
    assert store.plans().get_column("status").to_list() == ["abandoned"]


def test_the_default_lock_timeout_is_ten_minutes(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    store = StateStore(path)
    store.acquire(NODES, holder="remote", at=T0)
    _move_to_another_host(path)
    assert store.in_flight(at=T0 + timedelta(minutes=9, seconds=59)) == frozenset(NODES)
    assert store.in_flight(at=T0 + timedelta(minutes=10)) == frozenset()


def test_the_heartbeat_thread_keeps_a_long_build_locked(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    store = StateStore(path, lock_timeout_s=1.0)
    store.acquire(NODES, holder="builder")
    _move_to_another_host(path)  # so only the heartbeat can keep it
    with Heartbeat(lambda: store.heartbeat(holder="builder"), interval_s=0.1):
        time.sleep(2.0)  # twice the timeout
        assert store.in_flight() == frozenset(NODES)
    time.sleep(1.2)
    assert store.in_flight() == frozenset()


def test_a_finished_plan_is_never_abandoned(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.duckdb")
    plan_id = store.record_plan(_plan(), holder="me", status="running")
    store.end_plan(plan_id)
    assert store.unlock() == []
    assert store.plans().get_column("status").to_list() == ["finished"]


def test_unlock_clears_by_hand_and_says_what_it_cleared(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".saosim").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\n")
    store = StateStore.for_project(project)
    store.acquire(NODES, holder="stuck-run")
    store.record_plan(_plan(), holder="stuck-run", status="running")
    out = CliRunner().invoke(app, ["unlock", str(project)])
    assert out.exit_code == 0, out.output
    assert "released 2 lock(s) of stuck-run" in out.output
    assert f"pid {os.getpid()}" in out.output
    assert store.locks().height == 0
    assert store.plans().get_column("status").to_list() == ["abandoned"]
    again = CliRunner().invoke(app, ["unlock", str(project)])
    assert again.exit_code == 0 and "no locks were held" in again.output


def test_unlock_dead_only_keeps_live_holders(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.duckdb")
    store.acquire(NODES, holder="alive-here")
    assert store.unlock(everyone=False) == []
    assert store.locks().height == 2
    (released,) = store.unlock()
    assert (released.holder, released.nodes, released.why) == ("alive-here", 2, "unlocked")
