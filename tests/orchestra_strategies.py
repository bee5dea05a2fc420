"""Hypothesis strategies for the dbt-orchestra conformance tests: one job run as a :class:`Case`.

>>> from hypothesis import find, settings
>>> case = find(cases(), lambda c: len(c.compared) >= 2, settings=settings(database=None))
>>> len(case.compared)
2
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cache, lru_cache
from graphlib import TopologicalSorter
from typing import TypeVar

from hypothesis import strategies as st

from tests.orchestra_harness import T0, Case, CaseNode, CaseState, through_ephemerals

__all__ = [
    "WINDOWS",
    "big_cases",
    "cases",
    "dag_from_manifest",
    "dags",
    "one_in",
    "with_build_after",
]

T = TypeVar("T")

# -- generator ----------------------------------------------------------------------------------

PERIOD_S = {"minute": 60, "hour": 3600, "day": 86400}
WINDOWS = [(1, "hour"), (6, "hour"), (90, "minute"), (1, "day"), (2, "hour"), (30, "minute")]
_KINDS = ["table", "table", "view", "incremental", "ephemeral", "python", "seed", "snapshot"]
_EDGE_AGES = sorted(
    {max(0, c * PERIOD_S[p] + d) for c, p in WINDOWS for d in (-61, -60, -1, 0, 1, 60)}
)


def one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws.

    Measured: hypothesis favours 0 and the ends of an integer range (``integers(0, 24) == 0``
    held 7 % of the time, ``== 12`` 1 %), while the last item of ``sampled_from`` comes close to
    1/n (4.2 % for n = 25).
    """
    return draw(_choices(n)) == n - 1


@cache
def _choices(n: int) -> st.SearchStrategy[int]:
    # Strategies are built once: building them per draw cost more than drawing.
    return st.sampled_from(range(n))


_KIND = st.sampled_from(_KINDS)
_WINDOW = st.sampled_from(WINDOWS)
_UPDATES_ON = st.sampled_from([None, "any", "all"])


@lru_cache(maxsize=512)
def _sampled(items: tuple) -> st.SearchStrategy:
    return st.sampled_from(items)


@lru_cache(maxsize=512)
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


class _Draws:
    """The few kinds of choice a case is made of: from hypothesis (shrinkable), or from one
    drawn ``Random`` for DAGs too big for hypothesis's choice buffer (thousands of nodes)."""

    def __init__(self, draw: st.DrawFn | None = None, rng: random.Random | None = None) -> None:
        self.draw, self.rng = draw, rng

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(_integers(lo, hi)) if self.draw else self.rng.randint(lo, hi)

    def pick(self, items: Sequence[T]) -> T:
        return self.draw(_sampled(tuple(items))) if self.draw else self.rng.choice(items)

    def one_in(self, n: int) -> bool:
        return one_in(self.draw, n) if self.draw else self.rng.randrange(n) == n - 1

    def subset(self, items: Sequence[T], min_size: int = 0) -> frozenset[T]:
        if self.draw:
            chosen = st.lists(_sampled(tuple(items)), min_size=min_size, unique=True)
            return frozenset(self.draw(chosen))
        return frozenset(self.rng.sample(list(items), self.rng.randint(min_size, len(items))))


@st.composite
def dags(draw: st.DrawFn, *, max_buildable: int = 8, packages: bool = True) -> tuple[CaseNode, ...]:
    """Sources, models (table/view/incremental/ephemeral/Python, some from a package), seeds,
    snapshots and data tests, half of the buildable ones with a random ``build_after``."""
    n_sources = draw(st.integers(0, 3))
    nodes: list[CaseNode] = [CaseNode(f"raw.src{i}", "source") for i in range(n_sources)]
    for i in range(draw(st.integers(1, max_buildable))):
        kind = draw(_KIND)
        build_after = None
        if draw(st.booleans()):
            count, period = draw(_WINDOW)
            build_after = (count, period, draw(_UPDATES_ON))
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
        package = "pkg" if packages and one_in(draw, 6) else None
        nodes.append(CaseNode(f"m{i}", "model", parents, mat, language, build_after, package))
        if mat != "ephemeral" and one_in(draw, 4):
            nodes.append(CaseNode(f"test_m{i}", "test", (f"m{i}",)))
    return tuple(nodes)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_buildable: int = 8,
    selections: bool = True,
    packages: bool = True,
    seed_state: bool = True,
    dag: st.SearchStrategy[tuple[CaseNode, ...]] | None = None,
) -> Case:
    """Random job runs: DAG, configs, last builds, source data, clock (and a selection).

    Build ages cluster on window edges (exactly W, W ± 1 s, W ± 1 min) so whole-minute rounding
    and ``<`` versus ``≤`` show up. The flags switch generator regions off by name.
    """
    if dag is None:
        dag = dags(max_buildable=max_buildable, packages=packages)
    nodes = draw(dag)
    return _case(nodes, _Draws(draw=draw), selections=selections, seed_state=seed_state)


@st.composite
def big_cases(draw: st.DrawFn, nodes: tuple[CaseNode, ...]) -> Case:
    """As :func:`cases` on a fixed (large) DAG, with random ``build_after``; the choices come
    from one drawn ``Random``, so a failure reports the case but does not shrink it."""
    choices = _Draws(rng=draw(st.randoms(use_true_random=True)))
    return _case(_with_build_after(nodes, choices), choices)


def _case(
    nodes: tuple[CaseNode, ...], c: _Draws, *, selections: bool = True, seed_state: bool = True
) -> Case:
    at = T0 + timedelta(seconds=c.integer(0, 7 * 86400))
    source_versions = {}
    for n in nodes:
        if n.resource_type == "source" and not c.one_in(5):
            source_versions[n.name] = at - timedelta(seconds=c.integer(0, 2 * 86400))
    probe = Case(nodes, {}, {}, at)
    state: dict[str, CaseState] = {}
    for n in nodes:
        if not n.is_buildable or n.is_ephemeral or c.one_in(10):
            continue
        age_s = c.pick(_EDGE_AGES) if c.one_in(2) else c.integer(0, 3 * 86400)
        built_at = at - timedelta(seconds=age_s)
        seen: dict[str, datetime] = {}
        for p in sorted({*n.parents, *through_ephemerals(probe, n.name)}):
            if probe.node(p).resource_type != "source":
                continue
            how = c.pick(_SEEN_HOW)
            now = source_versions.get(p)
            if how == "same":
                seen[p] = min(now or built_at, built_at)
            elif how == "earlier":
                seen[p] = min(now or built_at, built_at) - timedelta(seconds=c.integer(1, 86400))
            elif how == "any":
                seen[p] = built_at - timedelta(seconds=c.integer(0, 3 * 86400))
        state[n.name] = CaseState(
            built_at=built_at,
            code_changed=c.one_in(5),
            seen_sources=seen,
            table_exists=not c.one_in(10),
            tests_failed=c.one_in(10),
        )
    select = None
    if selections and c.one_in(3):
        select = c.subset([n.name for n in nodes if n.is_buildable], min_size=1)
    return Case(
        nodes,
        state,
        source_versions,
        at,
        full_refresh=c.one_in(40),
        select=select,
        seed_state_orchestration=seed_state and c.one_in(4),
        verify_relations_exist=not c.one_in(4),
    )


#: How N's record of a source parent relates to the source now (recorded ≤ N's build time).
_SEEN_HOW = ("absent", "same", "same", "earlier", "any")


def dag_from_manifest(data: dict) -> tuple[CaseNode, ...]:
    """A real manifest's DAG as case nodes (same shape, materializations, languages, packages;
    names made unique), in topological order. ``build_after`` is left to the strategy."""
    entries = {
        uid: e
        for section in ("nodes", "sources")
        for uid, e in (data.get(section) or {}).items()
        if e.get("resource_type") in ("model", "seed", "snapshot", "source", "test")
        and (e.get("config") or {}).get("enabled", True)
    }
    models = Counter(e.get("package_name") for e in entries.values() if _is(e, "model"))
    root = (data.get("metadata") or {}).get("project_name") or (
        models.most_common(1)[0][0] if models else ""
    )
    names: dict[str, str] = {}
    for uid, e in sorted(entries.items()):
        if _is(e, "source"):
            name = f"{e.get('source_name', 'src')}.{e['name']}".replace(" ", "_")
        else:
            name = e["name"].replace(".", "_")
        while name in names.values():
            name = f"{name}_{e['resource_type']}"
        names[uid] = name
    deps = {
        uid: [
            p for p in dict.fromkeys((e.get("depends_on") or {}).get("nodes") or []) if p in names
        ]
        for uid, e in entries.items()
    }
    out = []
    for uid in TopologicalSorter(
        {u: [p for p in ps if p != u] for u, ps in deps.items()}
    ).static_order():
        e = entries[uid]
        kind = e["resource_type"]
        package = e.get("package_name")
        out.append(
            CaseNode(
                names[uid],
                kind,
                tuple(names[p] for p in deps[uid] if p != uid)
                if kind not in ("source", "seed")
                else (),
                (e.get("config") or {}).get("materialized") if kind == "model" else None,
                e.get("language") or "sql",
                None,
                package if kind == "model" and package != root else None,
            )
        )
    return tuple(out)


def _is(entry: dict, resource_type: str) -> bool:
    return entry.get("resource_type") == resource_type


@st.composite
def with_build_after(draw: st.DrawFn, nodes: tuple[CaseNode, ...]) -> tuple[CaseNode, ...]:
    """The same DAG with a random ``build_after`` on about half of the buildable nodes."""
    return _with_build_after(nodes, _Draws(draw=draw))


def _with_build_after(nodes: tuple[CaseNode, ...], c: _Draws) -> tuple[CaseNode, ...]:
    out = []
    for n in nodes:
        if n.is_buildable and c.one_in(2):
            count, period = c.pick(WINDOWS)
            n = replace(n, build_after=(count, period, c.pick((None, "any", "all"))))
        out.append(n)
    return tuple(out)
