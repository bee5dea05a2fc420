"""The planner's state at a moment of a replay, rebuilt from the scenario's decision log.

:func:`state_at` answers "what would the state store hold at time t if this scenario had run
for real?" — what :func:`saosim.plan` needs to plan the next run. It folds the decision log of
a :class:`~saosim.replay.comparison.Comparison` through the core's one state transition
(:func:`saosim.core.transition.snapshots`, the one :meth:`saosim.core.planner.Plan.apply` and
the compiled replay run), run by run, so no replay is repeated and no rule is written again.

Only what had finished by ``at`` counts: a build still running at ``at`` is not in the store.
Sources are read as the replay read them: at the time the job reached the node
(``reached_at``; the run's start with ``clock: run_start``).

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario, simulate
>>> cmp = simulate(synthetic_estate(n_models=30, days=1, seed=2), [Scenario("sao")])
>>> state = state_at(cmp, "sao")
>>> len(state) > 0
True
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from saosim.core import codes
from saosim.core.arrays import graph_arrays, project_index
from saosim.core.decision import Profile
from saosim.core.facts import NodeStates, new_clock, stamped_pair
from saosim.core.state import NodeState, State
from saosim.core.times import from_us
from saosim.core.transition import Snapshots, snapshots
from saosim.errors import ConfigError
from saosim.replay.timeline import Timeline

if TYPE_CHECKING:
    from saosim.replay.comparison import Comparison

__all__ = ["state_at"]

_ACTION = {"build": codes.BUILD, "run": codes.RUN}
_STATUS = {"success": codes.S_SUCCESS, "pass": codes.S_PASS, "warn": codes.S_PASS,
           "fail": codes.S_FAIL, "error": codes.S_ERROR}  # fmt: skip


def state_at(comparison: Comparison, scenario: str, at: datetime | None = None) -> State:
    """The state ``scenario``'s replay had at ``at`` (default: when its last build finished).

    Args:
        comparison: a replay (:func:`saosim.simulate`) with a history timeline.
        scenario: a scenario of it; profile ``baseline``, ``sao`` or ``orchestra`` (whose
            runs see every earlier run's builds at once; ``dbt_state``, whose builds become
            visible only when they finish, is refused).
        at: a timezone-aware time.

    Raises:
        ConfigError: unknown scenario, ``dbt_state`` profile, or a naive ``at``.
    """
    by_name = {s.name: s for s in comparison.scenarios}
    if scenario not in by_name:
        raise ConfigError(
            f"no scenario named {scenario!r}; the scenarios are {', '.join(by_name)}",
            field="scenario",
        )
    chosen = by_name[scenario]
    if chosen.profile is Profile.DBT_STATE:
        raise ConfigError(
            "state_at rebuilds states of baseline, sao and orchestra replays; a dbt_state "
            "build becomes visible only when it finishes, which a log cut at a time cannot "
            "replay in run order",
            field="scenario",
        )
    if at is not None and at.tzinfo is None:
        raise ConfigError(f"{at.isoformat()} has no time zone", field="at")
    log = _rows(comparison.decisions_of(scenario), at)
    if log.height == 0:
        return State.empty()
    estate = comparison.estate
    timeline = Timeline.from_estate(
        estate, jobs=chosen.jobs, start=comparison.start, end=comparison.end
    )
    at_node = chosen.options.clock != "run_start"
    return _fold(estate.project, timeline, log, at_node)


def _rows(log: pl.DataFrame, at: datetime | None) -> pl.DataFrame:
    """The builds and test runs finished by ``at``, in the replay's order of runs."""
    frame = log.filter(pl.col("action").cast(pl.String).is_in(list(_ACTION))).select(
        "run_id",
        "run_at",
        pl.col("unique_id").cast(pl.String),
        pl.col("action").cast(pl.String),
        pl.col("status").cast(pl.String),
        pl.coalesce("reached_at", "run_at").alias("reached_at"),
        "finished_at",
    )
    if at is not None:
        frame = frame.filter(pl.col("run_at") <= at, pl.col("finished_at") <= at)
    return frame.sort("run_at", pl.col("run_id").cast(pl.String), maintain_order=True)


def _fold(project, timeline: Timeline, log: pl.DataFrame, at_node: bool) -> State:
    """Every run of ``log`` through :func:`~saosim.core.transition.snapshots`, written in
    place (as a guarded replay does)."""
    order, pos = project.order, project.position
    n = len(order)
    graph = graph_arrays(project, None, Profile.SAO)
    n_edges = len(graph.eidx)
    none = np.full(n, codes.NONE, dtype=np.int64)
    st = NodeStates(np.zeros(n, np.bool_), none.copy(), np.full(n, -1, np.int64), none.copy(),
                    np.zeros(n, np.bool_), np.zeros(n, np.bool_),
                    np.full(n_edges, codes.NONE, np.int64))  # fmt: skip
    clock = new_clock(n)
    src_ptr, src_times = _arrival_csr(order, timeline.arrivals)
    sources = np.flatnonzero(np.diff(src_ptr) > 0)
    clock = clock._replace(src_ptr=src_ptr, src_times=src_times, src_next=src_ptr[:-1].copy())
    # ok_stamp and ok_fin interleaved, as the replay's loop passes them (one compiled layout)
    scratch = [*stamped_pair(n, 0), np.full(n, -1, np.int64), np.zeros(n, np.int64),
               np.zeros(n + 1, np.int64)]  # fmt: skip
    unused = Snapshots(*(np.zeros(0, np.int64) for _ in Snapshots._fields))
    act = np.full(n, -1, np.int64)
    status = np.zeros(n, np.int64)
    fin = np.zeros(n, np.int64)
    # the run a node's state comes from: its fingerprint is that run's code, looked up once
    run_of = np.zeros(n, np.int64)
    node = np.fromiter((pos[u] for u in log["unique_id"]), np.int64, log.height)
    acts = np.fromiter((_ACTION[a] for a in log["action"]), np.int64, log.height)
    stats = np.fromiter((_STATUS.get(s, codes.S_NULL) for s in log["status"]), np.int64,
                        log.height)  # fmt: skip
    fins = log["finished_at"].dt.epoch("us").to_numpy()
    reads = (log["reached_at"] if at_node else log["run_at"]).dt.epoch("us").to_numpy()
    run_key = log.select(pl.struct("run_at", "run_id").rle_id()).to_series().to_numpy()
    bounds = np.flatnonzero(np.diff(run_key)) + 1
    starts = log["run_at"].dt.epoch("us").to_numpy()
    run_ats: list[int] = []
    for r, (lo, hi) in enumerate(zip([0, *bounds], [*bounds, log.height], strict=True)):
        begin = int(starts[lo])
        run_ats.append(begin)
        _sources_at(st.dv, clock, sources, begin)
        nodes = np.sort(node[lo:hi])
        rows = node[lo:hi]
        act[rows] = acts[lo:hi]
        status[rows] = stats[lo:hi]
        fin[rows] = fins[lo:hi]
        clock.read[rows] = reads[lo:hi]
        built = rows[(acts[lo:hi] == codes.RUN) | (stats[lo:hi] == codes.S_SUCCESS)]
        run_of[built] = r
        snapshots(r, nodes, act, status, run_of, fin, False, True, graph, st, clock, *scratch,
                  unused)  # fmt: skip
        act[rows] = -1
    return _state(project, timeline, st, run_ats)


def _arrival_csr(order: tuple[str, ...], arrivals: dict[str, np.ndarray]):
    counts = np.array([len(arrivals.get(u, ())) for u in order], dtype=np.int64)
    ptr = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    parts = [np.asarray(arrivals[u], np.int64) for u in order if len(arrivals.get(u, ()))]
    return ptr, (np.concatenate(parts) if parts else np.zeros(0, np.int64))


def _sources_at(dv: np.ndarray, clock, sources: np.ndarray, at_us: int) -> None:
    """A source's data version at a run's start is its last arrival by then; the clock's
    cursor points past it (what lands during the run counts at the node)."""
    ptr, times, nxt = clock.src_ptr, clock.src_times, clock.src_next
    for s in sources:
        k = ptr[s] + int(np.searchsorted(times[ptr[s] : ptr[s + 1]], at_us, side="right"))
        nxt[s] = k
        dv[s] = times[k - 1] if k > ptr[s] else codes.NONE


def _state(project, timeline: Timeline, st: NodeStates, run_ats: list[int]) -> State:
    order = project.order
    eptr, eidx = project_index(project).lists()
    fingerprints: dict[int, dict[str, str]] = {}
    nodes: dict[str, NodeState] = {}
    for x in np.flatnonzero(st.has).tolist():
        uid = order[x]
        r = int(st.fp[x])
        if r not in fingerprints:
            fingerprints[r] = timeline.fingerprints_at(from_us(run_ats[r]))
        node = project.nodes[uid]
        fp = fingerprints[r].get(uid, node.fingerprint or node.checksum)
        seen = {
            order[eidx[e]]: from_us(int(st.seen[e]))
            for e in range(eptr[x], eptr[x + 1])
            if st.seen[e] != codes.NONE
        }
        nodes[uid] = NodeState(from_us(int(st.built[x])), fp, seen, from_us(int(st.dv[x])),
                               True, bool(st.tf[x]))  # fmt: skip
    return State(nodes)
