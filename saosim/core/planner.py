"""The planner: at one job run, build, reuse, skip or no-op each selected node, with a reason.

Pure and deterministic (``SAO-SEMANTICS.md``): everything comes in as arguments — the project,
the state, the run's start time ``at``, the time new data last landed in each source, the
freshness config and the profile. Nodes are decided in topological order (ties by unique id);
each profile is an ordered tuple of rules (:mod:`saosim.core.rules`), first match wins.

>>> from datetime import datetime, timezone
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.orders": [], "stg_orders": ["raw.orders"], "fct": ["stg_orders"]})
>>> t0 = datetime(2025, 1, 1, 1, tzinfo=timezone.utc)
>>> first = plan(p, State.empty(), at=t0, source_versions={"source.demo.raw.orders": t0})
>>> [(d.action.value, d.reason.value) for d in first.decisions]
[('build', 'never_built'), ('build', 'never_built')]
>>> state = first.apply(finished_at=t0)
>>> t1 = datetime(2025, 1, 1, 2, tzinfo=timezone.utc)
>>> again = plan(p, state, at=t1, source_versions={"source.demo.raw.orders": t0})
>>> again.reused
('model.demo.stg_orders', 'model.demo.fct')
>>> again.explain("fct")
'reused: nothing changed since its last build 1h ago (01:00)'
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, compress

import numpy as np
import polars as pl

from saosim.core import codes
from saosim.core.apply import apply_plan
from saosim.core.arrays import (
    ProjectIndex,
    graph_arrays,
    project_index,
)
from saosim.core.decision import (
    Action,
    Decision,
    Profile,
    ProfileOptions,
    Reason,
    parse_profile,
)
from saosim.core.evidence import Evidence
from saosim.core.explain import explain_decision
from saosim.core.facts import (
    Clock,
    Graph,
    NodeStates,
    Options,
    RunMarks,
)
from saosim.core.run_pass import decide_run
from saosim.core.schedule import RunSchedule, clock_for
from saosim.core.state import NodeState, State
from saosim.core.times import to_us
from saosim.errors import ConfigError, SaosimWarning
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project

__all__ = [
    "Action",
    "Decision",
    "NodeState",
    "Plan",
    "Profile",
    "ProfileOptions",
    "Reason",
    "State",
    "options_record",
    "plan",
]


def options_record(profile: Profile, options: ProfileOptions) -> Options:
    """A profile and its options as the compiled rules read them."""
    return Options(
        codes.PROFILES.index(profile.value),
        codes.LAG_MODES.index(options.lag_mode),
        options.code_change_overrides_window,
        options.no_metadata_source == "always_fresh",
        options.seed_state_orchestration,
        options.verify_relations_exist,
    )


def _warn_no_metadata(source_ids: set[str], profile: Profile) -> None:
    """SAO-SEMANTICS: ``no_metadata_source: always_fresh`` is the default, with a warning."""
    names = sorted(source_ids)
    shown = ", ".join(names[:3]) + (f" … and {len(names) - 3} more" if len(names) > 3 else "")
    fix = "pass when data lands in them in source_versions"
    if profile is not Profile.ORCHESTRA:
        fix += ", or set ProfileOptions(no_metadata_source='never_fresh')"
    warnings.warn(
        SaosimWarning(
            f"{len(names)} source(s) have no arrival data and count as new at every run "
            f"({shown}); {fix}"
        ),
        stacklevel=3,
    )


def _require_utc(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"{value.isoformat()} has no time zone; pass a UTC time", field=name)


@dataclass(frozen=True)
class _Inputs:
    """What a plan was made from; :meth:`Plan.apply` and :meth:`Plan.explain` read it."""

    project: Project
    state: State
    source_versions: Mapping[str, datetime]
    fingerprints: Mapping[str, str] | None
    index: ProjectIndex
    graph: Graph
    #: the state as arrays, and the fingerprint each node ran with (for apply)
    states: NodeStates
    current_fingerprints: dict[str, str | None]
    #: the run's clock: when each node was judged (its sources read then)
    clock: Clock


@dataclass(frozen=True)
class Plan:
    """The decisions of one job run, in topological order, with derived views.

    ``by_reason()`` maps each reason present to the node ids it decided.
    """

    decisions: tuple[Decision, ...]
    at: datetime
    profile: Profile
    options: ProfileOptions
    failing: frozenset[str] = frozenset()
    _inputs: _Inputs | None = field(default=None, repr=False, compare=False)

    def _ids(self, action: Action) -> tuple[str, ...]:
        return tuple(d.node_id for d in self.decisions if d.action is action)

    @property
    def built(self) -> tuple[str, ...]:
        """Nodes this run builds."""
        return self._ids(Action.BUILD)

    @property
    def reused(self) -> tuple[str, ...]:
        """Nodes (and data tests) this run reuses."""
        return self._ids(Action.REUSE)

    @property
    def skipped(self) -> tuple[str, ...]:
        return self._ids(Action.SKIP)

    @property
    def ran(self) -> tuple[str, ...]:
        """Data tests this run executes."""
        return self._ids(Action.RUN)

    def by_reason(self) -> dict[Reason, tuple[str, ...]]:
        out: dict[Reason, list[str]] = {}
        for d in self.decisions:
            out.setdefault(d.reason, []).append(d.node_id)
        return {r: tuple(v) for r, v in out.items()}

    def counts(self) -> dict[str, int]:
        """Decisions per action value, e.g. ``{"build": 3, "reuse": 7}``."""
        out: dict[str, int] = {}
        for d in self.decisions:
            out[d.action.value] = out.get(d.action.value, 0) + 1
        return out

    def decision(self, id_or_name: str) -> Decision:
        """The decision for a node given its unique id or its name."""
        uid = id_or_name
        if self._inputs is not None and id_or_name not in self._inputs.project.nodes:
            uid = self._inputs.project.resolve(id_or_name)
        for d in self.decisions:
            if d.node_id == uid:
                return d
        raise KeyError(f"{id_or_name!r} is not selected in this plan")

    def explain(self, name: str) -> str:
        """A short sentence saying why ``name`` was built, reused, skipped or not run."""
        return explain_decision(self, self.decision(name))

    def to_frame(self) -> pl.DataFrame:
        """One row per decision: run_at, unique_id, name, action, reason, detail, …"""
        names = self._inputs.project.nodes if self._inputs is not None else {}
        ds = self.decisions
        return pl.DataFrame(
            {
                "run_at": [self.at] * len(ds),
                "unique_id": [d.node_id for d in ds],
                "name": [names[d.node_id].name if d.node_id in names else None for d in ds],
                "action": [d.action.value for d in ds],
                "reason": [d.reason.value for d in ds],
                "detail": [d.detail for d in ds],
                "fresh_parents": [list(d.fresh_parents) for d in ds],
                "window_ends_at": [d.window_ends_at for d in ds],
                "profile": [self.profile.value] * len(ds),
            },
            schema={
                "run_at": pl.Datetime("us", "UTC"),
                "unique_id": pl.String(),
                "name": pl.String(),
                "action": pl.Enum([a.value for a in Action]),
                "reason": pl.Enum([r.value for r in Reason]),
                "detail": pl.String(),
                "fresh_parents": pl.List(pl.String()),
                "window_ends_at": pl.Datetime("us", "UTC"),
                "profile": pl.Enum([p.value for p in Profile]),
            },
        )

    def apply(
        self,
        outcome: Mapping[str, str] | None = None,
        *,
        finished_at: datetime | Mapping[str, datetime],
    ) -> State:
        """The state after this run.

        Args:
            outcome: unique id → dbt status (success/error/skipped for builds,
                pass/fail/warn/error/skipped for tests). Default: every build succeeds and every
                test passes, except the plan's ``failing`` nodes.
            finished_at: when each build ended (one time for all, or per node).

        A reuse, skip or no-op leaves the node's state untouched; a failed build leaves it as
        it was. A failed error-severity test marks the nodes it tests ``tests_failed``.
        """
        return apply_plan(self, outcome, finished_at)


def plan(
    project: Project,
    state: State,
    *,
    at: datetime,
    source_versions: Mapping[str, datetime],
    freshness: FreshnessConfig | None = None,
    profile: Profile | str = Profile.SAO,
    options: ProfileOptions | None = None,
    select: str | Collection[str] | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
    in_flight: frozenset[str] = frozenset(),
    failing: frozenset[str] = frozenset(),
    fingerprints: Mapping[str, str] | None = None,
    schedule: RunSchedule | None = None,
) -> Plan:
    """Decide every selected node of one job run.

    Args:
        project: the DAG.
        state: what each node looked like at its last successful build.
        at: the run's start time (UTC-aware); data counts only if it landed at or before.
        source_versions: source id → when new data last landed in it (at or before ``at``);
            a source absent from it has no metadata (``options.no_metadata_source`` decides).
        freshness: per-node ``build_after``/``lag_tolerance``; ``None`` reads the project's.
        profile: ``baseline``, ``sao``, ``dbt_state`` or ``orchestra``.
        options: the profile's named options.
        select, exclude: dbt-style selectors of the job; data tests come with the nodes they test.
            ``select`` may also be a set of unique ids, taken as it is (tests not added).
        full_refresh: the job is a full refresh.
        in_flight: nodes another job is building right now (``sao`` waits for them).
        failing: nodes whose build fails in this run; their children are skipped.
        fingerprints: current code identity per node; default the node's fingerprint/checksum.
        schedule: how the run unfolds (threads, durations, the history's start times); each
            node is then judged when the run reaches it (``options.clock``) and its decision
            carries ``reached_at``/``started_at``/``finished_at``. Without it every node is
            judged at ``at``.

    Returns:
        a :class:`Plan`.

    >>> from datetime import datetime, timezone
    >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    >>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    >>> plan(p, State.empty(), at=t, source_versions={}, profile="baseline").built
    ('model.demo.m',)
    """
    _require_utc(at, "at")
    prof = parse_profile(profile)
    opts = options if options is not None else ProfileOptions()
    index = project_index(project)
    cfg = freshness if freshness is not None else index.default_freshness
    graph = graph_arrays(project, cfg, prof, opts)
    chosen = index.selected(project, select, exclude)
    pos = project.position
    # the code identity each decided node runs with now
    decided = index.order if prof is Profile.ORCHESTRA else chosen
    if decided is index.order:
        current = dict(index.fingerprints)
    else:
        current = {uid: index.fingerprints[uid] for uid in decided}
    if fingerprints:
        current.update({uid: fingerprints[uid] for uid in fingerprints if uid in current})
    states = _state_arrays(project, index, state, source_versions)
    marks = _run_marks(len(project.order))
    sel = _positions(index, chosen)
    marks.selected[sel] = 0
    nodes = state.nodes
    changed = [
        pos[uid]
        for uid, fp in current.items()
        if (ns := nodes.get(uid)) is not None and ns.fingerprint != fp
    ]
    marks.changed[changed] = 0
    for uid in failing:
        if uid in pos:
            marks.failing[pos[uid]] = 0
    if prof is Profile.SAO:
        for uid in in_flight:
            if uid in pos:
                marks.in_flight[pos[uid]] = 0
    # dbt-orchestra decides every node, selected or not (see saosim.core.run_pass)
    walk = sel
    if prof is Profile.ORCHESTRA and len(chosen) != len(index.order):
        walk = _positions(index, index.order)
    n = len(project.order)
    act = np.zeros(n, dtype=np.int64)
    rsn = np.zeros(n, dtype=np.int64)
    edge_mark = np.zeros(max(len(graph.eidx), len(graph.didx)), dtype=np.int8)
    clock = clock_for(
        project, schedule, at_node=opts.clock == "node", guarded=prof is not Profile.DBT_STATE,
        at=at,
    )  # fmt: skip
    decide_run(0, to_us(at), walk, walk is not sel, full_refresh, graph, states, marks,
               options_record(prof, opts), clock, act, rsn, True, edge_mark)  # fmt: skip
    # data tests that ran and failed in this run
    tests = sel[(act[sel] == codes.RUN) & (marks.failing[sel] == 0)]
    failed_tests = frozenset(project.order[i] for i in tests.tolist())
    evidence = Evidence(
        project, index, graph, states, marks, edge_mark, prof, opts, cfg, failed_tests
    )
    decisions = evidence.decisions(chosen, sel, act, rsn, clock if schedule is not None else None)
    if evidence.no_metadata_used:
        _warn_no_metadata(evidence.no_metadata_used, prof)
    inputs = _Inputs(
        project, state, source_versions, fingerprints, index, graph, states, current, clock
    )
    return Plan(decisions, at, prof, opts, frozenset(failing), inputs)


def _positions(index: ProjectIndex, chosen: tuple[str, ...]) -> np.ndarray:
    """The positions in ``project.order`` of decided nodes (a fresh array: callers write)."""
    if chosen is index.order:
        return index.positions.copy()
    pos = index.project_position
    return np.fromiter((pos[u] for u in chosen), dtype=np.int64, count=len(chosen))


def _run_marks(n: int) -> RunMarks:
    def stamps() -> np.ndarray:
        return np.full(n, -1, dtype=np.int64)

    return RunMarks(*(stamps() for _ in range(11)), np.zeros(n + 1, dtype=np.int64))


def _state_arrays(
    project: Project,
    index: ProjectIndex,
    state: State,
    source_versions: Mapping[str, datetime],
) -> NodeStates:
    """``state`` and the sources' data versions as the arrays the compiled rules read.

    Read column by column: the entries' fields into lists, each distinct time converted once
    (a state holds few: its runs' ends and arrivals), then scattered into arrays at once.
    """
    n = len(project.order)
    pos = project.position
    nodes = state.nodes
    # the decided nodes with a state entry, in the order of their edges (parallel lists, not
    # pairs: every container made here is one more for the garbage collector to visit)
    found = list(map(nodes.get, index.order))
    at = list(compress(index.positions.tolist(), [ns is not None for ns in found]))
    entries = [ns for ns in found if ns is not None]
    built_t = [ns.built_at for ns in entries]
    dv_t = [ns.data_version for ns in entries]
    sources = [
        (pos[uid], version)
        for uid, version in source_versions.items()
        if version is not None and uid in index.sources and uid in pos
    ]
    has = np.zeros(n, dtype=np.bool_)
    has[at] = True
    edges, seen_t = _seen_versions(index, has, [ns.seen_versions for ns in entries])
    us = {t: to_us(t) for t in {*built_t, *dv_t, *(v for _, v in sources)}}
    us.update((t, to_us(t)) for t in {*seen_t} - us.keys() - {None})
    us[None] = codes.NONE  # a parent the node did not see
    built = np.full(n, codes.NONE, dtype=np.int64)
    dv = np.full(n, codes.NONE, dtype=np.int64)
    tf = np.zeros(n, dtype=np.bool_)
    exists = np.ones(n, dtype=np.bool_)
    if sources:
        dv[[i for i, _ in sources]] = [us[v] for _, v in sources]
    if entries:
        built[at] = [us[t] for t in built_t]
        dv[at] = [us[t] for t in dv_t]
        tf[at] = [ns.tests_failed for ns in entries]
        exists[at] = [ns.table_exists for ns in entries]
    seen = np.full(len(index.edge_owner), codes.NONE, dtype=np.int64)
    seen[edges] = [us[t] for t in seen_t]
    return NodeStates(has, built, np.zeros(n, dtype=np.int64), dv, tf, exists, seen)


def _seen_versions(
    index: ProjectIndex, has: np.ndarray, seen: list[Mapping[str, datetime]]
) -> tuple[np.ndarray | slice, list[datetime | None]]:
    """The effective parent edges of the nodes marked in ``has``, and the parent's data
    version each node saw at its last build (``None``: not seen); ``seen`` holds those nodes'
    ``seen_versions``, in order."""
    eptr, _ = index.lists()
    names = index.edge_names()
    mine = has[index.edge_owner]
    # the usual state (made by Plan.apply, or read from a store): each node saw each of its
    # parents, listed in edge order; then the versions are the maps' values, in a row
    if list(map(len, seen)) == index.edge_counts[has].tolist() and list(
        compress(names, mine.tolist())
    ) == list(chain.from_iterable(seen)):
        # (a generator: each values view is freed as soon as it is read)
        return mine, list(chain.from_iterable(versions.values() for versions in seen))
    out: list[datetime | None] = [None] * len(names)
    for i, versions in zip(np.flatnonzero(has).tolist(), seen, strict=True):
        if versions:
            start, end = eptr[i], eptr[i + 1]
            out[start:end] = map(versions.get, names[start:end])
    return slice(None), out
