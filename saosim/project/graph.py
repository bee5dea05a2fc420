"""The project: dbt nodes, their DAG, topological order and dbt-style selection.

A :class:`Project` is immutable once built. It holds every node a manifest lists (models,
seeds, snapshots, sources, data tests, exposures, …) and the ``depends_on`` edges between them,
parent → child. Data tests are nodes too; :meth:`Project.tests_of` gives the tests attached to a
node (the nodes a test depends on are the nodes it tests).

>>> p = Project.from_spec({"raw.orders": [], "stg_orders": ["raw.orders"], "fct": ["stg_orders"]})
>>> p.order
('source.demo.raw.orders', 'model.demo.stg_orders', 'model.demo.fct')
>>> sorted(p.select("stg_orders+"))
['model.demo.fct', 'model.demo.stg_orders']
"""

from __future__ import annotations

import difflib
import fnmatch
import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import networkx as nx

from saosim.errors import SchemaError, SelectionError
from saosim.project.suggest import selector_hint

__all__ = ["BUILDABLE", "Node", "Project"]

#: Resource types a job can build.
BUILDABLE = frozenset({"model", "seed", "snapshot"})


@dataclass(frozen=True, slots=True)
class Node:
    """One dbt node with the parts of its config that saosim uses.

    Freshness settings are kept as plain values (``build_after_count`` …) as dbt resolved them;
    :mod:`saosim.project.freshness` turns them into typed configuration.
    """

    unique_id: str
    name: str
    resource_type: str
    materialization: str | None = None
    package: str = ""
    path: str = ""
    tags: tuple[str, ...] = ()
    fingerprint: str | None = None
    checksum: str | None = None
    language: str = "sql"
    raw_code: str | None = None
    compiled_code: str | None = None
    #: JSON text of the configs that change what is built (unique_key, incremental_strategy …).
    build_config: str | None = None
    database: str | None = None
    schema: str | None = None
    #: Relation name in the warehouse (alias for models, identifier for sources).
    alias: str | None = None
    #: Sources: the column that records when a row landed.
    loaded_at_field: str | None = None
    #: Data tests: "error" or "warn".
    severity: str | None = None
    build_after_count: int | None = None
    build_after_period: str | None = None
    updates_on: str | None = None
    lag_tolerance_s: float | None = None
    require_fresh_data_from: str | None = None
    #: True when the node's config carried an explicit ``freshness`` key (even ``null``).
    freshness_declared: bool = False
    meta: Mapping[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_buildable(self) -> bool:
        return self.resource_type in BUILDABLE

    @property
    def is_test(self) -> bool:
        return self.resource_type == "test"

    @property
    def is_ephemeral(self) -> bool:
        return self.resource_type == "model" and self.materialization == "ephemeral"

    @property
    def source_name(self) -> str:
        """``source_name.table`` for sources (as dbt's ``source:`` selector spells it)."""
        parts = self.unique_id.split(".")
        return ".".join(parts[2:]) if self.resource_type == "source" else self.name


class Project:
    """A dbt project's DAG.

    Args:
        nodes: every node; unique ids must be unique.
        edges: (parent_id, child_id) pairs; both ends must be nodes of the project.
        name: the dbt project name.
        dialect: sqlglot dialect of the warehouse (``snowflake``, ``bigquery``, ``duckdb`` …).
        origin: where the project was read from, used in error messages.

    >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]}, name="x")
    >>> p.parents("model.x.m")
    ('source.x.raw.a',)
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        edges: Iterable[tuple[str, str]],
        *,
        name: str = "project",
        dialect: str | None = None,
        origin: str | None = None,
    ) -> None:
        self.name = name
        self.dialect = dialect
        self.origin = origin
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.unique_id in self.nodes:
                raise SchemaError(
                    "appears twice", path=origin, field="unique_id", node_id=node.unique_id
                )
            self.nodes[node.unique_id] = node
        graph = nx.DiGraph()
        graph.add_nodes_from(sorted(self.nodes))
        unknown = []
        for parent, child in edges:
            if parent not in self.nodes or child not in self.nodes:
                unknown.append((parent, child))
                continue
            if parent != child:
                graph.add_edge(parent, child)
        if unknown:
            listed = ", ".join(f"{p} → {c}" for p, c in unknown[:5])
            more = f" … and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise SchemaError(
                f"edge to a node the project does not have: {listed}{more}",
                path=origin,
                field="depends_on",
            )
        if not nx.is_directed_acyclic_graph(graph):
            cycle = " → ".join(p for p, _ in nx.find_cycle(graph))
            raise SchemaError(f"the DAG has a cycle: {cycle}", path=origin, field="depends_on")
        self.graph = graph

    # -- construction helpers -------------------------------------------------------------
    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Iterable[str]],
        *,
        name: str = "demo",
        materialization: str = "table",
        dialect: str | None = None,
    ) -> Project:
        """Build a small project from ``{name: [parent names]}``; names with a dot are sources.

        >>> Project.from_spec({"raw.a": [], "m": ["raw.a"]}).nodes["model.demo.m"].materialization
        'table'
        """
        ids: dict[str, str] = {}
        nodes = []
        for node_name in spec:
            if "." in node_name:
                uid = f"source.{name}.{node_name}"
                nodes.append(Node(uid, node_name.split(".")[-1], "source", package=name))
            else:
                uid = f"model.{name}.{node_name}"
                nodes.append(
                    Node(uid, node_name, "model", materialization=materialization, package=name)
                )
            ids[node_name] = uid
        edges = []
        for node_name, parents in spec.items():
            for parent in parents:
                if parent not in ids:
                    raise SchemaError(f"parent {parent!r} is not declared", node_id=node_name)
                edges.append((ids[parent], ids[node_name]))
        return cls(nodes, edges, name=name, dialect=dialect)

    def with_nodes(self, nodes: Iterable[Node]) -> Project:
        """A copy with some nodes replaced (same ids, same edges)."""
        replaced = dict(self.nodes)
        for node in nodes:
            if node.unique_id not in replaced:
                raise SchemaError("not in the project", node_id=node.unique_id)
            replaced[node.unique_id] = node
        return Project(
            replaced.values(),
            self.graph.edges,
            name=self.name,
            dialect=self.dialect,
            origin=self.origin,
        )

    def replace_node(self, unique_id: str, **changes: object) -> Project:
        """A copy with one node's fields changed."""
        return self.with_nodes([replace(self.nodes[unique_id], **changes)])

    # -- structure ------------------------------------------------------------------------
    @cached_property
    def _dag_order(self) -> tuple[str, ...]:
        """Topological order of the ``depends_on`` DAG alone, ties broken by unique id."""
        return _kahn(self.graph.nodes, self.graph.successors, self.graph.in_degree)

    @cached_property
    def _tests_before(self) -> dict[str, tuple[str, ...]]:
        """Per node, the data tests ``dbt build`` runs before it: the tests of its parents.

        dbt build runs a node's tests before its children, so a failed error-severity test
        can skip them. A test on several nodes is put before a child only when each node it
        tests comes before that child in :attr:`_dag_order` (no path can then lead from the
        child back to the test), so the order stays acyclic.
        """
        pos = {u: i for i, u in enumerate(self._dag_order)}
        before: dict[str, list[str]] = {}
        for uid, node in self.nodes.items():
            if not node.is_test:
                continue
            tested = self._parents[uid]
            if not tested:
                continue
            last = max(pos[t] for t in tested)
            for parent in tested:
                for child in self._children[parent]:
                    if child != uid and not self.nodes[child].is_test and pos[child] > last:
                        before.setdefault(child, []).append(uid)
        return {k: tuple(sorted(set(v))) for k, v in before.items()}

    def run_parents(self, unique_id: str) -> tuple[str, ...]:
        """What ``dbt build`` finishes before it starts a node: its direct parents and the
        data tests of those parents (sorted ids). An ephemeral parent is never executed (dbt
        inlines it), so the node also waits for what that parent would wait for.

        >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
        >>> p.run_parents("model.demo.fct")
        ('model.demo.stg',)
        >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "eph": ["stg"], "fct": ["eph"]})
        >>> p = p.replace_node("model.demo.eph", materialization="ephemeral")
        >>> p.run_parents("model.demo.fct")
        ('model.demo.eph', 'model.demo.stg')
        """
        return self._run_parents[unique_id]

    @cached_property
    def _run_parents(self) -> dict[str, tuple[str, ...]]:
        tests_before = self._tests_before
        out: dict[str, tuple[str, ...]] = {}
        for uid in self._dag_order:
            parents = self._parents[uid]
            extra = tests_before.get(uid, ())
            through = [out[p] for p in parents if self.nodes[p].is_ephemeral]
            if extra or through:
                out[uid] = tuple(sorted({*parents, *extra, *(q for t in through for q in t)}))
            else:
                out[uid] = parents
        return out

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Every node id in the order ``dbt build`` reaches them: topological, with each
        node's parents' data tests before it (:meth:`run_parents`); ties broken by unique id,
        so it is stable."""
        tests_before = self._tests_before
        if not tests_before:
            return self._dag_order
        followers: dict[str, list[str]] = {}
        for child, tests in tests_before.items():
            for test in tests:
                followers.setdefault(test, []).append(child)
        indegree = {n: self.graph.in_degree(n) + len(tests_before.get(n, ())) for n in self.graph}

        def successors(n: str) -> Iterable[str]:
            yield from self.graph.successors(n)
            yield from followers.get(n, ())

        return _kahn(self.graph.nodes, successors, indegree.__getitem__)

    @cached_property
    def position(self) -> dict[str, int]:
        """Index of each node in :attr:`order`."""
        return {n: i for i, n in enumerate(self.order)}

    @cached_property
    def _parents(self) -> dict[str, tuple[str, ...]]:
        return {n: tuple(sorted(self.graph.predecessors(n))) for n in self.graph}

    @cached_property
    def _children(self) -> dict[str, tuple[str, ...]]:
        return {n: tuple(sorted(self.graph.successors(n))) for n in self.graph}

    @cached_property
    def _tests(self) -> dict[str, tuple[str, ...]]:
        tests: dict[str, list[str]] = {}
        for uid, node in self.nodes.items():
            if node.is_test:
                for parent in self._parents[uid]:
                    tests.setdefault(parent, []).append(uid)
        return {k: tuple(sorted(v)) for k, v in tests.items()}

    def parents(self, unique_id: str) -> tuple[str, ...]:
        """Direct parents (sorted ids)."""
        return self._parents[unique_id]

    def children(self, unique_id: str) -> tuple[str, ...]:
        """Direct children (sorted ids), data tests included."""
        return self._children[unique_id]

    def tests_of(self, unique_id: str) -> tuple[str, ...]:
        """Data tests attached to a node."""
        return self._tests.get(unique_id, ())

    def ancestors(self, unique_id: str) -> frozenset[str]:
        return frozenset(nx.ancestors(self.graph, unique_id))

    def descendants(self, unique_id: str) -> frozenset[str]:
        return frozenset(nx.descendants(self.graph, unique_id))

    def of_type(self, *resource_types: str) -> tuple[str, ...]:
        """Node ids of the given resource types, in topological order."""
        wanted = set(resource_types)
        return tuple(n for n in self.order if self.nodes[n].resource_type in wanted)

    @property
    def buildable(self) -> tuple[str, ...]:
        """Models, seeds and snapshots in topological order."""
        return self.of_type(*BUILDABLE)

    @property
    def sources(self) -> tuple[str, ...]:
        return self.of_type("source")

    @property
    def tests(self) -> tuple[str, ...]:
        return self.of_type("test")

    @property
    def edges(self) -> list[tuple[str, str]]:
        return sorted(self.graph.edges)

    def counts(self) -> dict[str, int]:
        """Nodes by resource type.

        >>> Project.from_spec({"raw.a": [], "m": ["raw.a"]}).counts()
        {'model': 1, 'source': 1}
        """
        out: dict[str, int] = {}
        for node in self.nodes.values():
            out[node.resource_type] = out.get(node.resource_type, 0) + 1
        return dict(sorted(out.items()))

    def depth(self) -> int:
        """Length of the longest parent → child chain (in edges)."""
        level: dict[str, int] = {}
        for n in self.order:
            level[n] = max((level[p] + 1 for p in self._parents[n]), default=0)
        return max(level.values(), default=0)

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        for uid, node in self.nodes.items():
            names.setdefault(node.name, []).append(uid)
            if node.resource_type == "source":
                names.setdefault(node.source_name, []).append(uid)
        return names

    def resolve(self, name: str) -> str:
        """The unique id of a node given its id or its name (models first when ambiguous).

        >>> Project.from_spec({"raw.a": [], "m": ["raw.a"]}).resolve("m")
        'model.demo.m'
        """
        if name in self.nodes:
            return name
        matches = self._by_name.get(name, [])
        if not matches:
            close = difflib.get_close_matches(name, list(self._by_name), n=3, cutoff=0.5)
            raise SelectionError(
                f"no node named {name!r} in project {self.name!r}"
                + (f"; closest names: {', '.join(close)}" if close else "")
            )
        order = {"model": 0, "seed": 1, "snapshot": 2, "source": 3}
        return sorted(matches, key=lambda u: (order.get(self.nodes[u].resource_type, 9), u))[0]

    # -- selection ------------------------------------------------------------------------
    def select(self, selector: str | None = None, exclude: str | None = None) -> frozenset[str]:
        """Node ids matched by a dbt-style selector.

        Space-separated terms are a union, comma-joined terms an intersection. Each term is a
        node name (glob allowed), ``tag:x``, ``path:models/marts``, ``source:raw.orders``,
        ``resource_type:seed``, ``package:x``, ``config.materialized:view`` or ``*``, with
        ``+`` (or ``N+``) before for ancestors and after for descendants, and ``@`` for
        descendants and their ancestors. ``None`` or ``"*"`` selects everything.

        >>> p = Project.from_spec({"raw.a": [], "s": ["raw.a"], "f": ["s"], "g": ["s"]})
        >>> sorted(p.select("+f"))
        ['model.demo.f', 'model.demo.s', 'source.demo.raw.a']
        >>> sorted(p.select("f g"))
        ['model.demo.f', 'model.demo.g']
        """
        chosen = self._select(selector) if selector and selector.strip() else frozenset(self.nodes)
        if exclude and exclude.strip():
            chosen = chosen - self._select(exclude)
        return chosen

    def _select(self, selector: str) -> frozenset[str]:
        out: set[str] = set()
        for union_term in selector.split():
            parts = [self._select_term(t) for t in union_term.split(",") if t]
            if parts:
                out |= frozenset.intersection(*parts)
        return frozenset(out)

    def _select_term(self, term: str) -> frozenset[str]:
        at = term.startswith("@")
        body = term[1:] if at else term
        up: int | None = 0
        down: int | None = 0
        rest = body
        if _leading_plus(body):
            digits, _, rest = body.partition("+")
            up = int(digits) if digits else None
        stripped = rest.rstrip("0123456789")
        if stripped.endswith("+"):
            tail = rest[len(stripped) :]
            rest = stripped[:-1]
            down = int(tail) if tail else None
        base = self._select_method(rest)
        if not base:
            raise SelectionError(
                f"selector {term!r} matches no node in project {self.name!r}; "
                + selector_hint(self, term)
            )
        out = set(base)
        if at:
            for n in base:
                for d in nx.descendants(self.graph, n) | {n}:
                    out.add(d)
                    out |= nx.ancestors(self.graph, d)
            return frozenset(out)
        if up != 0:
            for n in base:
                out |= self._walk(n, up, upward=True)
        if down != 0:
            for n in base:
                out |= self._walk(n, down, upward=False)
        return frozenset(out)

    def _walk(self, start: str, depth: int | None, *, upward: bool) -> set[str]:
        if depth is None:
            return set(
                nx.ancestors(self.graph, start) if upward else nx.descendants(self.graph, start)
            )
        seen: set[str] = set()
        frontier = {start}
        for _ in range(depth):
            nxt = set()
            for n in frontier:
                nxt |= set(self._parents[n] if upward else self._children[n])
            nxt -= seen
            seen |= nxt
            frontier = nxt
        return seen

    def _select_method(self, term: str) -> set[str]:
        method, sep, value = term.partition(":")
        if not sep:
            method, value = "name", term
        nodes = self.nodes.values()
        if value == "*" and method == "name":
            return set(self.nodes)
        if method == "name":
            return {
                n.unique_id
                for n in nodes
                if fnmatch.fnmatchcase(n.name, value)
                or n.unique_id == value
                or (n.resource_type == "source" and fnmatch.fnmatchcase(n.source_name, value))
            }
        if method == "tag":
            return {
                n.unique_id for n in nodes if any(fnmatch.fnmatchcase(t, value) for t in n.tags)
            }
        if method == "path":
            prefix = value.rstrip("/")
            return {
                n.unique_id
                for n in nodes
                if n.path == prefix
                or n.path.startswith(prefix + "/")
                or fnmatch.fnmatchcase(n.path, value)
            }
        if method == "source":
            return {
                n.unique_id
                for n in nodes
                if n.resource_type == "source"
                and (
                    fnmatch.fnmatchcase(n.source_name, value)
                    or fnmatch.fnmatchcase(n.source_name.split(".")[0], value)
                )
            }
        if method == "resource_type":
            return {n.unique_id for n in nodes if n.resource_type == value}
        if method == "package":
            return {n.unique_id for n in nodes if n.package == value}
        if method in ("config.materialized", "materialized"):
            return {n.unique_id for n in nodes if n.materialization == value}
        if method == "fqn":
            return {n.unique_id for n in nodes if fnmatch.fnmatchcase(n.unique_id, f"*{value}")}
        raise SelectionError(
            f"unknown selector method {method!r} in {term!r}; use a name, tag:, path:, source:, "
            "resource_type:, package: or config.materialized:"
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        return f"Project({self.name!r}, {counts}, edges={self.graph.number_of_edges()})"


def _leading_plus(body: str) -> bool:
    digits = len(body) - len(body.lstrip("0123456789"))
    return body[digits : digits + 1] == "+"


def _kahn(
    nodes: Iterable[str],
    successors: Callable[[str], Iterable[str]],
    in_degree: Callable[[str], int],
) -> tuple[str, ...]:
    """Kahn's topological sort, the smallest ready id first (a stable order)."""
    indegree = {n: in_degree(n) for n in nodes}
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        out.append(n)
        for child in successors(n):
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, child)
    return tuple(out)
