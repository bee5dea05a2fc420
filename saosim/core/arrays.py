"""A project as the compiled rules read it: node flags, parents as CSR, freshness parameters.

:class:`ProjectIndex` is what the planner precomputes once per project (kept while the project
lives): the nodes it decides in topological order, each node's effective parents (ephemeral
parents replaced by their own, SAO rule 7), dbt-orchestra's inherited windows, selection.
:func:`freshness_params` is the one place a :class:`~saosim.project.freshness.FreshnessConfig`
becomes rule parameters (window, ``updates_on``, tolerance); :func:`graph_arrays` assembles the
:class:`~saosim.core.facts.Graph` both the planner and the compiled replay run on.

>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
>>> g = graph_arrays(p, None, "sao")
>>> i = p.position["model.demo.stg"]
>>> [p.order[int(x)] for x in g.eidx[g.eptr[i] : g.eptr[i + 1]]]
['source.demo.raw.a']
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from saosim.core.codes import (
    F_CUSTOM,
    F_DECIDED,
    F_EPHEMERAL,
    F_FOREIGN_ROOT,
    F_INCREMENTAL,
    F_PYTHON,
    F_SEED,
    F_SNAPSHOT,
    F_SOURCE,
    F_TEST,
    F_UPDATES_ALL,
    F_VIEW,
    F_WARN,
)
from saosim.core.decision import Profile, ProfileOptions, parse_profile
from saosim.core.facts import Graph
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import BUILDABLE, Project

__all__ = [
    "BUILTIN_MATERIALIZATIONS",
    "NodeInfo",
    "ProjectIndex",
    "effective_parents",
    "freshness_params",
    "graph_arrays",
    "project_index",
]

#: dbt's built-in materializations; anything else is custom (dbt_state always builds it).
BUILTIN_MATERIALIZATIONS = frozenset(
    {"table", "view", "incremental", "ephemeral", "materialized_view", "seed", "snapshot"}
)
_DATA_PARENTS = BUILDABLE | {"source"}


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the planner reads of one node it decides."""

    uid: str
    name: str
    resource_type: str
    materialization: str | None
    language: str
    #: direct data parents, sorted, with ephemeral parents replaced by their own parents
    parents: tuple[str, ...]
    fingerprint: str | None
    severity: str | None
    #: direct data parents as dbt lists them (dbt-orchestra does not look through ephemerals)
    direct: tuple[str, ...] = ()
    #: a model from another dbt package with no parents (dbt-orchestra always builds those)
    foreign_root: bool = False


class ProjectIndex:
    """What the planner precomputes once per project."""

    def __init__(self, project: Project) -> None:
        nodes = project.nodes
        self.sources = frozenset(u for u, n in nodes.items() if n.resource_type == "source")
        infos: dict[str, NodeInfo] = {}
        order: list[str] = []
        for uid in project.order:
            node = nodes[uid]
            if not (node.is_buildable or node.is_test):
                continue
            parents: set[str] = set()
            direct = []
            for p in project.parents(uid):
                if nodes[p].resource_type not in _DATA_PARENTS:
                    continue
                direct.append(p)
                # SAO rule 7: an ephemeral parent is replaced by its own parents
                parents.update(infos[p].parents if nodes[p].is_ephemeral else (p,))
            infos[uid] = NodeInfo(
                uid,
                node.name,
                node.resource_type,
                node.materialization,
                node.language or "sql",
                tuple(sorted(parents)),
                node.fingerprint if node.fingerprint is not None else node.checksum,
                node.severity,
                tuple(direct),
                node.resource_type == "model"
                and node.package not in ("", project.name)
                and not project.parents(uid),
            )
            order.append(uid)
        self.infos = infos
        #: every node the planner decides (buildable and data tests), topological order
        self.order = tuple(order)
        #: their positions in ``project.order`` (copy before handing it out: it is shared)
        self.positions = np.array([project.position[u] for u in order], dtype=np.int64)
        #: their code identity in the project (a plan's default fingerprints)
        self.fingerprints = {u: infos[u].fingerprint for u in order}
        self.buildable_children = {
            u: tuple(c for c in project.children(u) if nodes[c].is_buildable)
            for u in order
            if nodes[u].is_buildable
        }
        self.tests_by_parent: dict[str, list[str]] = {}
        for u in order:
            if nodes[u].is_test:
                for p in project.parents(u):
                    self.tests_by_parent.setdefault(p, []).append(u)
        self.default_freshness = FreshnessConfig.from_project(project)
        self.flags = _static_flags(project, infos)
        self._windows: tuple[object, dict[str, tuple[float, str | None]]] | None = None
        #: (config id, profile, default tolerance) → (config, graph)
        self._graphs: dict[tuple, tuple[object, Graph]] = {}
        self.csr = _csr_parents(project, infos)
        pos = project.position
        #: per node, what the run finishes before reaching it (in-run schedule), CSR
        # parents first, then their data tests: a run that runs no tests scans only the
        # parents (a test not run in this run is never waited for)
        is_test = [nodes[u].is_test for u in project.order]
        counts: list[int] = []
        flat: list[int] = []
        n_parents: list[int] = []
        for u in project.order:
            run_after = sorted(pos[p] for p in project.run_parents(u) if p in infos)
            parents = [i for i in run_after if not is_test[i]]
            flat += parents
            flat += (i for i in run_after if is_test[i])
            counts.append(len(run_after))
            n_parents.append(len(parents))
        rptr, ridx = _csr(counts, flat)
        rtest = rptr[:-1] + np.array(n_parents, dtype=np.uint64)
        self.run_csr = (rptr, ridx, rtest)
        eptr = self.csr[0].astype(np.int64)
        #: per node, how many effective parents it has; per effective edge, whose it is
        self.edge_counts = np.diff(eptr)
        self.edge_owner = np.repeat(np.arange(len(project.order)), self.edge_counts)
        self._lists: dict[str, tuple[list[int], list[int]]] = {}
        self._edge_names: dict[str, list[str]] = {}
        self.project_order = project.order
        self.project_position = project.position

    def lists(self, *, direct: bool = False) -> tuple[list[int], list[int]]:
        """The effective (or, ``direct``, dbt's direct) parents as CSR Python lists."""
        key = "direct" if direct else "effective"
        if key not in self._lists:
            eptr, eidx, dptr, didx, _ = self.csr
            ptr, idx = (dptr, didx) if direct else (eptr, eidx)
            self._lists[key] = (ptr.tolist(), idx.tolist())
        return self._lists[key]

    def edge_names(self, *, direct: bool = False) -> list[str]:
        """The parent each edge of :meth:`lists` points to, by unique id (edge order).

        >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg", "raw.a"]})
        >>> project_index(p).edge_names()
        ['source.demo.raw.a', 'model.demo.stg', 'source.demo.raw.a']
        """
        key = "direct names" if direct else "effective names"
        if key not in self._edge_names:
            order = self.project_order
            self._edge_names[key] = [order[x] for x in self.lists(direct=direct)[1]]
        return self._edge_names[key]

    def orchestra_windows(self, cfg: FreshnessConfig) -> dict[str, tuple[float, str | None]]:
        """Window per node after dbt-orchestra's inheritance: a node without ``build_after``
        takes the smallest of its children's, only when every child is a model that has one."""
        if self._windows is not None and self._windows[0] is cfg:
            return self._windows[1]
        out: dict[str, tuple[float, str | None]] = {}
        for uid in reversed(self.order):
            if uid not in self.buildable_children:
                continue
            own = cfg.for_node(uid).build_after
            if own is not None:
                out[uid] = (float(own.window_s), None)
                continue
            children = self.buildable_children[uid]
            windows = [out[c][0] for c in children if out.get(c, (0.0,))[0] > 0]
            if children and len(windows) == len(children):
                smallest = min(windows)
                src = next(c for c in children if out[c][0] == smallest)
                out[uid] = (smallest, src)
        self._windows = (cfg, out)
        return out

    def selected(
        self, project: Project, select: str | Collection[str] | None, exclude: str | None
    ) -> tuple[str, ...]:
        """The decided nodes a job selects, topological order; data tests come with the nodes
        they test (dbt's eager indirect selection) unless ``select`` is a set of ids."""
        if select is not None and not isinstance(select, str):
            # an already-resolved selection (the simulator replays the exact nodes a run ran)
            chosen_ids = select if isinstance(select, (set, frozenset)) else frozenset(select)
            excluded_ids = project.select(exclude) if exclude and exclude.strip() else frozenset()
            return tuple(u for u in self.order if u in chosen_ids and u not in excluded_ids)
        if not (select and select.strip() not in ("", "*")) and not (exclude and exclude.strip()):
            return self.order
        chosen = set(project.select(select, exclude))
        excluded = project.select(exclude) if exclude and exclude.strip() else frozenset()
        for parent in list(chosen):
            for test in self.tests_by_parent.get(parent, ()):
                if test not in excluded:
                    chosen.add(test)
        return tuple(u for u in self.order if u in chosen)


_INDEX: WeakKeyDictionary[Project, ProjectIndex] = WeakKeyDictionary()


def project_index(project: Project) -> ProjectIndex:
    """The :class:`ProjectIndex` of ``project`` (computed once while it lives)."""
    index = _INDEX.get(project)
    if index is None:
        index = _INDEX[project] = ProjectIndex(project)
    return index


def effective_parents(project: Project, unique_id: str) -> tuple[str, ...]:
    """The parents whose data a node sees: sources, models, seeds and snapshots, each
    ephemeral parent replaced by its own (recursively), sorted (SAO rule 7).

    >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "m": ["stg", "raw.a"]})
    >>> effective_parents(p, "model.demo.m")
    ('model.demo.stg', 'source.demo.raw.a')
    """
    info = project_index(project).infos.get(unique_id)
    return info.parents if info is not None else ()


def _static_flags(project: Project, infos: dict[str, NodeInfo]) -> np.ndarray:
    flags = np.zeros(len(project.order), dtype=np.int32)
    for i, uid in enumerate(project.order):
        node = project.nodes[uid]
        f = F_SOURCE if node.resource_type == "source" else 0
        info = infos.get(uid)
        if info is not None:
            f |= F_DECIDED
            mat = info.materialization
            if info.foreign_root:
                f |= F_FOREIGN_ROOT
            if info.resource_type == "test":
                f |= F_TEST
                if (info.severity or "error").lower() == "warn":
                    f |= F_WARN
            if mat == "ephemeral" and info.resource_type == "model":
                f |= F_EPHEMERAL
            if info.language == "python":
                f |= F_PYTHON
            if mat == "view":
                f |= F_VIEW
            if mat is not None and mat not in BUILTIN_MATERIALIZATIONS:
                f |= F_CUSTOM
            if info.resource_type == "snapshot":
                f |= F_SNAPSHOT
            if info.resource_type == "seed":
                f |= F_SEED
            if mat == "incremental":
                f |= F_INCREMENTAL
        elif node.resource_type in BUILDABLE:
            raise AssertionError(f"buildable node {uid} missing from the planner's order")
        flags[i] = f
    return flags


def _csr(counts: list[int], flat: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets and indices from each row's length and the rows in a row (built flat:
    a list per row is one more container for the garbage collector to visit)."""
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    # unsigned offsets and indices: compiled code indexes with them (and with a loop variable
    # over an unsigned range) without numba's negative-index wraparound
    return ptr.astype(np.uint64), np.asarray(flat, dtype=np.uint32)


def _csr_parents(project: Project, infos: dict[str, NodeInfo]) -> tuple[np.ndarray, ...]:
    """Effective parents, direct parents and direct edge → effective edge, as CSR."""
    pos = project.position
    e_counts: list[int] = []
    e_flat: list[int] = []
    d_counts: list[int] = []
    d_flat: list[int] = []
    for uid in project.order:
        info = infos.get(uid)
        effective, direct = (info.parents, info.direct) if info else ((), ())
        e_counts.append(len(effective))
        e_flat += map(pos.__getitem__, effective)
        d_counts.append(len(direct))
        d_flat += map(pos.__getitem__, direct)
    eptr, eidx = _csr(e_counts, e_flat)
    dptr, didx = _csr(d_counts, d_flat)
    # each direct edge's effective edge: the same (node, parent) pair, found by a search
    # among the effective edges sorted by that pair
    n = len(project.order)
    e_key = np.repeat(np.arange(n), np.diff(eptr.astype(np.int64))) * n + eidx
    d_key = np.repeat(np.arange(n), np.diff(dptr.astype(np.int64))) * n + didx
    by_key = np.argsort(e_key, kind="stable")
    found = np.searchsorted(e_key[by_key], d_key).clip(max=max(len(e_key) - 1, 0))
    if len(e_key):
        hit = e_key[by_key][found] == d_key
        d2e = np.where(hit, by_key[found], -1).astype(np.int64)
    else:
        d2e = np.full(len(didx), -1, dtype=np.int64)
    return eptr, eidx, dptr, didx, d2e


def freshness_params(
    project: Project,
    freshness: FreshnessConfig | None,
    profile: Profile | str,
    options: ProfileOptions | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node (``project.order``): the ``build_after`` window in seconds (orchestra: after
    inheritance), the dbt_state lag tolerance, and whether it waits for every parent.

    A dbt_state ``lag_tolerance`` falls back to ``build_after`` and then to the profile's
    ``default_lag_tolerance_s``; ``require_fresh_data_from`` overrides ``updates_on``.

    >>> from saosim.project.graph import Project
    >>> w, tol, all_ = freshness_params(Project.from_spec({"m": []}), None, "dbt_state")
    >>> float(w[0]), float(tol[0]), bool(all_[0])
    (0.0, 2700.0, False)
    """
    index = project_index(project)
    prof = parse_profile(profile)
    opts = options if options is not None else ProfileOptions()
    cfg = freshness if freshness is not None else index.default_freshness
    windows = index.orchestra_windows(cfg) if prof is Profile.ORCHESTRA else None
    n = len(project.order)
    window_s = np.zeros(n)
    tol_s = np.zeros(n)
    updates_all = np.zeros(n, dtype=np.bool_)
    for i, uid in enumerate(project.order):
        if uid not in index.infos:
            continue
        nf = cfg.for_node(uid)
        updates_on = nf.updates_on
        if windows is not None:
            window_s[i] = windows.get(uid, (0.0, None))[0]
        else:
            window_s[i] = float(nf.window_s)
            if prof is Profile.DBT_STATE and nf.require_fresh_data_from:
                updates_on = "all" if nf.require_fresh_data_from.startswith("all") else "any"
        updates_all[i] = updates_on == "all"
        if nf.lag_tolerance_s is not None:
            tol_s[i] = nf.lag_tolerance_s
        elif nf.build_after is not None:
            tol_s[i] = float(nf.build_after.window_s)
        else:
            tol_s[i] = opts.default_lag_tolerance_s
    return window_s, tol_s, updates_all


def graph_arrays(
    project: Project,
    freshness: FreshnessConfig | None,
    profile: Profile | str,
    options: ProfileOptions | None = None,
) -> Graph:
    """The :class:`~saosim.core.facts.Graph` of ``project`` under a freshness config and
    profile (remembered per config object while the project lives)."""
    index = project_index(project)
    prof = parse_profile(profile)
    opts = options if options is not None else ProfileOptions()
    key = (id(freshness), prof, opts.default_lag_tolerance_s)
    cached = index._graphs.get(key)
    if cached is not None and cached[0] is freshness:
        return cached[1]
    window_s, tol_s, updates_all = freshness_params(project, freshness, prof, opts)
    flags = np.where(updates_all, index.flags | F_UPDATES_ALL, index.flags).astype(np.int32)
    eptr, eidx, dptr, didx, d2e = index.csr
    graph = Graph(flags, window_s, tol_s, eptr, eidx, dptr, didx, d2e, *index.run_csr)
    if len(index._graphs) > 16:
        index._graphs.clear()
    index._graphs[key] = (freshness, graph)
    return graph
