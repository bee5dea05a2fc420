"""Compile step of the fast replay: project + timeline + scenario → flat numpy arrays.

Everything the run loop (:mod:`saosim.replay.kernel.loop`) reads is an int/float array indexed
by the node's position in ``project.order`` (topological), parents as CSR (``ptr``, ``idx``)
and times as int64 microseconds since the epoch, so the loop never touches a Python object
(PERF-NOTES: CSR parents and one version array shared by sources and models).

The project's part — flags, effective and direct parents, freshness parameters — is the
planner's own :class:`~saosim.core.facts.Graph` (:func:`saosim.core.arrays.graph_arrays`), so
both engines decide from the same arrays; this step adds the timeline, the runs' selections
and the costs.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario
>>> from saosim.replay.timeline import Timeline
>>> from saosim.cost.runtime import fit_costs
>>> est = synthetic_estate(n_models=20, days=1, seed=3)
>>> k = compile_replay(est, Scenario("sao", "sao"), Timeline.from_estate(est), fit_costs(est))
>>> int(k.run_sel_end[-1]) == len(k.sel_node)
True
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from saosim.core.arrays import graph_arrays, project_index
from saosim.core.codes import (
    F_CHANGES,
    F_FAILS,
    F_FIXED,
    F_SOURCE,
    F_UNBILLED,
    F_VIEW,
    NONE,
    PROFILES,
    STATUSES,
)
from saosim.core.decision import Profile
from saosim.core.facts import Graph, NodeStates, Options
from saosim.core.planner import options_record
from saosim.core.schedule import threads_of
from saosim.cost.rates import TIB
from saosim.cost.segments import argsort_pairs
from saosim.replay import timeline as timeline_module
from saosim.replay.timeline import (
    RunSpec,
    Timeline,
    history_codes,
    history_gaps,
    history_starts,
    history_worked_at,
    to_us,
)

if TYPE_CHECKING:
    from saosim.cost.runtime import BuildCosts
    from saosim.inputs.estate import Estate
    from saosim.project.graph import Project
    from saosim.replay.engine import Scenario

__all__ = ["KernelInputs", "compile_replay", "compile_shared", "empty_state", "shared_runs"]

_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
BASIS_CODE = {"runtime": 0, "bytes": 1, "history": 2}


@dataclass(frozen=True, eq=False)
class KernelInputs:
    """Flat arrays of one scenario's replay (see the module docstring)."""

    node_ids: tuple[str, ...]
    flags: np.ndarray  # int32 per node
    window_s: np.ndarray  # float64: build_after window (orchestra: after inheritance)
    tol_s: np.ndarray  # float64: dbt_state lag tolerance
    eptr: np.ndarray  # effective data parents (sorted by id, ephemerals replaced)
    eidx: np.ndarray
    dptr: np.ndarray  # direct data parents as dbt lists them (orchestra)
    didx: np.ndarray
    d2e: np.ndarray  # int64: the effective edge of the same parent (-1: none)
    decided: np.ndarray  # uint32: every node the planner decides, topological order
    rptr: np.ndarray  # what a run finishes before reaching a node (Project.run_parents)
    ridx: np.ndarray
    rtest: np.ndarray
    cptr: np.ndarray  # code-change times per node
    ctimes: np.ndarray
    cvals: np.ndarray  # int64: the fingerprint id from that change on (0: the node's first)
    aptr: np.ndarray  # arrival times per source
    atimes: np.ndarray
    fptr: np.ndarray  # historical failure times per node (cron what-if only)
    ftimes: np.ndarray
    sources: np.ndarray  # uint32 node index of every source
    # runs
    run_ids: tuple[str, ...]
    job_ids: tuple[str, ...]
    run_at: np.ndarray  # int64 µs
    run_full_refresh: np.ndarray  # bool
    run_profile: np.ndarray  # int64 profile code of each run (a job may not be state-aware)
    run_sel_start: np.ndarray  # int64 into the sel_* arrays
    run_sel_end: np.ndarray
    run_out_start: np.ndarray  # int64: first decision-log row of each run
    # selected nodes of each run (history runs: one slice each; cron jobs: shared)
    sel_node: np.ndarray  # uint32, topological order within a slice
    sel_failing: np.ndarray  # bool: fails in this run if built (history)
    sel_test_status: np.ndarray  # uint8 status code a test had in the history (0: pass)
    sel_known: np.ndarray  # bool: the history has this node run
    sel_rt: np.ndarray  # float64: history runtime (NaN: none)
    sel_start: np.ndarray  # int64 µs: when the history started it (NONE: not a history run)
    sel_gap: np.ndarray  # float64: history gap since the previous successful build
    sel_bytes: np.ndarray  # float64 (NaN: none; empty: none known at all)
    sel_cost: np.ndarray  # float64 (NaN: none; empty: none known at all)
    # costs
    rt_a: np.ndarray
    rt_b: np.ndarray
    rt_typ: np.ndarray
    use_a: np.ndarray
    use_b: np.ndarray
    use_typ: np.ndarray
    fix_rt: np.ndarray  # float64: runtime of an F_FIXED node off the history
    fix_cost: np.ndarray  # float64: its price
    fix_us: np.ndarray  # int64: its runtime as timedelta microseconds
    # the profile and its options; the cost basis and rates
    options: Options
    #: the state before the first run
    initial: NodeStates
    xptr: np.ndarray  # times a node's relation is dropped from the warehouse
    xtimes: np.ndarray
    iptr: np.ndarray  # times a node is held in another job's build (scenario files)
    itimes: np.ndarray
    basis: int
    fparams: np.ndarray  # float64
    threads: int = 0  # dbt threads of a run (0: as many as it needs)
    at_node: bool = True  # the rules judge a node when the run reaches it (clock: node)

    @property
    def graph(self) -> Graph:
        """The project as the core's rules read it."""
        return Graph(
            self.flags, self.window_s, self.tol_s, self.eptr, self.eidx, self.dptr, self.didx,
            self.d2e, self.rptr, self.ridx, self.rtest,
        )  # fmt: skip

    @property
    def n_rows(self) -> int:
        return int(self.run_out_start[-1]) if len(self.run_out_start) else 0


def _csr(groups: list[list[int]] | list[np.ndarray], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(g) for g in groups], dtype=np.int64)
    ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    flat = (
        np.concatenate([np.asarray(g, dtype=dtype) for g in groups])
        if len(groups) and ptr[-1]
        else np.zeros(0, dtype=dtype)
    )
    return ptr, flat.astype(dtype, copy=False)


def _times_csr(order: tuple[str, ...], times: dict[str, np.ndarray]) -> tuple:
    empty = np.zeros(0, dtype=np.int64)
    return _csr([times.get(u, empty) for u in order], np.int64)


def compile_replay(
    estate: Estate, scenario: Scenario, timeline: Timeline, costs: BuildCosts
) -> KernelInputs:
    """Flatten one scenario's replay into :class:`KernelInputs`."""
    project = estate.project
    order = project.order
    profile = Profile(scenario.profile)
    cfg = scenario.resolve_freshness(estate)
    opts = scenario.options
    model = costs.cost_model
    graph = graph_arrays(project, cfg, profile, opts)
    flags = graph.flags.copy()
    if not model.bills_views(profile.value):
        flags[(flags & F_VIEW) != 0] |= F_UNBILLED
    n = len(order)
    times = _memo(estate, timeline, "kernel_times", _timeline_times)
    flags[np.diff(times["cptr"]) > 0] |= F_CHANGES
    flags[np.diff(times["fptr"]) > 0] |= F_FAILS
    sources = np.array([i for i in range(n) if flags[i] & F_SOURCE], dtype=np.uint32)
    runs = dict(shared_runs(estate, timeline))
    runs["run_profile"] = np.full(timeline.n_runs, PROFILES.index(profile.value), np.int64)
    use = costs.usage
    fparams = np.array(
        [model.concurrency, model.usd_per_second, model.usd_per_tib, float(TIB)], dtype=np.float64
    )
    rt = costs.runtime
    fixed = _fixed_costs(flags, rt, use, model)
    return KernelInputs(
        **project_fields(project, graph, flags),
        **times,
        sources=sources,
        **runs,
        rt_a=np.ascontiguousarray(rt.a_s, dtype=np.float64),
        rt_b=np.ascontiguousarray(rt.b_s_per_hour, dtype=np.float64),
        rt_typ=np.ascontiguousarray(rt.typical_gap_s, dtype=np.float64),
        use_a=np.ascontiguousarray(use.a_s if use is not None else np.zeros(n), dtype=np.float64),
        use_b=np.ascontiguousarray(
            use.b_s_per_hour if use is not None else np.zeros(n), dtype=np.float64
        ),
        use_typ=np.ascontiguousarray(
            use.typical_gap_s if use is not None else np.zeros(n), dtype=np.float64
        ),
        **fixed,
        options=options_record(profile, opts),
        initial=empty_state(n, len(graph.eidx)),
        xptr=np.zeros(n + 1, dtype=np.int64),
        xtimes=np.zeros(0, dtype=np.int64),
        iptr=np.zeros(n + 1, dtype=np.int64),
        itimes=np.zeros(0, dtype=np.int64),
        basis=BASIS_CODE[model.basis],
        fparams=fparams,
        threads=threads_of(model),
        at_node=opts.clock == "node",
    )


def shared_runs(estate: Estate, timeline: Timeline) -> dict[str, object]:
    """The runs' part of :class:`KernelInputs` (the history's node runs of every run, the
    what-if runs' selections), compiled once per timeline and estate: every scenario of a
    comparison, and the recommender's candidates, replay the same runs. Read-only arrays.

    >>> from saosim.synth.estate import synthetic_estate
    >>> est = synthetic_estate(n_models=20, days=1, seed=3)
    >>> tl = Timeline.from_estate(est)
    >>> shared_runs(est, tl) is shared_runs(est, tl)
    True
    """
    return _memo(estate, timeline, "kernel_runs", _compile_runs)


def compile_shared(estate: Estate, timeline: Timeline) -> None:
    """Compile what every scenario on ``timeline`` shares (its runs and the estate's change,
    failure and arrival times), so that :func:`compile_replay` finds it done.
    :func:`saosim.replay.engine.simulate` runs it on one core while the cost model is fitted on
    the other: the two are the largest steps before a replay, and independent.

    >>> from saosim.synth.estate import synthetic_estate
    >>> est = synthetic_estate(n_models=20, days=1, seed=3)
    >>> tl = Timeline.from_estate(est)
    >>> compile_shared(est, tl)
    >>> sorted(tl.memo)
    ['kernel_runs', 'kernel_times']
    """
    _memo(estate, timeline, "kernel_times", _timeline_times)
    shared_runs(estate, timeline)


def _memo(
    estate: Estate,
    timeline: Timeline,
    name: str,
    build: Callable[[Estate, Timeline], dict[str, Any]],
) -> dict[str, Any]:
    """``build(estate, timeline)``, once per timeline and estate, its arrays made read-only:
    every scenario replayed on the timeline reads the same ones, so none may write to them."""
    # Valid to keep: a Timeline never changes after construction, nor do an estate's frames
    # (polars frames are values). The estate is checked by identity, its frames included, so a
    # timeline replayed against another estate, or one whose tables were replaced, compiles
    # afresh. The estate is held weakly (the memo does not keep it alive), its frames strongly
    # (they are the estate's own: no copy), so an identity is never that of a freed object.
    inputs = estate.history_identity
    cached = timeline.memo.get(name)
    if (
        isinstance(cached, tuple)
        and cached[0]() is estate
        and all(a is b for a, b in zip(cached[1], inputs, strict=True))
    ):
        return cached[2]
    out = build(estate, timeline)
    for value in out.values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    timeline.memo[name] = (weakref.ref(estate), inputs, out)
    return out


def _timeline_times(estate: Estate, timeline: Timeline) -> dict[str, np.ndarray]:
    """Code changes (with each change's version), arrivals and, for a what-if, the history's
    failures: per node, as CSR."""
    order = estate.project.order
    cptr, ctimes = _times_csr(order, timeline.code_changes)
    aptr, atimes = _times_csr(order, timeline.arrivals)
    fail_times: dict[str, np.ndarray] = {}
    if not all(r.from_history for r in timeline.heads):
        fail_times = _failure_times(estate)
    fptr, ftimes = _times_csr(order, fail_times)
    cvals = np.concatenate(
        [np.arange(1, cptr[i + 1] - cptr[i] + 1, dtype=np.int64) for i in range(len(order))]
        or [np.zeros(0, dtype=np.int64)]
    )
    return {
        "cptr": cptr,
        "ctimes": ctimes,
        "cvals": cvals,
        "aptr": aptr,
        "atimes": atimes,
        "fptr": fptr,
        "ftimes": ftimes,
    }


def project_fields(project: Project, graph: Graph, flags: np.ndarray) -> dict[str, object]:
    """The project's part of :class:`KernelInputs`: the planner's graph with the replay's
    flags, the decided nodes, and each node's decided parents (for start times)."""
    index = project_index(project)
    pos = project.position
    return {
        "node_ids": project.order,
        "flags": flags,
        "window_s": graph.window_s,
        "tol_s": graph.tol_s,
        "eptr": graph.eptr,
        "eidx": graph.eidx,
        "dptr": graph.dptr,
        "didx": graph.didx,
        "d2e": graph.d2e,
        "decided": np.array([pos[u] for u in index.order], dtype=np.uint32),
        "rptr": graph.rptr,
        "ridx": graph.ridx,
        "rtest": graph.rtest,
    }


def empty_state(n_nodes: int, n_edges: int) -> NodeStates:
    """A state in which nothing was ever built (every relation would exist)."""
    return NodeStates(
        np.zeros(n_nodes, dtype=np.bool_),
        np.full(n_nodes, NONE, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.int64),
        np.full(n_nodes, NONE, dtype=np.int64),
        np.zeros(n_nodes, dtype=np.bool_),
        np.ones(n_nodes, dtype=np.bool_),
        np.full(n_edges, NONE, dtype=np.int64),
    )


def _fixed_costs(flags: np.ndarray, rt, use, model) -> dict[str, np.ndarray]:
    """Runtime, price and duration of nodes whose fitted runtime has no gap term (and whose
    price has none either), as the loop would compute them at every build; sets F_FIXED."""
    fix_rt = np.maximum(rt.a_s.astype(np.float64) + 0.0, 0.0)
    if model.basis == "runtime":
        fix_cost = fix_rt / model.concurrency * model.usd_per_second
        fixed = rt.b_s_per_hour == 0
    else:
        used = np.maximum(use.a_s.astype(np.float64) + 0.0, 0.0)
        fix_cost = used / float(TIB) * model.usd_per_tib if model.basis == "bytes" else used
        fixed = (rt.b_s_per_hour == 0) & (use.b_s_per_hour == 0)
    unbilled = (flags & F_UNBILLED) != 0
    fix_cost = np.where(unbilled, 0.0, fix_cost)
    fixed &= np.isfinite(fix_rt) & np.isfinite(fix_cost)
    flags[fixed] |= F_FIXED
    one_us = timedelta(microseconds=1)
    fix_us = np.array(
        [
            timedelta(seconds=float(x)) // one_us if ok else 0
            for x, ok in zip(fix_rt, fixed, strict=True)
        ],
        dtype=np.int64,
    )
    return {"fix_rt": fix_rt, "fix_cost": fix_cost, "fix_us": fix_us}


def _failure_times(estate: Estate) -> dict[str, np.ndarray]:
    """Per node, the sorted run start times of its historical failures (the cron what-if's
    failure queue, as :class:`saosim.replay.plain._FailureQueue` reads them)."""
    failed = (
        estate.scan_node_runs()
        .filter(pl.col("status").is_in(("error", "runtime error")))
        .join(
            estate.runs.lazy().select("run_id", pl.col("started_at").alias("run_at")), on="run_id"
        )
        .group_by("unique_id")
        .agg(pl.col("run_at").dt.epoch("us").sort())
        .collect()
    )
    return {
        u: np.asarray(t, dtype=np.int64)
        for u, t in zip(failed["unique_id"], failed["run_at"].to_list(), strict=True)
    }


def _compile_runs(estate: Estate, timeline: Timeline) -> dict[str, Any]:
    pos = estate.project.position
    decided = set(project_index(estate.project).order)
    runs = timeline.heads  # a history's selections are read column-wise, not run by run
    n_runs = len(runs)
    run_at = np.array([to_us(r.at) for r in runs], dtype=np.int64)
    full = np.array([r.full_refresh for r in runs], dtype=np.bool_)
    starts = np.zeros(n_runs, dtype=np.int64)
    ends = np.zeros(n_runs, dtype=np.int64)
    parts: list[dict[str, np.ndarray]] = []
    offset = 0
    hist_index = {r.run_id: k for k, r in enumerate(runs) if r.from_history}
    if hist_index and estate.node_runs_count:
        part = _history_part(estate, hist_index, pos, decided)
        counts = np.bincount(part.pop("run"), minlength=n_runs)
        run_start = np.zeros(n_runs + 1, dtype=np.int64)
        np.cumsum(counts, out=run_start[1:])
        for k in hist_index.values():
            starts[k], ends[k] = run_start[k], run_start[k + 1]
        offset = int(run_start[-1])
        parts.append(part)
    shared: dict[int, tuple[int, int]] = {}
    for k, head in enumerate(runs):
        if head.from_history:
            continue
        spec = timeline.runs[k]
        # runs of one cron job share one selection; anything run-specific gets its own slice
        key = id(spec.selected) if not (spec.failing or spec.test_status) else -1 - k
        if key not in shared:
            part = _spec_part(spec, pos, decided)
            shared[key] = (offset, offset + len(part["sel_node"]))
            offset += len(part["sel_node"])
            parts.append(part)
        starts[k], ends[k] = shared[key]
    out: dict[str, object] = {}
    lengths = [len(p["sel_node"]) for p in parts]
    for name, dtype in _SEL_COLUMNS.items():
        # each column let go from its parts once joined (a year's history is gigabytes)
        columns = [p.pop(name) for p in parts]
        out[name] = _join_columns(name, columns, lengths, dtype)
        del columns
    out_start = np.zeros(n_runs + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=out_start[1:])
    out.update(
        run_ids=tuple(r.run_id for r in runs),
        job_ids=tuple(r.job_id for r in runs),
        run_at=run_at,
        run_full_refresh=full,
        run_profile=np.full(n_runs, -1, dtype=np.int64),
        run_sel_start=starts,
        run_sel_end=ends,
        run_out_start=out_start,
    )
    return out


def _join_columns(
    name: str, columns: list[np.ndarray | None], lengths: list[int], dtype: type
) -> np.ndarray:
    """One ``sel_*`` column from its parts, without a copy when there is one part. Bytes or
    cost the history does not have (a None part) are NaN, and a ``sel_bytes`` / ``sel_cost``
    that would be NaN throughout is empty, which the loop reads as "not known" (a year of
    NaN is 200 MB)."""
    if name in _OPTIONAL and all(c is None or np.isnan(c).all() for c in columns):
        return np.zeros(0, dtype=dtype)
    if len(columns) == 1 and columns[0] is not None:
        return columns[0].astype(dtype, copy=False)
    pairs = zip(columns, lengths, strict=True)
    filled = [c if c is not None else np.full(m, np.nan) for c, m in pairs]
    if not filled:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(filled).astype(dtype, copy=False)


_OPTIONAL = ("sel_bytes", "sel_cost")
_SEL_COLUMNS = {
    "sel_node": np.uint32,  # node indices unsigned, as the graph's (no wraparound code)
    "sel_failing": np.bool_,
    "sel_test_status": np.uint8,
    "sel_known": np.bool_,
    "sel_rt": np.float64,
    "sel_gap": np.float64,
    "sel_bytes": np.float64,
    "sel_cost": np.float64,
    "sel_start": np.int64,
}
_TEST_STATUS = ("pass", "fail", "warn", "error")


def _history_part(
    estate: Estate, hist_index: dict[str, int], pos: dict[str, int], decided: set[str]
) -> dict[str, np.ndarray | None]:
    """The node runs of every history run, as selected slices sorted by (run, node): a run
    of the history selects exactly the nodes it ran (``Timeline`` does the same).

    Column by column: each is made, put in slice order and let go before the next, so the
    year's node runs are never held twice (``sel_bytes`` / ``sel_cost`` are None when the
    history has no such column)."""
    project = estate.project
    is_decided = np.zeros(len(project.order), dtype=np.bool_)
    is_test = np.zeros(len(project.order), dtype=np.bool_)
    for u in decided:
        is_decided[pos[u]] = True
        is_test[pos[u]] = project.nodes[u].is_test
    # runs.row -> replay run index (-1: not replayed)
    run_of_row = np.full(estate.runs.height, -1, dtype=np.int32)
    row_of_run = dict(zip(estate.runs["run_id"], range(estate.runs.height), strict=True))
    for run_id, k in hist_index.items():
        run_of_row[row_of_run[run_id]] = k
    node, run_row = history_codes(estate)
    run = run_of_row[run_row]
    kept = np.flatnonzero((run >= 0) & is_decided[node])
    # row numbers in (run, node) order: the string columns never move (gathering tens of
    # millions of strings was most of this step), only the numbers each slice needs
    sel = kept[argsort_pairs(run[kept], node[kept])].astype(np.int32)  # 25 M rows: 100 MB less
    del kept
    part: dict[str, np.ndarray | None] = {"run": run[sel]}
    del run
    t_us = history_starts(estate, run_row)
    part["sel_gap"] = history_gaps(estate, node, run_row, t_us)[sel]
    del run_row
    part["sel_start"] = t_us[sel]
    del t_us
    part["sel_node"] = node = node[sel]
    test = is_test[node]
    # the status's class, a few million rows at a time (a whole categorical column replaced
    # at once made 600 MB)
    status = np.empty(len(sel), dtype=np.uint8)
    every_status = estate.node_runs_column("status")
    for lo in range(0, len(sel), timeline_module.GATHER_ROWS):
        at = pl.Series(sel[lo : lo + timeline_module.GATHER_ROWS])
        piece = every_status.gather(at)
        status[lo : lo + len(at)] = piece.replace_strict(
            _STATUS_CLASS, default=0, return_dtype=pl.UInt8
        ).to_numpy()
    part["sel_failing"] = np.where(test, _FAILS_TEST[status], _FAILS[status])
    part["sel_test_status"] = np.where(test, _TEST_CODE[status], 0).astype(np.uint8)
    del status, test
    part["sel_known"] = np.ones(len(sel), dtype=np.bool_)
    part["sel_rt"] = history_worked_at(estate, "execution_time_s", sel)
    if part["sel_rt"] is None:
        part["sel_rt"] = np.full(len(sel), np.nan)
    part["sel_bytes"] = history_worked_at(estate, "bytes_processed", sel)
    part["sel_cost"] = history_worked_at(estate, "cost", sel)
    return part


# a history status as a small code (0: any other): what a test's status is, and whether the
# node run failed (an error; for a data test a fail too)
_STATUS_CLASS = {s: k + 1 for k, s in enumerate(("pass", "fail", "warn", "error", "runtime error"))}
_TEST_CODE = np.array([0] + [_STATUS_CODE[s] if s in _TEST_STATUS else 0 for s in _STATUS_CLASS],
                      dtype=np.uint8)  # fmt: skip
_FAILS = np.array([False] + [s in ("error", "runtime error") for s in _STATUS_CLASS])
_FAILS_TEST = np.array([False] + [s in ("error", "runtime error", "fail") for s in _STATUS_CLASS])


def _spec_part(spec: RunSpec, pos: dict[str, int], decided: set[str]) -> dict[str, np.ndarray]:
    """A what-if run's selection (shared by every run of its job)."""
    nodes = np.sort(np.array([pos[u] for u in spec.selected if u in decided], dtype=np.uint32))
    m = len(nodes)
    fail = np.array(sorted(pos[u] for u in spec.failing if u in pos), dtype=np.int32)
    status = np.zeros(m, dtype=np.uint8)
    for uid, st in spec.test_status.items():
        j = int(np.searchsorted(nodes, pos.get(uid, -1)))
        if j < m and nodes[j] == pos.get(uid, -1):
            status[j] = _STATUS_CODE[st]
    return unknown_selection(nodes, failing=np.isin(nodes, fail), test_status=status)


def unknown_selection(
    nodes: np.ndarray,
    *,
    failing: np.ndarray | None = None,
    test_status: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The ``sel_*`` columns of selected ``nodes`` the history knows nothing about (a what-if
    or a scenario file's run): no runtime, bytes or cost of their own."""
    m = len(nodes)
    return {
        "sel_node": nodes,
        "sel_failing": failing if failing is not None else np.zeros(m, dtype=np.bool_),
        "sel_test_status": test_status if test_status is not None else np.zeros(m, np.uint8),
        "sel_known": np.zeros(m, dtype=np.bool_),
        "sel_rt": np.full(m, np.nan),
        "sel_gap": np.full(m, np.nan),
        "sel_bytes": np.full(m, np.nan),
        "sel_cost": np.full(m, np.nan),
        "sel_start": np.full(m, NONE, dtype=np.int64),
    }
