"""Run the real dbt-orchestra planner and saosim's ``orchestra`` profile on the same case.

A :class:`Case` is one job run described once: a DAG (sources, models, seeds, snapshots, data
tests), what each buildable node's last successful build left behind (time, code, the source
versions it saw, whether its table still exists), what the sources hold now, and the clock.

:func:`run_orchestra` turns a case into the inputs dbt-orchestra 1.5 reads in ``orc dbt build``
(``orchestra_dbt.cli.main``) — a ``manifest.json`` and seed files on disk, its state file, its
``SourceFreshness`` — and calls its own functions in the order ``main`` does: ``load_state``,
``construct_dag``, ``propagate_freshness_config``, ``apply_relation_existence_gate``,
``calculate_nodes_to_run``. Nothing of its decision logic is replaced. Two edges are pinned: the
clock (``time_machine``; ``sao.py`` reads ``datetime.now``) and the warehouse listing behind the
relation-existence gate (``_find_missing_relations_v1/_v2``, which would open a dbt adapter),
answered from the case's ``table_exists``.

:func:`saosim_inputs` turns the same case into a saosim ``Project``, ``State`` and source versions.

>>> case = Case(
...     nodes=(CaseNode("raw.orders", "source"), CaseNode("stg", "model", ("raw.orders",))),
...     state={"stg": CaseState(built_at=T0, seen_sources={"raw.orders": T0})},
...     source_versions={"raw.orders": T0},
...     at=T0 + timedelta(hours=1),
... )
>>> sorted(run_orchestra(case).reused)
['model.conf.stg']
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import time_machine
from hypothesis import strategies as st
from orchestra_dbt import relation_existence
from orchestra_dbt.build_after import propagate_freshness_config
from orchestra_dbt.config import OrchestraDbtSettings
from orchestra_dbt.dag import construct_dag
from orchestra_dbt.full_refresh_finder import is_full_refresh_requested
from orchestra_dbt.models import (
    Freshness,
    MaterialisationNode,
    NodeType,
    SourceFreshness,
    StateApiModel,
    StateItem,
)
from orchestra_dbt.sao import calculate_nodes_to_run
from orchestra_dbt.state import load_state

from saosim.graph import Node, Project

if TYPE_CHECKING:
    from saosim.planner import State

__all__ = [
    "T0",
    "Case",
    "CaseNode",
    "CaseState",
    "OrchestraResult",
    "cases",
    "run_orchestra",
    "saosim_inputs",
]

PROJECT = "conf"
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class CaseNode:
    """One node. Sources are named ``schema.table``; parents are names of earlier nodes."""

    name: str
    resource_type: str  # source | model | seed | snapshot | test
    parents: tuple[str, ...] = ()
    materialization: str | None = None  # models: table | view | incremental | ephemeral
    language: str = "sql"
    #: ``(count, period, updates_on)``; updates_on ``None`` leaves the key out of the config.
    build_after: tuple[int, str, str | None] | None = None
    #: The dbt package the node comes from; ``None`` is the root project.
    package: str | None = None

    @property
    def unique_id(self) -> str:
        return f"{self.resource_type}.{PROJECT}.{self.name}"

    @property
    def is_ephemeral(self) -> bool:
        return self.resource_type == "model" and self.materialization == "ephemeral"

    @property
    def is_buildable(self) -> bool:
        return self.resource_type in ("model", "seed", "snapshot")

    @property
    def raw_code(self) -> str:
        if self.resource_type == "seed":
            return ""
        refs = ", ".join(self.parents) or "1"
        return f"select * from {refs} -- {self.name}\n"


@dataclass(frozen=True)
class CaseState:
    """What one buildable node's last successful build left: the facts both planners read."""

    built_at: datetime
    #: The code was edited after that build (checksum / fingerprint differs).
    code_changed: bool = False
    #: Source name -> ``max_loaded_at`` seen at that build. Direct source parents are what
    #: dbt-orchestra records; sources behind an ephemeral parent matter to saosim only.
    seen_sources: Mapping[str, datetime] = field(default_factory=dict)
    table_exists: bool = True
    tests_failed: bool = False


@dataclass(frozen=True)
class Case:
    nodes: tuple[CaseNode, ...]  # topological order
    state: Mapping[str, CaseState]  # by node name; absent = never built
    source_versions: Mapping[str, datetime]  # by source name; absent = no freshness info
    at: datetime
    full_refresh: bool = False
    #: Names of the buildable nodes the job selects; ``None`` selects the whole project.
    select: frozenset[str] | None = None
    #: dbt-orchestra's setting of that name (saosim's ``ProfileOptions`` field).
    seed_state_orchestration: bool = False

    def node(self, name: str) -> CaseNode:
        return next(n for n in self.nodes if n.name == name)

    def selected(self, node: CaseNode) -> bool:
        return self.select is None or node.name in self.select

    @property
    def compared(self) -> frozenset[str]:
        """Unique ids both planners decide build/reuse for: selected and not ephemeral."""
        return frozenset(
            n.unique_id
            for n in self.nodes
            if n.is_buildable and not n.is_ephemeral and self.selected(n)
        )


@dataclass(frozen=True)
class OrchestraResult:
    """dbt-orchestra's verdict per materialisation node: DIRTY runs, CLEAN is reused."""

    freshness: Mapping[str, Freshness]
    reasons: Mapping[str, str]
    compared: frozenset[str]
    #: What dbt-orchestra printed (click.echo) while deciding.
    log: str = ""

    @property
    def built(self) -> frozenset[str]:
        return frozenset(u for u in self.compared if self.freshness[u] == Freshness.DIRTY)

    @property
    def reused(self) -> frozenset[str]:
        return frozenset(u for u in self.compared if self.freshness[u] == Freshness.CLEAN)


# -- dbt-orchestra side -------------------------------------------------------------------------


def _old_code(node: CaseNode) -> str:
    return node.raw_code + "where false\n"


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _seed_bytes(node: CaseNode, *, old: bool = False) -> bytes:
    return f"id,name\n1,{node.name}{'-old' if old else ''}\n".encode()


def _checksum(node: CaseNode, *, old: bool = False) -> str:
    """The checksum dbt-orchestra computes (``checksum.calculate_checksum``) for this code."""
    if node.resource_type == "seed":
        return _sha(_seed_bytes(node, old=old))
    if node.resource_type == "model":
        # dbt-orchestra hashes the stripped raw code of models (dbt 1.x's formula).
        return _sha((_old_code(node) if old else node.raw_code).strip())
    # Snapshots keep dbt's own file checksum.
    return _sha(f"snapshot file of {node.name}{' (old)' if old else ''}")


def _file_path(node: CaseNode) -> str:
    folder = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests"}
    ext = ".csv" if node.resource_type == "seed" else ".sql"
    return f"{folder[node.resource_type]}/{node.name}{ext}"


def _manifest(case: Case) -> dict:
    by_name = {n.name: n for n in case.nodes}
    child_map: dict[str, list[str]] = {n.unique_id: [] for n in case.nodes}
    nodes: dict[str, dict] = {}
    for n in case.nodes:
        deps = [by_name[p].unique_id for p in n.parents]
        for dep in deps:
            child_map[dep].append(n.unique_id)
        if n.resource_type == "source":
            continue
        config: dict = {"materialized": n.materialization or n.resource_type}
        if n.build_after is not None:
            count, period, updates_on = n.build_after
            build_after: dict = {"count": count, "period": period}
            if updates_on is not None:
                build_after["updates_on"] = updates_on
            config["freshness"] = {"build_after": build_after}
        nodes[n.unique_id] = {
            "unique_id": n.unique_id,
            "resource_type": n.resource_type,
            "name": n.name,
            "package_name": n.package or PROJECT,
            "original_file_path": _file_path(n),
            "relation_name": None if n.is_ephemeral else f'"db"."main"."{n.name}"',
            "raw_code": n.raw_code,
            "language": n.language,
            "checksum": {"name": "sha256", "checksum": _checksum(n)},
            "config": config,
            "depends_on": {"nodes": deps, "macros": []},
        }
    return {
        "metadata": {"project_name": PROJECT, "dbt_schema_version": "v12"},
        "nodes": nodes,
        "sources": {},
        "child_map": child_map,
    }


def _orchestra_state(case: Case) -> StateApiModel:
    """The state file a history of successful builds leaves (``state.update_state``)."""
    items: dict[str, StateItem] = {}
    for n in case.nodes:
        st_ = case.state.get(n.name)
        # dbt writes no run result for an ephemeral model, so dbt-orchestra never records one.
        if st_ is None or not n.is_buildable or n.is_ephemeral:
            continue
        sources = {
            case.node(p).unique_id: st_.seen_sources[p]
            for p in n.parents
            if case.node(p).resource_type == "source" and p in st_.seen_sources
        }
        items[n.unique_id] = StateItem(
            checksum=_checksum(n, old=st_.code_changed),
            last_updated=st_.built_at,
            sources=sources,
        )
    return StateApiModel(state=items)


@dataclass(frozen=True)
class _Warehouse:
    """Answers dbt-orchestra's relation listing from the case (no adapter, no database)."""

    missing: frozenset[str]

    def v1(self, candidates: object) -> set[str]:
        return {c for c in candidates if c in self.missing}  # type: ignore[attr-defined]

    def v2(self, candidates: object, user_args: object) -> set[str]:
        return self.v1(candidates)


def run_orchestra(case: Case, *, verify_relations_exist: bool = True) -> OrchestraResult:
    """dbt-orchestra 1.5's decisions for ``orc dbt build`` on this case (whole project selected).

    Follows ``orchestra_dbt.cli.main`` step by step; ``verify_relations_exist`` is its setting of
    that name (off by default in dbt-orchestra, on here because saosim checks table existence).
    """
    out = io.StringIO()
    with redirect_stdout(out):
        result = _run_orchestra(case, verify_relations_exist)
    return OrchestraResult(result.freshness, result.reasons, result.compared, out.getvalue())


def _run_orchestra(case: Case, verify_relations_exist: bool) -> OrchestraResult:
    compared = case.compared
    with tempfile.TemporaryDirectory(prefix="orc-conf-") as tmp:
        project_dir = Path(tmp)
        target_dir = project_dir / "target"
        target_dir.mkdir()
        (target_dir / "manifest.json").write_text(json.dumps(_manifest(case)))
        (project_dir / "seeds").mkdir()
        for n in case.nodes:
            if n.resource_type == "seed":
                (project_dir / "seeds" / f"{n.name}.csv").write_bytes(_seed_bytes(n))
        state_file = project_dir / "orchestra_state.json"
        state_file.write_text(_orchestra_state(case).model_dump_json())
        settings = OrchestraDbtSettings(
            use_stateful=True,
            state_file=state_file.name,
            pyproject_dir=project_dir,
            local_run=True,
            verify_relations_exist=verify_relations_exist,
            seed_state_orchestration=case.seed_state_orchestration,
        )
        # What `dbt ls` of the job's selection returns (cli.main's `paths_to_run`).
        paths_to_run = (
            None
            if case.select is None
            else [_file_path(n) for n in case.nodes if n.is_buildable and case.selected(n)]
        )
        args = ["dbt", "build", *(["--full-refresh"] if case.full_refresh else [])]
        state = load_state(settings)
        source_freshness = SourceFreshness(
            sources={case.node(s).unique_id: t for s, t in case.source_versions.items()}
        )
        dag = construct_dag(
            source_freshness,
            state,
            settings,
            project_dir=project_dir,
            target_dir=target_dir,
            packages_install_path=project_dir / "dbt_packages",
        )
    propagate_freshness_config(dag)
    materialisations = {
        uid: node for uid, node in dag.nodes.items() if node.node_type == NodeType.MATERIALISATION
    }
    if is_full_refresh_requested(args):
        # cli.main hands the whole command to dbt without its planner: everything runs.
        return OrchestraResult(
            {u: Freshness.DIRTY for u in materialisations},
            {u: "full refresh" for u in materialisations},
            compared,
        )
    if settings.verify_relations_exist:
        missing = frozenset(
            n.unique_id
            for n in case.nodes
            if n.name in case.state and not case.state[n.name].table_exists
        )
        warehouse = _Warehouse(missing)
        with ExitStack() as stack:
            for name, fn in (
                ("_find_missing_relations_v1", warehouse.v1),
                ("_find_missing_relations_v2", warehouse.v2),
            ):
                stack.enter_context(mock.patch.object(relation_existence, name, fn))
            relation_existence.apply_relation_existence_gate(dag, paths_to_run, args)
    with time_machine.travel(case.at, tick=False):
        calculate_nodes_to_run(dag)
    nodes = {u: n for u, n in materialisations.items() if isinstance(n, MaterialisationNode)}
    return OrchestraResult(
        {u: n.freshness for u, n in nodes.items()},
        {u: n.reason for u, n in nodes.items()},
        compared,
    )


# -- saosim side --------------------------------------------------------------------------------


def saosim_project(case: Case) -> Project:
    """The case's DAG as a saosim ``Project`` (fingerprint = dbt-orchestra's checksum)."""
    nodes = []
    by_name = {n.name: n for n in case.nodes}
    for n in case.nodes:
        if n.resource_type == "source":
            schema, _, table = n.name.partition(".")
            nodes.append(
                Node(n.unique_id, table, "source", package=PROJECT, schema=schema, alias=table)
            )
            continue
        if n.resource_type == "test":
            nodes.append(Node(n.unique_id, n.name, "test", package=PROJECT, severity="error"))
            continue
        count, period, updates_on = n.build_after or (None, None, None)
        checksum = _checksum(n)
        nodes.append(
            Node(
                n.unique_id,
                n.name,
                n.resource_type,
                materialization=n.materialization or n.resource_type,
                package=n.package or PROJECT,
                path=_file_path(n),
                fingerprint=checksum,
                checksum=checksum,
                language=n.language,
                raw_code=n.raw_code,
                alias=n.name,
                build_after_count=count,
                build_after_period=period,
                updates_on=updates_on,
                freshness_declared=n.build_after is not None,
            )
        )
    edges = [(by_name[p].unique_id, n.unique_id) for n in case.nodes for p in n.parents]
    return Project(nodes, edges, name=PROJECT)


def _through_ephemerals(case: Case, name: str) -> tuple[str, ...]:
    """Direct parents with each ephemeral parent replaced by its own parents (SAO rule 7)."""
    out: list[str] = []
    for p in case.node(name).parents:
        if case.node(p).is_ephemeral:
            out.extend(x for x in _through_ephemerals(case, p) if x not in out)
        elif p not in out:
            out.append(p)
    return tuple(out)


def saosim_inputs(case: Case) -> tuple[Project, State, dict[str, datetime]]:
    """(project, state, source_versions) for ``saosim.planner.plan`` on this case.

    ``seen_versions`` of a model/seed/snapshot parent P is what a consistent history gives: P's
    current version if P's last build ended no later than N's, else an older one.
    """
    from saosim.planner import NodeState, State

    states = {}
    for n in case.nodes:
        cs = case.state.get(n.name)
        if cs is None or not n.is_buildable or n.is_ephemeral:
            continue
        seen: dict[str, datetime] = {}
        for p in {*n.parents, *_through_ephemerals(case, n.name)}:
            parent = case.node(p)
            if parent.resource_type == "source":
                if p in cs.seen_sources:
                    seen[parent.unique_id] = cs.seen_sources[p]
            elif p in case.state and not parent.is_ephemeral:
                p_built = case.state[p].built_at
                seen[parent.unique_id] = (
                    p_built if p_built <= cs.built_at else cs.built_at - timedelta(seconds=1)
                )
        states[n.unique_id] = NodeState(
            built_at=cs.built_at,
            fingerprint=_checksum(n, old=cs.code_changed),
            seen_versions=seen,
            data_version=cs.built_at,
            table_exists=cs.table_exists,
            tests_failed=cs.tests_failed,
        )
    sources = {case.node(s).unique_id: t for s, t in case.source_versions.items()}
    return saosim_project(case), State(states), sources


# -- generator ----------------------------------------------------------------------------------

_PERIOD_S = {"minute": 60, "hour": 3600, "day": 86400}
_WINDOWS = [(1, "hour"), (6, "hour"), (90, "minute"), (1, "day"), (2, "hour"), (30, "minute")]


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_buildable: int = 8,
    selections: bool = True,
    packages: bool = True,
    seed_state: bool = True,
) -> Case:
    """Random job runs: DAG, configs, last builds, source data, clock (and a selection).

    Build ages cluster on window edges (exactly W, W ± 1 s, W ± 1 min) so whole-minute rounding
    and ``<`` versus ``≤`` show up. The flags switch generator regions off by name.
    """
    at = T0 + timedelta(seconds=draw(st.integers(0, 7 * 86400)))
    n_sources = draw(st.integers(0, 3))
    nodes: list[CaseNode] = [CaseNode(f"raw.src{i}", "source") for i in range(n_sources)]
    for i in range(draw(st.integers(1, max_buildable))):
        kind = draw(st.sampled_from(_KINDS))
        build_after = None
        if draw(st.booleans()):
            count, period = draw(st.sampled_from(_WINDOWS))
            build_after = (count, period, draw(st.sampled_from([None, "any", "all"])))
        if kind == "seed":
            nodes.append(CaseNode(f"seed{i}", "seed", build_after=build_after))
            continue
        candidates = [
            n.name
            for n in nodes
            if n.resource_type != "test" and not (kind == "snapshot" and n.is_ephemeral)
        ]
        parents = tuple(
            draw(st.lists(st.sampled_from(candidates), max_size=3, unique=True))
            if candidates
            else ()
        )
        if kind == "snapshot":
            nodes.append(CaseNode(f"snap{i}", "snapshot", parents[:1], build_after=build_after))
            continue
        language = "python" if kind == "python" else "sql"
        mat = "table" if kind == "python" else kind
        package = "pkg" if packages and _one_in(draw, 6) else None
        nodes.append(CaseNode(f"m{i}", "model", parents, mat, language, build_after, package))
        if mat != "ephemeral" and _one_in(draw, 4):
            nodes.append(CaseNode(f"test_m{i}", "test", (f"m{i}",)))

    source_versions = {}
    for n in nodes[:n_sources]:
        if not _one_in(draw, 5):
            source_versions[n.name] = at - timedelta(seconds=draw(st.integers(0, 2 * 86400)))

    case_nodes = tuple(nodes)
    probe = Case(case_nodes, {}, {}, at)
    state: dict[str, CaseState] = {}
    for n in case_nodes:
        if not n.is_buildable or n.is_ephemeral or _one_in(draw, 10):
            continue
        age_s = draw(st.one_of(st.integers(0, 3 * 86400), st.sampled_from(_EDGE_AGES)))
        built_at = at - timedelta(seconds=age_s)
        seen: dict[str, datetime] = {}
        for p in sorted({*n.parents, *_through_ephemerals(probe, n.name)}):
            if probe.node(p).resource_type != "source":
                continue
            how = draw(st.sampled_from(["absent", "same", "same", "earlier", "any"]))
            now = source_versions.get(p)
            if how == "same":
                seen[p] = min(now or built_at, built_at)
            elif how == "earlier":
                gap = timedelta(seconds=draw(st.integers(1, 86400)))
                seen[p] = min(now or built_at, built_at) - gap
            elif how == "any":
                seen[p] = built_at - timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        state[n.name] = CaseState(
            built_at=built_at,
            code_changed=_one_in(draw, 5),
            seen_sources=seen,
            table_exists=not _one_in(draw, 10),
            tests_failed=_one_in(draw, 10),
        )
    select = None
    buildable = [n.name for n in case_nodes if n.is_buildable]
    if selections and _one_in(draw, 3):
        select = frozenset(draw(st.lists(st.sampled_from(buildable), min_size=1, unique=True)))
    return Case(
        case_nodes,
        state,
        source_versions,
        at,
        full_refresh=_one_in(draw, 50),
        select=select,
        seed_state_orchestration=seed_state and _one_in(draw, 4),
    )


_KINDS = ["table", "table", "view", "incremental", "ephemeral", "python", "seed", "snapshot"]
_EDGE_AGES = sorted(
    {max(0, c * _PERIOD_S[p] + d) for c, p in _WINDOWS for d in (-61, -60, -1, 0, 1, 60)}
)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    # Not `== 0`: hypothesis favours 0 and the ends of a range, which would make rare events common.
    return draw(st.integers(0, n - 1)) == n // 2
