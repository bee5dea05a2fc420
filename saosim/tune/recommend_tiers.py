"""Per-node windows merged into a few tiers, each picked by selectors a human would write.

:func:`merge_windows` picks ``k`` tier windows from the per-node ones so that the most
node-window is kept (a node takes the longest tier window no longer than its own that the
cadence lint leaves alone on its jobs — never longer, so a tier never breaches more than the
per-node settings it merges). :func:`tier_selectors` then names each tier's nodes with dbt
selectors: tags, folders (``path:``), ``+model`` (a model and its ancestors), and only then
model names. The largest tier is ``default`` (no selector); the others are listed shortest
window first, because the first tier that selects a node wins.

>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"], "dim": ["stg"]})
>>> ids = ["model.demo.stg", "model.demo.fct", "model.demo.dim"]
>>> tiers = tiers_mapping(p, ids, [3600, 82800, 82800], [False] * 3, 2)
>>> tiers["default"]["build_after"], tiers["w1h"]["select"]
({'count': 23, 'period': 'hour', 'updates_on': 'any'}, 'stg')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from saosim.project.graph import Project
from saosim.project.slas import hours_text
from saosim.project.tiers import DEFAULT_TIER, Tiers
from saosim.tune.recommend_score import Candidate, window_build_after
from saosim.tune.recommend_search import clean

__all__ = [
    "candidate_of_tiers",
    "merge_windows",
    "tier_selectors",
    "tiers_and_windows",
    "tiers_mapping",
]


def merge_windows(windows: Sequence[int], k: int) -> list[int]:
    """``k`` (or fewer) tier windows from the per-node ones, keeping the most node-window.

    Every node takes the longest chosen window ≤ its own; the shortest window present is
    always chosen, so every node has one. Exact dynamic programme over the distinct windows.

    >>> merge_windows([0, 3600, 3600, 82800, 82800, 82800, 86400], 2)
    [0, 82800]
    >>> merge_windows([0, 3600, 82800], 5)
    [0, 3600, 82800]
    """
    values, counts = np.unique(np.asarray(windows, dtype=np.int64), return_counts=True)
    m = len(values)
    if m <= k:
        return [int(v) for v in values]
    # keep[j][i]: node-window kept by values[j..i-1] all mapped to values[j]
    csum = np.concatenate([[0], np.cumsum(counts)])
    neg = -np.inf
    best = np.full((k + 1, m), neg)  # best[t][j]: t windows chosen, the last is values[j]
    back = np.zeros((k + 1, m), dtype=np.int64)
    best[1][0] = 0.0
    for t in range(2, k + 1):
        for j in range(1, m):
            for i in range(j):
                if best[t - 1][i] == neg:
                    continue
                gain = best[t - 1][i] + values[i] * (csum[j] - csum[i])
                if gain > best[t][j]:
                    best[t][j], back[t][j] = gain, i
    total = [
        (best[t][j] + values[j] * (csum[m] - csum[j]), t, j)
        for t in range(1, k + 1)
        for j in range(m)
        if best[t][j] != neg
    ]
    _, t, j = max(total, key=lambda x: (x[0], -x[1]))
    chosen = [j]
    while t > 1:
        j = int(back[t][j])
        t -= 1
        chosen.append(j)
    return sorted(int(values[c]) for c in chosen)


def _assign(windows: Sequence[int], lint: Sequence[float], tier_windows: list[int]) -> list[int]:
    """Each node's tier window: the longest ≤ its own that the lint leaves alone, else 0."""
    out = []
    for w, interval in zip(windows, lint, strict=True):
        fits = [t for t in tier_windows if t <= w and clean(t, interval)]
        out.append(max(fits) if fits else 0)
    return out


# what a term selects, per project (a search merges the same project's tiers many times)
_SELECTED: dict[tuple[int, str], frozenset[str]] = {}


def _selected(project: Project, term: str) -> frozenset[str]:
    key = (id(project), term)
    if key not in _SELECTED:
        if len(_SELECTED) > 100_000:
            _SELECTED.clear()
        _SELECTED[key] = project.select(term) & frozenset(project.buildable)
    return _SELECTED[key]


def _terms(project: Project, group: set[str]) -> dict[str, frozenset[str]]:
    """Selector terms a human would write for nodes of ``group``: tags, folders, ``+model``."""
    terms: dict[str, frozenset[str]] = {}
    tags = sorted({t for u in group for t in project.nodes[u].tags})
    for tag in tags:
        terms[f"tag:{tag}"] = _selected(project, f"tag:{tag}")
    folders = set()
    for u in group:
        parts = PurePosixPath(project.nodes[u].path).parts[:-1] if project.nodes[u].path else ()
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    for folder in sorted(folders):
        terms[f"path:{folder}"] = _selected(project, f"path:{folder}")
    # a tip of the group (no child in it) with its ancestors: the "+model" a human writes
    for u in sorted(group):
        if not any(c in group for c in project.children(u)):
            terms[f"+{project.nodes[u].name}"] = _selected(project, f"+{project.nodes[u].name}")
    return terms


def tier_selectors(project: Project, groups: list[tuple[str, set[str]]]) -> dict[str, str]:
    """A selector for each tier's nodes, the tiers in the order listed (first wins).

    A term may select nodes of the tier or of tiers listed before it (those keep their
    tier), never others; the greediest term goes first, then model names for the rest.
    """
    claimed: set[str] = set()
    out: dict[str, str] = {}
    for name, group in groups:
        allowed = group | claimed
        terms = {t: s for t, s in _terms(project, group).items() if s and s <= allowed}
        left = set(group)
        chosen: list[str] = []
        while left:
            term, cover = max(
                ((t, len(s & left)) for t, s in terms.items()), key=lambda x: (x[1], -len(x[0]))
            ) if terms else ("", 0)  # fmt: skip
            if cover < 2:
                break
            chosen.append(term)
            left -= terms.pop(term)
        # a model's name selects every buildable node of that name (one, unless two packages
        # share it): counted once here, not by a selector scan per name
        by_name: dict[str, set[str]] = {}
        for u in project.buildable:
            by_name.setdefault(project.nodes[u].name, set()).add(u)
        names = sorted(project.nodes[u].name for u in left)
        if any(not by_name[n] <= allowed for n in names):
            raise ValueError(f"tier {name}: some models cannot be named uniquely")
        chosen += names
        out[name] = " ".join(chosen)
        claimed |= group
    return out


def _tier_name(window_s: int) -> str:
    return "no_window" if window_s <= 0 else f"w{hours_text(window_s)}"


def tiers_mapping(
    project: Project,
    nodes: Sequence[str],
    windows: Sequence[int],
    updates_all: Sequence[bool],
    k: int,
    *,
    lint: Sequence[float] | None = None,
    default_updates_on: str = "any",
    dbt_state: bool = False,
) -> dict[str, dict[str, Any]]:
    """The tiers (scenario-file form) that give ``nodes`` at most ``k`` settings merged from
    their per-node ``windows``. ``default_updates_on`` applies to the default tier;
    ``dbt_state`` adds each window as ``lag_tolerance``."""
    return tiers_and_windows(
        project, nodes, windows, updates_all, k, lint=lint,
        default_updates_on=default_updates_on, dbt_state=dbt_state,
    )[0]  # fmt: skip


def tiers_and_windows(
    project: Project,
    nodes: Sequence[str],
    windows: Sequence[int],
    updates_all: Sequence[bool],
    k: int,
    *,
    lint: Sequence[float] | None = None,
    default_updates_on: str = "any",
    dbt_state: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[int], list[bool]]:
    """:func:`tiers_mapping`, with the window and ``updates_on: all`` flag each node gets
    from those tiers (what resolving them gives, without a selector scan per model name)."""
    lint = [float("inf")] * len(nodes) if lint is None else list(lint)
    tier_windows = merge_windows(windows, max(1, k))
    assigned = _assign(windows, lint, tier_windows)
    groups: dict[int, set[str]] = {}
    for uid, w in zip(nodes, assigned, strict=True):
        groups.setdefault(w, set()).add(uid)
    default_w = max(groups, key=lambda w: (len(groups[w]), w))
    others = sorted(w for w in groups if w != default_w)
    selectors = tier_selectors(project, [(_tier_name(w), groups[w]) for w in others])
    out: dict[str, dict[str, Any]] = {}
    for w in [*others, default_w]:
        name = DEFAULT_TIER if w == default_w else _tier_name(w)
        spec: dict[str, Any] = {} if w == default_w else {"select": selectors[name]}
        ba = window_build_after(w, default_updates_on if w == default_w else "any")
        if ba is not None:
            spec["build_after"] = {
                "count": ba.count,
                "period": ba.period,
                "updates_on": ba.updates_on,
            }
            if dbt_state:
                spec["lag_tolerance"] = hours_text(w)
        elif dbt_state:
            spec["lag_tolerance"] = "0s"
        out[name] = spec
    del updates_all  # per-node updates_on is not merged: tiers carry the default tier's only
    every = [w == default_w and default_updates_on == "all" and w > 0 for w in assigned]
    return out, assigned, every


def candidate_of_tiers(
    project: Project, nodes: Sequence[str], tiers: dict[str, Any], label: str, schedule: str
) -> Candidate:
    """The candidate a tiers mapping resolves to (what is scored is what is exported)."""
    cfg = Tiers.from_dict(tiers).resolve(project)
    windows = tuple(int(cfg.for_node(u).window_s) for u in nodes)
    every = tuple(cfg.for_node(u).updates_on == "all" for u in nodes)
    return Candidate(label, schedule, windows, every)
