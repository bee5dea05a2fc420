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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import time_machine
from orchestra_dbt import relation_existence
from orchestra_dbt import state as orchestra_state
from orchestra_dbt.build_after import propagate_freshness_config
from orchestra_dbt.checksum import calculate_checksum
from orchestra_dbt.compatibility import is_dbt_v2
from orchestra_dbt.config import OrchestraDbtSettings
from orchestra_dbt.dag import construct_dag
from orchestra_dbt.full_refresh_finder import is_full_refresh_requested
from orchestra_dbt.models import (
    Freshness,
    MaterialisationNode,
    ParsedDag,
    SourceFreshness,
    StateApiModel,
    StateItem,
)
from orchestra_dbt.sao import calculate_nodes_to_run
from orchestra_dbt.state import StateLoadError, load_state, save_state, update_state

from saosim.inputs.manifest import project_from_manifest
from saosim.project.graph import Project

if TYPE_CHECKING:
    from saosim.core.planner import State

__all__ = [
    "T0",
    "Case",
    "CaseNode",
    "CaseState",
    "OrchestraProject",
    "OrchestraResult",
    "OrchestraRun",
    "checksum",
    "run_orchestra",
    "saosim_inputs",
    "saosim_project",
    "through_ephemerals",
    "workdir",
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
    #: dbt-orchestra's settings of these names (saosim's ``ProfileOptions`` fields).
    seed_state_orchestration: bool = False
    verify_relations_exist: bool = True

    def node(self, name: str) -> CaseNode:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, CaseNode]:
        return {n.name: n for n in self.nodes}

    def ids(self, names: frozenset[str] | None) -> frozenset[str] | None:
        """Unique ids of named nodes (``None`` stays ``None``: the whole project)."""
        return None if names is None else frozenset(self.node(n).unique_id for n in names)

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


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _code(node: CaseNode, version: int) -> str:
    """Version 0 is the node's code now; other versions are edits of it (-1: before the edit)."""
    return node.raw_code if version == 0 else f"{node.raw_code}-- edit {version}\n"


def _seed_bytes(node: CaseNode, version: int = 0) -> bytes:
    return f"id,name\n1,{node.name}{'' if version == 0 else f'-v{version}'}\n".encode()


def checksum(node: CaseNode, version: int = 0) -> str:
    """The checksum dbt-orchestra computes (``checksum.calculate_checksum``) for that code."""
    if node.resource_type == "seed":
        return _sha(_seed_bytes(node, version))
    if node.resource_type == "model":
        # dbt-orchestra's own function: sha256 of the stripped raw code (a comment counts).
        code_id = calculate_checksum(
            "model", node_checksum="", file_path="", raw_code=_code(node, version)
        )
        assert code_id is not None
        return code_id
    # Snapshots keep dbt's own file checksum.
    return _sha(f"snapshot file of {node.name}, version {version}")


def _file_path(node: CaseNode) -> str:
    folder = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests"}
    ext = ".csv" if node.resource_type == "seed" else ".sql"
    return f"{folder[node.resource_type]}/{node.name}{ext}"


def _manifest(nodes: tuple[CaseNode, ...], versions: Mapping[str, int]) -> dict:
    by_name = {n.name: n for n in nodes}
    child_map: dict[str, list[str]] = {n.unique_id: [] for n in nodes}
    out: dict[str, dict] = {}
    sources: dict[str, dict] = {}
    for n in nodes:
        deps = [by_name[p].unique_id for p in n.parents]
        for dep in deps:
            child_map[dep].append(n.unique_id)
        if n.resource_type == "source":
            source_name, _, table = n.name.partition(".")
            sources[n.unique_id] = {
                "unique_id": n.unique_id,
                "resource_type": "source",
                "name": table,
                "source_name": source_name,
                "package_name": PROJECT,
                "identifier": table,
                "schema": source_name,
                "config": {"enabled": True},
            }
            continue
        config: dict = {"materialized": n.materialization or n.resource_type}
        if n.build_after is not None:
            count, period, updates_on = n.build_after
            build_after: dict = {"count": count, "period": period}
            if updates_on is not None:
                build_after["updates_on"] = updates_on
            config["freshness"] = {"build_after": build_after}
        version = versions.get(n.name, 0)
        out[n.unique_id] = {
            "unique_id": n.unique_id,
            "resource_type": n.resource_type,
            "name": n.name,
            "package_name": n.package or PROJECT,
            "original_file_path": _file_path(n),
            "relation_name": None if n.is_ephemeral else f'"db"."main"."{n.name}"',
            "raw_code": _code(n, version),
            "language": n.language,
            "checksum": {"name": "sha256", "checksum": checksum(n, version)},
            "config": config | ({"severity": "ERROR"} if n.resource_type == "test" else {}),
            "depends_on": {"nodes": deps, "macros": []},
        }
    return {
        "metadata": {
            "project_name": PROJECT,
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "adapter_type": "duckdb",
        },
        "nodes": out,
        "sources": sources,
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
            checksum=checksum(n, -1 if st_.code_changed else 0),
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


def _quiet(msg: object) -> None:
    return None


@cache
def _dbt_v2() -> bool:
    return is_dbt_v2()


@cache
def workdir(name: str) -> Path:
    """A scratch project folder per name, kept for the whole session: creating and removing a
    folder per example cost more than dbt-orchestra's planner itself."""
    return Path(tempfile.mkdtemp(prefix=f"orc-{name}-", dir=_SCRATCH.name))


_SCRATCH = tempfile.TemporaryDirectory(prefix="orchestra-conformance-")


@dataclass
class OrchestraRun:
    """One ``orc dbt build`` as far as dbt-orchestra's planner took it."""

    dag: ParsedDag
    source_freshness: SourceFreshness
    state: StateApiModel
    result: OrchestraResult


class OrchestraProject:
    """A dbt project on disk as dbt-orchestra reads it: manifest, seed files, its state file.

    ``decide`` runs the planner steps of ``orchestra_dbt.cli.main``; ``record`` writes the
    ``run_results.json`` dbt would write and runs dbt-orchestra's own ``update_state`` and
    ``save_state`` on it, so state moves forward as it does in production.
    """

    def __init__(
        self,
        root: Path,
        nodes: tuple[CaseNode, ...],
        *,
        seed_state_orchestration: bool = False,
        verify_relations_exist: bool = True,
    ) -> None:
        self.root = root
        self.nodes = nodes
        self.target_dir = root / "target"
        self.target_dir.mkdir(exist_ok=True)
        (root / "seeds").mkdir(exist_ok=True)
        self.state_file = root / "orchestra_state.json"
        # The local-file backend refuses to save onto a missing file (save_state re-reads it to
        # merge), so a real setup starts from an empty state document.
        self.write_state(StateApiModel(state={}))
        self.settings = OrchestraDbtSettings(
            use_stateful=True,
            state_file=self.state_file.name,
            pyproject_dir=root,
            local_run=True,
            verify_relations_exist=verify_relations_exist,
            seed_state_orchestration=seed_state_orchestration,
        )

    def write_state(self, state: StateApiModel) -> None:
        self.state_file.write_text(state.model_dump_json())

    def decide(
        self,
        *,
        at: datetime,
        source_versions: Mapping[str, datetime],
        select: frozenset[str] | None = None,
        full_refresh: bool = False,
        missing_tables: frozenset[str] = frozenset(),
        versions: Mapping[str, int] | None = None,
    ) -> OrchestraRun:
        """dbt-orchestra's verdict at ``at``; ``missing_tables`` are unique ids."""
        versions = versions or {}
        by_name = {n.name: n for n in self.nodes}
        (self.target_dir / "manifest.json").write_text(json.dumps(_manifest(self.nodes, versions)))
        for n in self.nodes:
            if n.resource_type == "seed":
                seed_file = self.root / _file_path(n)
                seed_file.write_bytes(_seed_bytes(n, versions.get(n.name, 0)))
        selected = [
            n for n in self.nodes if n.is_buildable and (select is None or n.name in select)
        ]
        compared = frozenset(n.unique_id for n in selected if not n.is_ephemeral)
        # What `dbt ls` of the job's selection returns (cli.main's `paths_to_run`).
        paths_to_run = None if select is None else [_file_path(n) for n in selected]
        args = ["dbt", "build", *(["--full-refresh"] if full_refresh else [])]
        try:
            state = load_state(self.settings)
        except StateLoadError:
            state = StateApiModel(state={})  # cli.main: continue with empty state
        source_freshness = SourceFreshness(
            sources={by_name[s].unique_id: t for s, t in source_versions.items()}
        )
        dag = construct_dag(
            source_freshness,
            state,
            self.settings,
            project_dir=self.root,
            target_dir=self.target_dir,
            packages_install_path=self.root / "dbt_packages",
        )
        propagate_freshness_config(dag)
        nodes = {u: n for u, n in dag.nodes.items() if isinstance(n, MaterialisationNode)}
        if is_full_refresh_requested(args):
            # cli.main hands the whole command to dbt without its planner: everything runs.
            for n in nodes.values():
                n.freshness, n.reason = Freshness.DIRTY, "full refresh"
        else:
            if self.settings.verify_relations_exist:
                warehouse = _Warehouse(missing_tables)
                with ExitStack() as stack:
                    for name, fn in (
                        ("_find_missing_relations_v1", warehouse.v1),
                        ("_find_missing_relations_v2", warehouse.v2),
                        # Environment probes, not decisions: its debug logger re-reads every
                        # pyproject.toml above the cwd, is_dbt_v2 asks importlib.metadata.
                        ("log_debug", _quiet),
                        ("is_dbt_v2", _dbt_v2),
                    ):
                        stack.enter_context(mock.patch.object(relation_existence, name, fn))
                    relation_existence.apply_relation_existence_gate(dag, paths_to_run, args)
            with time_machine.travel(at, tick=False):
                calculate_nodes_to_run(dag)
        result = OrchestraResult(
            {u: n.freshness for u, n in nodes.items()},
            {u: n.reason for u, n in nodes.items()},
            compared,
        )
        return OrchestraRun(dag, source_freshness, state, result)

    def record(self, run: OrchestraRun, results: Mapping[str, tuple[str, datetime]]) -> None:
        """dbt's ``run_results.json`` (unique id → status, completed_at), then dbt-orchestra's
        ``update_state`` and ``save_state``."""
        rows = [
            {
                "unique_id": uid,
                "status": status,
                "timing": [
                    {"name": "compile", "started_at": None, "completed_at": None},
                    {
                        "name": "execute",
                        "started_at": done.isoformat().replace("+00:00", "Z"),
                        "completed_at": done.isoformat().replace("+00:00", "Z"),
                    },
                ],
            }
            for uid, (status, done) in results.items()
        ]
        (self.target_dir / "run_results.json").write_text(json.dumps({"results": rows}))
        orchestra_state._load_run_results.cache_clear()  # it caches by target dir
        updated = update_state(run.state, run.dag, run.source_freshness, self.target_dir)
        save_state(run.state, updated, self.settings)


def run_orchestra(case: Case, *, verify_relations_exist: bool | None = None) -> OrchestraResult:
    """dbt-orchestra 1.5's decisions for ``orc dbt build`` on this case.

    Follows ``orchestra_dbt.cli.main`` step by step; ``verify_relations_exist`` (default: the
    case's) is its setting of that name (off by default in dbt-orchestra, on in saosim).
    """
    out = io.StringIO()
    with redirect_stdout(out):
        project = OrchestraProject(
            workdir("case"),
            case.nodes,
            seed_state_orchestration=case.seed_state_orchestration,
            verify_relations_exist=(
                case.verify_relations_exist
                if verify_relations_exist is None
                else verify_relations_exist
            ),
        )
        project.write_state(_orchestra_state(case))
        missing = frozenset(
            case.node(name).unique_id for name, s in case.state.items() if not s.table_exists
        )
        result = project.decide(
            at=case.at,
            source_versions=case.source_versions,
            select=case.select,
            full_refresh=case.full_refresh,
            missing_tables=missing,
        ).result
    return replace(result, log=out.getvalue())


# -- saosim side --------------------------------------------------------------------------------


def saosim_project(case_nodes: tuple[CaseNode, ...]) -> Project:
    """The DAG as saosim reads it: ``project_from_manifest`` on the manifest dbt-orchestra reads.

    The node's fingerprint is then the manifest's checksum, which the harness sets to
    dbt-orchestra's own checksum (sha256 of the raw code for models).
    """
    return project_from_manifest(_manifest(case_nodes, {}), path="orchestra-harness manifest")


def through_ephemerals(case: Case, name: str) -> tuple[str, ...]:
    """Direct parents with each ephemeral parent replaced by its own parents (SAO rule 7)."""
    out: list[str] = []
    for p in case.node(name).parents:
        if case.node(p).is_ephemeral:
            out.extend(x for x in through_ephemerals(case, p) if x not in out)
        elif p not in out:
            out.append(p)
    return tuple(out)


def saosim_inputs(case: Case) -> tuple[Project, State, dict[str, datetime]]:
    """(project, state, source_versions) for ``saosim.core.planner.plan`` on this case.

    ``seen_versions`` of a model/seed/snapshot parent P is what a consistent history gives: P's
    current version if P's last build ended no later than N's, else an older one.
    """
    from saosim.core.planner import NodeState, State

    states = {}
    for n in case.nodes:
        cs = case.state.get(n.name)
        if cs is None or not n.is_buildable or n.is_ephemeral:
            continue
        seen: dict[str, datetime] = {}
        for p in {*n.parents, *through_ephemerals(case, n.name)}:
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
            fingerprint=checksum(n, -1 if cs.code_changed else 0),
            seen_versions=seen,
            data_version=cs.built_at,
            table_exists=cs.table_exists,
            tests_failed=cs.tests_failed,
        )
    sources = {case.node(s).unique_id: t for s, t in case.source_versions.items()}
    return saosim_project(case.nodes), State(states), sources
