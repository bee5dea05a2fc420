"""Several job runs in a row, replayed through dbt-orchestra and through saosim side by side.

Between runs, data lands in sources, code is edited and tables are dropped; in a run some builds
fail. dbt-orchestra's state moves forward through its own ``update_state``/``save_state`` fed
the ``run_results.json`` dbt would write; saosim's through ``Plan.apply``. Each run's decisions
are compared, so a difference in how either side *remembers* a build shows up too.

>>> from hypothesis import find, settings
>>> tl = find(timelines(), lambda t: len(t.runs) >= 3, settings=settings(database=None))
>>> len(tl.runs)
3
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hypothesis import strategies as st

from tests.orchestra_harness import (
    T0,
    CaseNode,
    OrchestraProject,
    OrchestraResult,
    checksum,
    saosim_project,
    workdir,
)
from tests.orchestra_strategies import dags, one_in

__all__ = ["RunStep", "Timeline", "TimelineRun", "replay", "timelines"]


@dataclass(frozen=True)
class TimelineRun:
    """One job run and what happened just before it. Names, not unique ids."""

    at: datetime
    arrivals: Mapping[str, datetime]  # source → new max_loaded_at, after the previous run
    edits: frozenset[str] = frozenset()  # code edited since the previous run
    drops: frozenset[str] = frozenset()  # tables dropped since the previous run
    failing: frozenset[str] = frozenset()  # builds that fail in this run
    select: frozenset[str] | None = None
    full_refresh: bool = False


@dataclass(frozen=True)
class Timeline:
    nodes: tuple[CaseNode, ...]
    #: sources ``dbt source freshness`` has nothing for (no loaded_at_field, no metadata)
    no_info: frozenset[str]
    runs: tuple[TimelineRun, ...]
    seed_state_orchestration: bool = False
    verify_relations_exist: bool = True


@dataclass(frozen=True)
class RunStep:
    """Both verdicts for one run (saosim's as unique-id sets of the compared nodes)."""

    index: int
    run: TimelineRun
    orchestra: OrchestraResult
    built: frozenset[str]
    reused: frozenset[str]
    skipped: frozenset[str]
    reasons: Mapping[str, str]
    #: dbt's status for each node dbt-orchestra let it run (success, error, skipped)
    dbt_status: Mapping[str, str]

    def expected(self, unique_id: str) -> str:
        """What saosim should decide: dbt-orchestra's reuse, or what dbt did with a build."""
        if unique_id in self.orchestra.reused:
            return "reuse"
        return "skip" if self.dbt_status.get(unique_id) == "skipped" else "build"

    def actual(self, unique_id: str) -> str:
        if unique_id in self.built:
            return "build"
        return "skip" if unique_id in self.skipped else "reuse"

    def mismatches(self) -> list[str]:
        """``unique_id: saosim <action> (<reason>) ≠ <expected> (dbt-orchestra: <reason>)``."""
        return [
            f"{u}: saosim {self.actual(u)} ({self.reasons.get(u)}) ≠ {self.expected(u)} "
            f"(dbt-orchestra: {self.orchestra.reasons[u]!r})"
            for u in sorted(self.orchestra.compared)
            if self.actual(u) != self.expected(u)
        ]


_GAPS = [15 * 60, 30 * 60, 3600, 2 * 3600, 6 * 3600, 86400]


@st.composite
def timelines(
    draw: st.DrawFn,
    *,
    min_runs: int = 1,
    max_runs: int = 6,
    packages: bool = True,
    dag: st.SearchStrategy[tuple[CaseNode, ...]] | None = None,
) -> Timeline:
    """A DAG (``dag``, or a random one) and ``min_runs``–``max_runs`` runs, 15 min to a day
    apart (± 1 min)."""
    nodes = draw(dag if dag is not None else dags(max_buildable=6, packages=packages))
    sources = [n.name for n in nodes if n.resource_type == "source"]
    buildable = [n.name for n in nodes if n.is_buildable]
    no_info = frozenset(s for s in sources if one_in(draw, 5))
    at = T0
    runs = []
    for i in range(draw(st.integers(min_runs, max_runs))):
        previous = at
        if i:
            at += timedelta(seconds=draw(st.sampled_from(_GAPS)) + draw(st.integers(-60, 60)))
        arrivals = {}
        for s in sources:
            if s not in no_info and (i == 0 or draw(st.booleans())):
                lag = draw(st.integers(0, max(0, int((at - previous).total_seconds()))))
                arrivals[s] = at - timedelta(seconds=lag)
        pick = st.sampled_from(buildable)
        edits = frozenset(draw(st.lists(pick, max_size=2))) if i and one_in(draw, 3) else None
        drops = frozenset(draw(st.lists(pick, max_size=1))) if i and one_in(draw, 6) else None
        failing = frozenset(draw(st.lists(pick, max_size=2))) if one_in(draw, 4) else None
        select = None
        if one_in(draw, 4):
            select = frozenset(draw(st.lists(pick, min_size=1, unique=True)))
        runs.append(
            TimelineRun(
                at,
                arrivals,
                edits or frozenset(),
                drops or frozenset(),
                failing or frozenset(),
                select,
                full_refresh=one_in(draw, 30),
            )
        )
    return Timeline(
        nodes,
        no_info,
        tuple(runs),
        seed_state_orchestration=one_in(draw, 4),
        verify_relations_exist=not one_in(draw, 4),
    )


def _dbt_results(
    nodes: tuple[CaseNode, ...], to_run: frozenset[str], failing: frozenset[str], at: datetime
) -> dict[str, tuple[str, datetime]]:
    """What dbt reports for the nodes it was asked to run: a failed node's descendants (through
    ephemeral models too) are skipped; each build ends one second after the previous one."""
    by_name = {n.name: n for n in nodes}
    bad: set[str] = set()
    out: dict[str, tuple[str, datetime]] = {}
    clock = at
    for n in nodes:
        if not n.is_buildable:
            continue
        upstream_bad = any(p in bad for p in n.parents)
        if n.is_ephemeral:
            if upstream_bad:
                bad.add(n.name)
            continue
        if by_name[n.name].unique_id not in to_run:
            continue
        clock += timedelta(seconds=1)
        if upstream_bad:
            status = "skipped"
        elif n.name in failing:
            status = "error"
        else:
            status = "success"
        if status != "success":
            bad.add(n.name)
        out[n.unique_id] = (status, clock)
    return out


def replay(timeline: Timeline) -> Iterator[RunStep]:
    """Run every job of the timeline through both planners, each keeping its own state."""
    from saosim.core.planner import ProfileOptions, State, plan

    project = saosim_project(timeline.nodes)
    options = ProfileOptions(
        seed_state_orchestration=timeline.seed_state_orchestration,
        verify_relations_exist=timeline.verify_relations_exist,
    )
    by_name = {n.name: n for n in timeline.nodes}
    versions: dict[str, int] = {}
    source_versions: dict[str, datetime] = {}
    tables: set[str] = set()  # unique ids of relations in the warehouse
    state = State.empty()
    # one scratch folder; OrchestraProject starts it from an empty state file
    orc = OrchestraProject(
        workdir("timeline"),
        timeline.nodes,
        seed_state_orchestration=timeline.seed_state_orchestration,
        verify_relations_exist=timeline.verify_relations_exist,
    )
    for index, run in enumerate(timeline.runs):
        for name in run.edits:
            versions[name] = versions.get(name, 0) + 1
        for name in run.drops:
            uid = by_name[name].unique_id
            tables.discard(uid)
            if state.get(uid) is not None:
                state = State({**state.nodes, uid: replace(state.nodes[uid], table_exists=False)})
        source_versions.update(run.arrivals)
        buildable = [n for n in timeline.nodes if n.is_buildable and not n.is_ephemeral]
        with redirect_stdout(io.StringIO()):
            orc_run = orc.decide(
                at=run.at,
                source_versions=source_versions,
                select=run.select,
                full_refresh=run.full_refresh,
                missing_tables=frozenset(n.unique_id for n in buildable) - tables,
                versions=versions,
            )
            result = orc_run.result
            results = _dbt_results(timeline.nodes, result.built, run.failing, run.at)
            orc.record(orc_run, results)
        tables |= {u for u, (status, _) in results.items() if status == "success"}

        fingerprints = {n.unique_id: checksum(n, versions.get(n.name, 0)) for n in buildable}
        p = plan(
            project,
            state,
            at=run.at,
            source_versions={by_name[s].unique_id: t for s, t in source_versions.items()},
            profile="orchestra",
            options=options,
            select=None
            if run.select is None
            else frozenset(by_name[n].unique_id for n in run.select),
            full_refresh=run.full_refresh,
            failing=frozenset(by_name[f].unique_id for f in run.failing),
            fingerprints=fingerprints,
        )
        # dbt's completed_at for what it ran; the run's start for what dbt never ran
        finished = {d.node_id: run.at for d in p.decisions}
        finished.update({u: done for u, (_, done) in results.items()})
        state = p.apply(finished_at=finished)
        compared = result.compared
        yield RunStep(
            index,
            run,
            result,
            frozenset(u for u in p.built if u in compared),
            frozenset(u for u in p.reused if u in compared),
            frozenset(u for u in p.skipped if u in compared),
            {d.node_id: d.reason.value for d in p.decisions},
            {u: status for u, (status, _) in results.items()},
        )
