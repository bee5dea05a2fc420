"""Scenario files on the compiled replay: the same runs, events and state, through the kernel.

:func:`replay_scenario_fast` turns a :class:`~saosim.replay.scenario_file.ScenarioFile` into the
kernel's arrays — the jobs' cron runs and selections, arrivals (from the base version on),
code changes as fingerprint ids (the same identities the plain replay computes), failures,
dropped tables, in-flight builds, the initial state, a profile per job — and runs the compiled
loop. Builds are instantaneous and free, as in the plain scenario replay, so times and dollars
are the runs' own.

>>> from saosim.replay.scenario_file import parse_scenario_file
>>> s = parse_scenario_file({
...     "project": {"sources": ["raw.a"], "models": [{"name": "m", "parents": ["raw.a"]}]},
...     "events": [{"at": "2025-01-01T00:10:00Z", "arrival": "raw.a"}],
...     "jobs": [{"name": "hourly", "cron": "0 * * * *"}],
...     "window": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T03:00:00Z"},
... })
>>> [(r["node"], r["reason"]) for r in replay_scenario_fast(s, s.profile, s.options)]
[('m', 'never_built'), ('m', 'new_upstream_data'), ('m', 'no_new_data')]
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from saosim.core import codes
from saosim.core.arrays import graph_arrays, project_index
from saosim.core.decision import Profile, ProfileOptions, parse_profile
from saosim.core.planner import options_record
from saosim.core.times import from_us, to_us
from saosim.cost.rates import TIB
from saosim.replay.kernel.compile import (
    KernelInputs,
    _csr,
    empty_state,
    project_fields,
    unknown_selection,
)
from saosim.replay.kernel.fast import _run
from saosim.replay.kernel.log import full_log_ids
from saosim.replay.scenario_parse import code_identity

if TYPE_CHECKING:
    from saosim.replay.scenario_file import ScenarioFile

__all__ = ["fast_engine_gap", "replay_scenario_fast"]


def fast_engine_gap(scenario: ScenarioFile, profile: Profile) -> str | None:
    """Why the compiled replay cannot run ``scenario`` under ``profile`` (None: it can).

    It runs one profile's rule parameters (windows, tolerances, orchestra's inherited
    windows) for every run, so a job may only use that profile or ``baseline``, which reads
    none of them.
    """
    for job in scenario.jobs:
        own = parse_profile(job.profile) if job.profile else profile
        if own is profile or own is Profile.BASELINE:
            continue
        return (
            f"job {job.name!r} runs profile {own.value} in a {profile.value} scenario; "
            "the compiled replay runs one profile (and baseline jobs beside it)"
        )
    return None


def _times(groups: dict[int, list[int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    return _csr([sorted(groups.get(i, [])) for i in range(n)], np.int64)


def compile_scenario(
    scenario: ScenarioFile, profile: Profile, options: ProfileOptions
) -> tuple[KernelInputs, list[tuple[datetime, str]]]:
    """The kernel's arrays for ``scenario``, and each run's time and job name."""
    project = scenario.project
    order, pos = project.order, project.position
    n = len(order)
    index = project_index(project)
    graph = graph_arrays(project, scenario.freshness, profile, options)
    decided = [pos[u] for u in index.order]
    flags = graph.flags.copy()
    flags[decided] |= codes.F_FIXED  # instantaneous and free builds
    runs = scenario.runs()
    # selections: one slice per job, shared by its runs
    slices: dict[str, tuple[int, int]] = {}
    parts: list[np.ndarray] = []
    offset = 0
    for job in scenario.jobs:
        chosen = index.selected(project, job.select, job.exclude)
        nodes = np.array(sorted(pos[u] for u in chosen), dtype=np.uint32)
        slices[job.name] = (offset, offset + len(nodes))
        offset += len(nodes)
        parts.append(nodes)
    sel_node = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
    # the timeline's events, as the plain replay applies them
    events = sorted(scenario.events, key=lambda e: e.at)
    base = to_us(scenario.base_version())
    arrivals: dict[int, list[int]] = {}
    for ev in events:
        if ev.kind == "arrival":
            arrivals.setdefault(pos[ev.node_id], []).append(to_us(ev.at))
    for uid in scenario.metadata_sources:
        times = arrivals.setdefault(pos[uid], [])
        if not times or min(times) > base:
            times.append(base)  # the version before the first arrival
    changes: dict[int, list[int]] = {}
    values: dict[int, list[int]] = {}
    names = {u: node.name for u, node in project.nodes.items()}
    versions: dict[str, int] = {}
    sql = dict(scenario._sql)
    ids: dict[str, dict[str | None, int]] = {}
    failures: dict[int, list[int]] = {}
    drops: dict[int, list[int]] = {}
    held: dict[int, list[int]] = {}
    for ev in events:
        i = pos[ev.node_id]
        if ev.kind == "code_change" and not ev.cosmetic:
            versions[ev.node_id] = versions.get(ev.node_id, 0) + 1
            if ev.sql is not None:
                sql[ev.node_id] = ev.sql
            identity = code_identity(
                names[ev.node_id], versions[ev.node_id], sql.get(ev.node_id), project.dialect
            )
            known = ids.setdefault(ev.node_id, {scenario.fingerprints.get(ev.node_id): 0})
            changes.setdefault(i, []).append(to_us(ev.at))
            values.setdefault(i, []).append(known.setdefault(identity, len(known)))
        elif ev.kind == "failure":
            failures.setdefault(i, []).append(to_us(ev.at))
        elif ev.kind == "table_dropped":
            drops.setdefault(i, []).append(to_us(ev.at))
        elif ev.kind == "in_flight":
            held.setdefault(i, []).append(to_us(ev.at))
    aptr, atimes = _times(arrivals, n)
    cptr, ctimes = _csr([changes.get(i, []) for i in range(n)], np.int64)
    cvals = np.array([v for i in range(n) for v in values.get(i, [])], dtype=np.int64)
    fptr, ftimes = _times(failures, n)
    xptr, xtimes = _times(drops, n)
    iptr, itimes = _times(held, n)
    flags[np.diff(cptr) > 0] |= codes.F_CHANGES
    flags[np.diff(fptr) > 0] |= codes.F_FAILS
    zeros = np.zeros(n)
    ki = KernelInputs(
        **project_fields(project, graph, flags),
        cptr=cptr,
        ctimes=ctimes,
        cvals=cvals,
        aptr=aptr,
        atimes=atimes,
        fptr=fptr,
        ftimes=ftimes,
        sources=np.flatnonzero(flags & codes.F_SOURCE).astype(np.uint32),
        run_ids=tuple(str(k) for k in range(len(runs))),
        job_ids=tuple(job.name for _, job in runs),
        run_at=np.array([to_us(at) for at, _ in runs], dtype=np.int64),
        run_full_refresh=np.array([job.full_refresh for _, job in runs], dtype=np.bool_),
        run_profile=np.array(
            [codes.PROFILES.index(job.profile or profile.value) for _, job in runs],
            dtype=np.int64,
        ),
        run_sel_start=np.array([slices[job.name][0] for _, job in runs], dtype=np.int64),
        run_sel_end=np.array([slices[job.name][1] for _, job in runs], dtype=np.int64),
        run_out_start=np.cumsum(
            [0] + [slices[job.name][1] - slices[job.name][0] for _, job in runs]
        ).astype(np.int64),
        **unknown_selection(sel_node),
        rt_a=zeros,
        rt_b=zeros,
        rt_typ=zeros,
        use_a=zeros,
        use_b=zeros,
        use_typ=zeros,
        fix_rt=zeros,
        fix_cost=zeros,
        fix_us=np.zeros(n, dtype=np.int64),
        options=options_record(profile, options),
        initial=_initial_state(scenario, n, graph.eptr, graph.eidx),
        xptr=xptr,
        xtimes=xtimes,
        iptr=iptr,
        itimes=itimes,
        basis=0,
        fparams=np.array([1.0, 0.0, 0.0, float(TIB)]),
        threads=0,
        at_node=options.clock == "node",
    )
    return ki, [(at, job.name) for at, job in runs]


def _initial_state(scenario: ScenarioFile, n: int, eptr: np.ndarray, eidx: np.ndarray):
    """The scenario's ``initial_state`` as arrays (fingerprint id 0: the node's own code)."""
    project = scenario.project
    st = empty_state(n, len(eidx))
    pos = project.position
    for uid, ns in scenario.state_at_start().nodes.items():
        i = pos[uid]
        st.has[i] = True
        st.built[i] = to_us(ns.built_at)
        st.dv[i] = to_us(ns.data_version)
        st.tf[i] = ns.tests_failed
        st.exists[i] = ns.table_exists
        for e in range(eptr[i], eptr[i + 1]):
            seen = ns.seen_versions.get(project.order[eidx[e]])
            if seen is not None:
                st.seen[e] = to_us(seen)
    return st


def replay_scenario_fast(
    scenario: ScenarioFile, profile: Profile, options: ProfileOptions
) -> list[dict[str, object]]:
    """The rows of :func:`saosim.replay.scenario_file.replay_scenario`, from the compiled loop."""
    k, runs = compile_scenario(scenario, profile, options)
    act, rsn, status, start, end, _rt, cost, *_ = _run(k, False, np.zeros(1, dtype=np.int64))
    run, node = full_log_ids(k, 0, len(act))
    order = scenario.project.order
    names = {u: n.name for u, n in scenario.project.nodes.items()}
    rows = []
    for j in range(len(act)):
        at, job = runs[int(run[j])]
        uid = order[int(node[j])]
        rows.append(
            {
                "run_at": at,
                "job": job,
                "node": names[uid],
                "action": codes.ACTIONS[int(act[j])],
                "reason": codes.REASONS[int(rsn[j])],
                "unique_id": uid,
                "detail": "",
                "started_at": from_us(int(start[j])),
                "finished_at": from_us(int(end[j])),
                "cost_usd": float(cost[j]),
                "status": codes.STATUSES[int(status[j])] or None,
            }
        )
    return rows
