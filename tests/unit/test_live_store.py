"""The DuckDB state store: state, plans and runs round-trip; writes are atomic under a kill;
locks keep two holders (threads or processes) from building one node at once."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from saosim.core.planner import plan
from saosim.core.state import NodeState, State
from saosim.errors import SaosimError
from saosim.inputs.runs import read_runs
from saosim.live.store import StateStore, default_store_path
from saosim.project.graph import Project

REPO = Path(__file__).resolve().parents[2]
RUN_RESULTS = (
    REPO / "tests/fixtures/artifacts/runs_tree/hourly/2026-01-05T07/target/run_results.json"
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _state(n: int, at: datetime) -> State:
    return State(
        {
            f"model.p.m{i:05d}": NodeState(at, f"fp{i}", {"source.p.raw.a": at - timedelta(1)}, at)
            for i in range(n)
        }
    )


def test_state_round_trips_and_save_replaces(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s" / "state.duckdb")
    assert store.load_state() == State.empty()
    first = _state(3, T0)
    store.save_state(first)
    assert store.load_state() == first
    second = State({"model.p.other": NodeState(T0, None, {}, T0, tests_failed=True)})
    store.save_state(second)
    assert StateStore(store.path).load_state() == second  # a new handle reads the same


def test_default_path_is_beside_the_project(tmp_path: Path) -> None:
    store = StateStore.for_project(tmp_path)
    assert store.path == default_store_path(tmp_path) == tmp_path / ".saosim" / "state.duckdb"
    assert store.path.is_file()


def test_plan_and_its_decisions_are_recorded(tmp_path: Path) -> None:
    project = Project.from_spec({"raw.orders": [], "stg": ["raw.orders"], "fct": ["stg"]})
    made = plan(project, State.empty(), at=T0, source_versions={"source.demo.raw.orders": T0})
    store = StateStore(tmp_path / "state.duckdb")
    plan_id = store.record_plan(made, job_id="hourly", selection="stg+")
    plans = store.plans()
    assert plans.select("plan_id", "profile", "job_id", "selection").row(0) == (
        plan_id,
        "sao",
        "hourly",
        "stg+",
    )
    assert plans.get_column("run_at")[0] == T0
    stored = store.decisions(plan_id)
    expected = made.to_frame()
    assert stored.get_column("unique_id").to_list() == expected.get_column("unique_id").to_list()
    assert (
        stored.get_column("reason").to_list()
        == expected.get_column("reason").cast(pl.String).to_list()
    )
    second = store.record_plan(made)
    assert store.decisions().get_column("plan_id").to_list() == [plan_id] * len(made.decisions) + [
        second
    ] * len(made.decisions)


def test_run_results_become_canonical_runs_with_state_and_locks_in_one_step(
    tmp_path: Path,
) -> None:
    if not RUN_RESULTS.is_file():
        pytest.skip(f"fixture {RUN_RESULTS} is missing")
    store = StateStore(tmp_path / "state.duckdb")
    expected = read_runs(RUN_RESULTS)
    run_id = expected.runs.get_column("run_id")[0]
    store.acquire(["model.x.a", "model.x.b"], holder="me", at=T0)
    new_state = _state(2, T0)
    got = store.record_run(RUN_RESULTS, plan_id="p1", job_id="hourly", state=new_state, holder="me")
    assert got == run_id
    assert store.runs().get_column("job_id").to_list() == ["hourly"]
    assert store.node_runs(run_id).sort("unique_id").equals(expected.node_runs.sort("unique_id"))
    assert store.load_state() == new_state
    assert store.locks().height == 0
    # recording the same run again replaces it rather than duplicating it
    store.record_run(RUN_RESULTS)
    assert store.runs().height == 1
    assert store.node_runs().height == expected.node_runs.height


def test_a_newer_store_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    StateStore(path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
    with pytest.raises(SaosimError, match="format 99"):
        StateStore(path)


def test_locks_exclude_other_holders_until_released_or_expired(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.duckdb")
    got, busy = store.acquire(["a", "b"], holder="job1", at=T0, ttl_s=3600)
    assert (got, busy) == ({"a", "b"}, set())
    got, busy = store.acquire(["b", "c"], holder="job2", at=T0)
    assert (got, busy) == ({"c"}, {"b"})
    assert store.in_flight(at=T0, holder="job2") == {"a", "b"}
    # re-acquiring what one holds already is fine
    assert store.acquire(["a"], holder="job1", at=T0)[0] == {"a"}
    assert store.release(holder="job1", unique_ids=["a"]) == 1
    assert store.acquire(["a"], holder="job2", at=T0) == ({"a"}, set())
    # job1 went silent holding b: after its lock timeout, b is free again; job2, whose
    # heartbeat kept coming, keeps its nodes
    later = T0 + timedelta(hours=2)
    assert store.heartbeat(holder="job2", at=later - timedelta(minutes=1)) == 2
    assert store.acquire(["b"], holder="job2", at=later) == ({"b"}, set())
    assert store.release(holder="job2") == 3


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from saosim.live.store import StateStore
    from saosim.core.state import NodeState, State

    store = StateStore(sys.argv[1])
    for version in range(1, 10_000):
        at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=version)
        nodes = {f"model.p.m{i:05d}": NodeState(at, f"v{version}", {}, at) for i in range(3000)}
        store.save_state(State(nodes))
        print(version, flush=True)
    """
)


@pytest.mark.slow
def test_a_kill_mid_write_leaves_the_last_committed_state_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    for delay_s in (0.05, 0.23, 0.41):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = proc.stdout.readline()  # at least one state committed
        assert first.strip().isdigit(), first
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = StateStore(path).load_state()
        assert len(state) == 3000
        fingerprints = {n.fingerprint for n in state.nodes.values()}
        built = {n.built_at for n in state.nodes.values()}
        assert len(fingerprints) == 1 and len(built) == 1, (fingerprints, built)


_RACER = textwrap.dedent(
    """
    import sys, time
    from saosim.live.store import StateStore

    store = StateStore(sys.argv[1])
    me, log = sys.argv[2], open(sys.argv[3], "a")
    held = 0
    while held < 8:
        got, _ = store.acquire(["model.p.shared"], holder=me)
        if got:
            log.write(f"start {time.monotonic()}\\n"); log.flush()
            time.sleep(0.02)
            log.write(f"end {time.monotonic()}\\n"); log.flush()
            store.release(holder=me)
            held += 1
    """
)


@pytest.mark.slow
def test_two_processes_never_hold_the_same_node_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    StateStore(path)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACER, str(path), name, str(log)], cwd=REPO)
        for name, log in zip(("a", "b"), logs, strict=True)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    intervals = []
    for log in logs:
        stamps = [float(line.split()[1]) for line in log.read_text().splitlines()]
        intervals += list(zip(stamps[::2], stamps[1::2], strict=True))
    assert len(intervals) == 16
    intervals.sort()
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, "two holders built the shared node at the same time"


def test_source_versions_are_recorded_as_arrivals_only_when_they_advance(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.duckdb")
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    assert store.record_source_versions({"source.p.a": T0, "source.p.b": T0}, observed_at=t1) == 2
    # a re-read of the same versions, and an older one, are not arrivals
    assert store.record_source_versions({"source.p.a": T0, "source.p.b": T0}, observed_at=t2) == 0
    assert store.record_source_versions({"source.p.a": t1, "source.p.b": T0 - timedelta(1)}) == 1
    arrivals = store.source_arrivals()
    assert arrivals.select("unique_id", "arrived_at").rows() == [
        ("source.p.a", T0),
        ("source.p.b", T0),
        ("source.p.a", t1),
    ]
    assert set(arrivals.get_column("how")) == {"loaded_at_field"}


def test_threads_racing_for_one_node_get_it_once(tmp_path: Path) -> None:
    import threading

    store = StateStore(tmp_path / "state.duckdb")
    winners: list[str] = []
    start = threading.Barrier(4)

    def race(name: str) -> None:
        start.wait()
        got, _ = store.acquire(["model.p.shared"], holder=name, at=T0)
        if got:
            winners.append(name)

    threads = [threading.Thread(target=race, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.locks().get_column("holder").to_list() == winners
