"""The recommender's structural search: per-node windows from the SLA and the job cadence,
repaired from the sources downstream.

A node's staleness depends only on its ancestors' settings and the arrivals, and its cost on its
own setting; so the search proposes each node's window on its own and repairs breaches top-down:

1. **Facts** (:func:`node_facts`): each node's binding SLA — its own or the tightest of its
   consumers' (the models downstream) — and the cadence its data lands at.
2. **Grid** (:data:`WINDOW_GRID_S`): the windows searched, minutes to a week. A window the cadence
   lint (:mod:`saosim.replay.cadence`) would flag on the node's jobs is never proposed.
3. **Proposal** (:func:`propose`): the longest clean window that leaves one run of the node's
   jobs inside the SLA (``W ≤ SLA − run interval``).
4. **Repair** (:func:`repair`): after scoring, every node whose hours over its SLA exceed the
   baseline's is shortened — halved where no ancestor is to blame (a root of the breach), one grid
   step where an ancestor breaches too (its breach may be the ancestor's, repaired first).

>>> [hours_text(w) for w in WINDOW_GRID_S[:3]], hours_text(WINDOW_GRID_S[-1])
(['10m', '15m', '20m'], '7d')
>>> clean(23 * 3600, 86400.0), clean(86400, 86400.0), clean(5 * 3600, 3600.0)
(True, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from saosim.project.slas import hours_text
from saosim.replay.cadence import STRETCH, job_cadences
from saosim.tune.recommend_score import Candidate, CompiledEstate, Schedule, Score

__all__ = [
    "WINDOW_GRID_S",
    "NodeFacts",
    "clean",
    "node_facts",
    "propose",
    "repair",
    "schedule_intervals",
]

_M, _H, _D = 60, 3600, 86400
#: the build_after windows searched (seconds): the search space, bounded; 0 (no window) is
#: always allowed besides these
WINDOW_GRID_S: tuple[int, ...] = (
    *(m * _M for m in (10, 15, 20, 30, 45, 55)),
    *(h * _H for h in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 18, 20, 22, 23)),
    *(d * _D for d in (1, 2, 3, 7)),
)
#: a node's hours over its SLA may exceed the baseline's by this much and count as kept
#: (float noise of the staleness integral)
TOLERANCE_H = 1e-3


def clean(window_s: float, interval_s: float) -> bool:
    """Whether the cadence lint leaves ``window_s`` alone on jobs ``interval_s`` apart (the
    same test as :func:`saosim.replay.cadence.lint_cadence`; ``inf``: no job)."""
    if window_s <= 0 or not np.isfinite(interval_s) or interval_s <= 0:
        return True
    return not (
        window_s >= interval_s and (window_s // interval_s + 1) * interval_s >= STRETCH * window_s
    )


@dataclass(frozen=True)
class NodeFacts:
    """Per node (in :attr:`CompiledEstate.nodes` order) what the proposal and the reasons use.

    ``sla_s`` is the binding SLA (own or a consumer's; ``nan``: none), ``binding`` the node
    whose SLA it is, ``cadence_s`` the shortest median gap between arrivals of the node's
    upstream sources (``nan``: none recorded) and ``lands_at`` their typical time of day
    (``HH:MM`` UTC, for daily data).
    """

    sla_s: np.ndarray
    binding: tuple[str | None, ...]
    cadence_s: np.ndarray
    lands_at: tuple[str | None, ...]


def node_facts(ce: CompiledEstate) -> NodeFacts:
    """The binding SLA and arrival cadence of every node (module docstring, step 1)."""
    project = ce.estate.project
    index = {u: i for i, u in enumerate(ce.nodes)}
    sla = ce.sla_s.copy()
    pairs = zip(ce.nodes, sla, strict=True)
    binding: list[str | None] = [u if np.isfinite(s) else None for u, s in pairs]
    # reverse topological order: a node's consumers are settled before it
    for uid in reversed(project.order):
        i = index.get(uid)
        if i is None:
            continue
        for child in project.children(uid):
            j = index.get(child)
            if j is not None and np.isfinite(sla[j]) and not sla[i] <= sla[j]:
                sla[i], binding[i] = sla[j], binding[j]
    src_gap, src_tod = _source_cadences(ce)
    gap = np.full(len(ce.nodes), np.nan)
    lands: list[str | None] = [None] * len(ce.nodes)
    best: dict[str, tuple[float, str | None]] = {}
    for uid in project.order:  # topological: parents first, so each node reads its parents'
        if uid in src_gap:
            best[uid] = (src_gap[uid], src_tod.get(uid))
            continue
        ups = [best[p] for p in project.parents(uid) if p in best]
        if ups:
            best[uid] = min(ups, key=lambda t: t[0])
        i = index.get(uid)
        if i is not None and uid in best:
            gap[i], lands[i] = best[uid]
    return NodeFacts(sla, tuple(binding), gap, tuple(lands))


def _source_cadences(ce: CompiledEstate) -> tuple[dict[str, float], dict[str, str]]:
    arr = ce.estate.source_arrivals
    if arr.height == 0:
        return {}, {}
    per = (
        arr.sort("arrived_at")
        .group_by("unique_id")
        .agg(
            pl.col("arrived_at").diff().dt.total_seconds().median().alias("gap"),
            (pl.col("arrived_at").dt.hour().cast(pl.Int32) * 60 + pl.col("arrived_at").dt.minute())
            .median()
            .alias("tod"),
        )
    )
    gaps, tods = {}, {}
    for uid, gap, tod in per.iter_rows():
        if gap is None:
            continue
        gaps[uid] = float(gap)
        if 20 * _H <= gap <= 28 * _H and tod is not None:
            tods[uid] = f"{int(tod) // 60:02d}:{int(tod) % 60:02d}"
    return gaps, tods


def schedule_intervals(ce: CompiledEstate, schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the lint's interval (the shortest of its jobs' own intervals; ``inf``: no
    job) and the typical gap between consecutive runs that select it (all jobs together)."""
    index = {u: i for i, u in enumerate(ce.nodes)}
    lint = np.full(len(ce.nodes), np.inf)
    for job in job_cadences(ce.estate, schedule.jobs):
        if job.interval_s <= 0:
            continue
        for uid in job.nodes:
            i = index.get(uid)
            if i is not None:
                lint[i] = min(lint[i], job.interval_s)
    if schedule.jobs is not None:
        return lint, lint.copy()
    runs = ce.estate.runs.select("run_id", "started_at")
    gaps = (
        ce.estate.scan_node_runs()
        .select("run_id", "unique_id")
        .unique()
        .join(runs.lazy(), on="run_id")
        .sort("started_at")
        .group_by("unique_id")
        .agg(pl.col("started_at").diff().dt.total_seconds().median().alias("gap"))
        .collect()
    )
    eff = lint.copy()
    for uid, gap in gaps.iter_rows():
        i = index.get(uid)
        if i is not None and gap:
            eff[i] = min(eff[i], float(gap))
    return lint, eff


def allowed_windows(lint_s: float) -> tuple[int, ...]:
    """0 and the grid's windows the cadence lint leaves alone on jobs ``lint_s`` apart."""
    return (0, *(w for w in WINDOW_GRID_S if clean(w, lint_s)))


def propose(
    facts: NodeFacts, lint: np.ndarray, eff: np.ndarray, headroom: float = 1.0
) -> np.ndarray:
    """Each node's longest clean window leaving one run inside its binding SLA (step 3);
    nodes without an SLA get the longest clean window up to a day (nothing to keep).

    ``headroom`` scales the SLA: above 1 the windows are longer than the SLA allows on paper,
    which the relax step uses when a schedule keeps the SLAs with room to spare (the breach
    share is over model-time, so a window may overshoot at some runs and still keep it)."""
    out = np.zeros(len(lint), dtype=np.int64)
    for i in range(len(lint)):
        sla = facts.sla_s[i] * headroom
        run = eff[i] if np.isfinite(eff[i]) else 0.0
        if not np.isfinite(sla):
            cap = float(_D)
        elif sla > run:
            cap = sla - run
        else:
            cap = sla / 2
        fits = [w for w in allowed_windows(lint[i]) if w <= cap]
        out[i] = max(fits) if fits else 0
    return out


def repair(
    ce: CompiledEstate,
    windows: np.ndarray,
    score: Score,
    lint: np.ndarray,
    ancestors: dict[int, frozenset[int]],
) -> tuple[np.ndarray, int]:
    """Shorten the windows of the nodes that breach their SLA more than the baseline (step 4).

    Returns the new windows and how many nodes changed (0: nothing left to repair).
    """
    base = np.nan_to_num(ce.baseline_score.miss_h, nan=0.0)
    mine = np.nan_to_num(score.miss_h, nan=0.0)
    worse = np.flatnonzero((mine - base > TOLERANCE_H) & (windows > 0))
    blamed = set(np.flatnonzero(mine - base > TOLERANCE_H).tolist())
    out = windows.copy()
    for i in worse.tolist():
        grid = allowed_windows(lint[i])
        shorter = [w for w in grid if w < windows[i]]
        if not shorter:
            continue
        ups = _ancestors(ce, i, ancestors)
        if ups & blamed:
            out[i] = max(shorter)  # an ancestor breaches too: one step, it is repaired first
        else:
            halves = [w for w in shorter if w <= windows[i] / 2]
            out[i] = max(halves) if halves else 0
    # from the sources downstream: a breaching node's ancestors keep no longer a window than
    # it now has (its data waits on theirs), each clamped to a window its own jobs allow
    for i in worse.tolist():
        for a in _ancestors(ce, i, ancestors):
            if out[a] > out[i]:
                fits = [w for w in allowed_windows(lint[a]) if w <= out[i]]
                out[a] = max(fits) if fits else 0
    return out, int(np.count_nonzero(out != windows))


def _ancestors(ce: CompiledEstate, i: int, memo: dict[int, frozenset[int]]) -> frozenset[int]:
    if i not in memo:
        index = {u: j for j, u in enumerate(ce.nodes)}
        ups = ce.estate.project.ancestors(ce.nodes[i])
        memo[i] = frozenset(index[u] for u in ups if u in index)
    return memo[i]


def candidate(label: str, schedule: str, windows: np.ndarray, updates_all: np.ndarray) -> Candidate:
    """A :class:`Candidate` from per-node arrays."""
    return Candidate(
        label,
        schedule,
        tuple(int(w) for w in windows),
        tuple(bool(b) for b in updates_all),
    )


def cadence_text(gap_s: float, lands_at: str | None) -> str:
    """How a node's data lands, for its reason line.

    >>> cadence_text(86400.0, "02:10"), cadence_text(3 * 3600.0, None)
    ('data lands daily at 02:10', 'data lands about every 3h')
    >>> cadence_text(float("nan"), None)
    'no arrivals are recorded upstream'
    """
    if not np.isfinite(gap_s):
        return "no arrivals are recorded upstream"
    if lands_at is not None:
        return f"data lands daily at {lands_at}"
    rounded = max(60.0, round(gap_s / 60.0) * 60.0)
    return f"data lands about every {hours_text(rounded)}"
