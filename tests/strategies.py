"""Shared hypothesis strategies: generated DAGs, freshness configs, clocks, arrivals, code changes
and planner *situations* (a project with a state reached through a short history).

Kept general so property tests and benchmarks of any room can reuse them; everything is built
from real objects (:class:`~saosim.project.graph.Project`, :class:`~saosim.core.state.State`), the
only fake
is time, passed in.

>>> from hypothesis import find
>>> p = find(projects(), lambda p: len(p.buildable) >= 3)
>>> len(p.buildable)
3
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import strategies as st

from saosim.core.planner import Plan, State, plan
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project

__all__ = [
    "T0",
    "Situation",
    "code_changes",
    "freshness_configs",
    "full_build",
    "minutes_after",
    "projects",
    "shuffled",
    "situations",
    "source_versions",
]

#: The clock's origin for generated histories.
T0 = datetime(2025, 1, 1, tzinfo=UTC)
WINDOWS = ((30, "minute"), (1, "hour"), (2, "hour"), (6, "hour"), (1, "day"))
TOLERANCES_S = (0.0, 900.0, 2700.0, 3600.0, 7200.0)


def minutes_after(start: datetime, max_minutes: int = 600) -> st.SearchStrategy[datetime]:
    """A time a whole number of minutes (often a round 30) after ``start``."""
    round_ = st.integers(0, max_minutes // 30).map(lambda k: start + timedelta(minutes=30 * k))
    any_ = st.integers(0, max_minutes).map(lambda m: start + timedelta(minutes=m))
    return st.one_of(round_, any_)


@st.composite
def projects(
    draw: st.DrawFn,
    *,
    max_sources: int = 3,
    max_models: int = 10,
    materializations: Sequence[str] = ("table", "table", "view", "incremental", "ephemeral"),
    python: bool = False,
    seeds: bool = False,
    snapshots: bool = False,
    tests: bool = True,
    name: str = "gen",
) -> Project:
    """A random DAG: sources, then models (and optionally seeds, snapshots, Python models and
    data tests) whose parents are drawn from the nodes before them."""
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    n_sources = draw(st.integers(1, max_sources))
    for i in range(n_sources):
        nodes.append(Node(f"source.{name}.raw.s{i}", f"s{i}", "source", package=name))
    kinds = ["model"] + (["seed"] if seeds else []) + (["snapshot"] if snapshots else [])
    for i in range(draw(st.integers(1, max_models))):
        kind = draw(st.sampled_from(kinds))
        uid = f"{kind}.{name}.n{i:02d}"
        if kind == "seed":
            nodes.append(Node(uid, f"n{i:02d}", "seed", "seed", package=name))
            continue
        candidates = [n.unique_id for n in nodes if n.resource_type != "test"]
        if kind == "snapshot":
            candidates = [c for c in candidates if c.startswith("source.")]
        parents = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
        mat = "snapshot" if kind == "snapshot" else draw(st.sampled_from(list(materializations)))
        language = (
            "python" if python and kind == "model" and draw(st.integers(0, 5)) == 3 else "sql"
        )
        if language == "python" and mat == "ephemeral":
            mat = "table"
        nodes.append(Node(uid, f"n{i:02d}", kind, mat, package=name, language=language))
        edges.extend((p, uid) for p in parents)
        if tests and mat != "ephemeral" and draw(st.integers(0, 3)) == 2:
            tid = f"test.{name}.t_n{i:02d}"
            severity = draw(st.sampled_from(["error", "error", "warn"]))
            nodes.append(Node(tid, f"t_n{i:02d}", "test", package=name, severity=severity))
            edges.append((uid, tid))
    return Project(nodes, edges, name=name)


@st.composite
def freshness_configs(
    draw: st.DrawFn,
    project: Project,
    *,
    share: float = 0.5,
    updates_on: Sequence[str] = ("any", "any", "all"),
    lag_tolerance: bool = True,
) -> FreshnessConfig:
    """``build_after`` (and dbt State ``lag_tolerance``) for about ``share`` of the models."""
    per_node = {}
    for uid in project.buildable:
        if draw(st.floats(0, 1)) >= share:
            continue
        count, period = draw(st.sampled_from(WINDOWS))
        build = BuildAfter(count, period, draw(st.sampled_from(list(updates_on))))
        tol = draw(st.sampled_from((None, *TOLERANCES_S))) if lag_tolerance else None
        per_node[uid] = NodeFreshness(build, tol)
    return FreshnessConfig(per_node)


@st.composite
def source_versions(
    draw: st.DrawFn,
    project: Project,
    *,
    since: datetime,
    until: datetime,
    previous: Mapping[str, datetime] | None = None,
    metadata: bool = True,
) -> dict[str, datetime]:
    """When data last landed in each source, at or before ``until``; never earlier than
    ``previous``; with ``metadata=False`` some sources have none."""
    out: dict[str, datetime] = {}
    span = int((until - since).total_seconds() // 60)
    for uid in project.sources:
        before = (previous or {}).get(uid)
        if before is None and not metadata and draw(st.integers(0, 4)) == 2:
            continue
        if before is not None and not draw(st.booleans()):
            out[uid] = before
            continue
        landed = since + timedelta(minutes=draw(st.integers(0, max(span, 0))))
        out[uid] = max(landed, before) if before is not None else landed
    return out


@st.composite
def code_changes(
    draw: st.DrawFn, project: Project, current: Mapping[str, str] | None = None, *, tag: str = "v"
) -> dict[str, str]:
    """New fingerprints for a few buildable nodes and tests (merged over ``current``)."""
    out = dict(current or {})
    ids = [u for u in project.order if project.nodes[u].is_buildable or project.nodes[u].is_test]
    for uid in draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)) if ids else []:
        out[uid] = f"{tag}:{draw(st.integers(0, 10**6))}"
    return out


def full_build(project: Project, at: datetime, versions: Mapping[str, datetime]) -> State:
    """The state after a run that built everything (a stateless run) at ``at``."""
    run = plan(project, State.empty(), at=at, source_versions=versions, profile="baseline")
    return run.apply(finished_at=at)


@dataclass(frozen=True)
class Situation:
    """A project at one run: its state reached through a short history, and the run's inputs."""

    project: Project
    freshness: FreshnessConfig
    state: State
    at: datetime
    source_versions: Mapping[str, datetime]
    fingerprints: Mapping[str, str]
    history: tuple[Plan, ...] = field(default=(), repr=False)

    def plan(self, profile: str = "sao", **kw: object) -> Plan:
        args = dict(
            at=self.at,
            source_versions=self.source_versions,
            freshness=self.freshness,
            fingerprints=self.fingerprints,
            profile=profile,
        )
        args.update(kw)
        return plan(self.project, self.state, **args)  # type: ignore[arg-type]


@st.composite
def situations(
    draw: st.DrawFn,
    *,
    profile: str = "sao",
    max_history: int = 3,
    config: bool = True,
    metadata: bool = True,
    project_kw: Mapping[str, object] | None = None,
) -> Situation:
    """A full build at :data:`T0`, then up to ``max_history`` runs of ``profile`` with random
    arrivals and code changes (some failing), then the inputs of one more run."""
    project = draw(projects(**(project_kw or {})))
    cfg = draw(freshness_configs(project)) if config else FreshnessConfig()
    versions = draw(source_versions(project, since=T0 - timedelta(hours=2), until=T0))
    state = full_build(project, T0, versions)
    fps: dict[str, str] = {}
    at = T0
    history = []
    buildable = list(project.buildable)
    for _ in range(draw(st.integers(0, max_history))):
        nxt = draw(minutes_after(at + timedelta(minutes=1), 300))
        versions = draw(source_versions(project, since=at, until=nxt, previous=versions))
        fps = draw(code_changes(project, fps, tag=f"h{len(history)}"))
        failing = (
            frozenset(draw(st.lists(st.sampled_from(buildable), max_size=1)))
            if buildable
            else frozenset()
        )
        run = plan(
            project,
            state,
            at=nxt,
            source_versions=versions,
            freshness=cfg,
            profile=profile,
            fingerprints=fps,
            failing=failing,
        )
        state = run.apply(finished_at=nxt)
        history.append(run)
        at = nxt
    final = draw(minutes_after(at + timedelta(minutes=1), 600))
    versions = draw(
        source_versions(project, since=at, until=final, previous=versions, metadata=metadata)
    )
    fps = draw(code_changes(project, fps, tag="final"))
    return Situation(project, cfg, state, final, versions, fps, tuple(history))


def shuffled(project: Project, seed: int) -> Project:
    """The same project built from its nodes and edges in another order."""
    rnd = random.Random(seed)
    nodes = list(project.nodes.values())
    edges = list(project.edges)
    rnd.shuffle(nodes)
    rnd.shuffle(edges)
    return Project(nodes, edges, name=project.name, dialect=project.dialect)


#: Columns of a hand-made decision log as the metrics read it (the ``decisions`` table's
#: timing columns plus ``status``); shared by the staleness and metrics tests.
LOG_SCHEMA = {
    "scenario": pl.String,
    "run_id": pl.String,
    "run_at": pl.Datetime("us", "UTC"),
    "unique_id": pl.String,
    "action": pl.String,
    "reason": pl.String,
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "status": pl.String,
}
