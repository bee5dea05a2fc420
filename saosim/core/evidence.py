"""A run's decisions with their evidence: the compiled pass's codes become :class:`Decision`\\ s.

:func:`saosim.core.run_pass.decide_run` leaves an action and a reason code per node and, per
parent edge, what the facts step found there (fresh, stale, no arrival data). :class:`Evidence`
reads those arrays, and the state and project the run was decided from, into one
:class:`~saosim.core.decision.Decision` per selected node. The fields every decision carries
(``built_at``, the ``build_after`` in force, ``code_changed``, the schedule's times) are read
column-wise, once per plan; only the reasons that name parents, tests or options
(``new_upstream_data``, ``upstream_failed``, …) look at a node's edges one by one.

>>> from datetime import datetime, timedelta, timezone
>>> from saosim.core.planner import State, plan
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> state = plan(p, State.empty(), at=t, source_versions={}).apply(finished_at=t)
>>> later = t + timedelta(hours=1)
>>> again = plan(p, state, at=later, source_versions={"source.demo.raw.a": later})
>>> again.decisions[0].reason.value, again.decisions[0].fresh_parents
('new_upstream_data', ('source.demo.raw.a',))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import compress, repeat

import numpy as np

from saosim.core import codes
from saosim.core.arrays import BUILTIN_MATERIALIZATIONS, NodeInfo, ProjectIndex
from saosim.core.decision import (
    Action,
    Decision,
    DecisionDraft,
    Profile,
    ProfileOptions,
    Reason,
    Tolerance,
    freeze_decisions,
)
from saosim.core.facts import EDGE_FRESH, EDGE_NO_METADATA, Clock, Graph, NodeStates, RunMarks
from saosim.core.times import from_us
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project

__all__ = ["Evidence"]

_ACTIONS = tuple(Action(a) for a in codes.ACTIONS)
_REASONS = tuple(Reason(r) for r in codes.REASONS)
_UPDATES_ON = ("any", "all")
_NO_WINDOW = (0.0, None)
#: reasons whose evidence names the parents with new data
_WITH_FRESH = frozenset(
    {
        Reason.WAITING_FOR_ALL_UPSTREAMS,
        Reason.CODE_CHANGED,
        Reason.WITHIN_BUILD_AFTER,
        Reason.NEW_UPSTREAM_DATA,
        Reason.UPSTREAM_CODE_CHANGED,
        Reason.WITHIN_LAG_TOLERANCE,
        Reason.NO_NEW_DATA,
        Reason.TESTED_NODE_BUILT,
    }
)
_TOLERANCE_REASONS = frozenset({Reason.WITHIN_LAG_TOLERANCE, Reason.NEW_UPSTREAM_DATA})
_NO_METADATA_REASONS = frozenset(
    {
        Reason.CODE_CHANGED,
        Reason.NEW_UPSTREAM_DATA,
        Reason.WITHIN_BUILD_AFTER,
        Reason.WAITING_FOR_ALL_UPSTREAMS,
        Reason.WITHIN_LAG_TOLERANCE,
    }
)


def _times(values: list[int]) -> list[datetime]:
    """Each µs value as a datetime: a run has a few distinct times, each converted once."""
    known = {v: from_us(v) for v in set(values)}
    return [known[v] for v in values]


class Evidence:
    """Turns one run's codes and recorded parent edges into :class:`Decision` objects."""

    def __init__(
        self,
        project: Project,
        index: ProjectIndex,
        graph: Graph,
        states: NodeStates,
        marks: RunMarks,
        edge_mark: np.ndarray,
        prof: Profile,
        opts: ProfileOptions,
        cfg: FreshnessConfig,
        failed_tests: frozenset[str],
    ) -> None:
        self.project, self.index, self.prof, self.opts, self.cfg = project, index, prof, opts, cfg
        self.graph, self.states, self.marks = graph, states, marks
        self.failed_tests = failed_tests
        self.order = project.order
        self.windows = index.orchestra_windows(cfg) if prof is Profile.ORCHESTRA else None
        idx = graph.didx if prof is Profile.ORCHESTRA else graph.eidx
        used = np.unique(idx[np.flatnonzero(edge_mark[: len(idx)] == EDGE_NO_METADATA)])
        #: sources without arrival data that counted as fresh somewhere in this run
        self.no_metadata_used = {project.order[int(x)] for x in used}
        self.mark = edge_mark
        self.tol_s = graph.tol_s.tolist()
        # per reason kind, the parents it names, grouped by node (made when first asked)
        self._groups: dict[str, tuple[list[str], np.ndarray]] = {}
        self._tolerances: dict[tuple[float, str], Tolerance] = {}

    def decisions(
        self,
        chosen: Sequence[str],
        sel: np.ndarray,
        act: np.ndarray,
        rsn: np.ndarray,
        clock: Clock | None = None,
    ) -> tuple[Decision, ...]:
        """One decision per node of ``chosen`` (positions ``sel``), from the run's codes;
        with ``clock`` (a scheduled run), each carries when it was reached, started and ended.
        """
        graph, states = self.graph, self.states
        positions = sel.tolist()
        reason_codes = rsn[sel]

        def having(*wanted: Reason) -> list[int]:
            """Where (in ``chosen``) the decisions with one of these reasons are."""
            hit = np.isin(reason_codes, [_REASONS.index(r) for r in wanted])
            return np.flatnonzero(hit).tolist()

        # the fields every decision has
        actions = [_ACTIONS[a] for a in act[sel].tolist()]
        reasons = [_REASONS[r] for r in reason_codes.tolist()]
        built = states.built[sel].tolist()
        has = states.has[sel].tolist()
        known = {v: from_us(v) for v in set(compress(built, has))}
        built_at = [known[v] if h else None for v, h in zip(built, has, strict=True)]
        window_s = graph.window_s[sel].tolist()
        flags = ((graph.flags[sel] & codes.F_UPDATES_ALL) != 0).tolist()
        updates_on = [_UPDATES_ON[x] for x in flags]
        windows = self.windows
        inherited = (
            [windows.get(u, _NO_WINDOW)[1] for u in chosen] if windows is not None else repeat(None)
        )
        code_changed = (self.marks.changed[sel] == 0).tolist()
        if clock is None:
            reached = started = finished = repeat(None)
        else:
            reached, started, finished = (
                _times(t[sel].tolist()) for t in (clock.reach, clock.start, clock.fin)
            )
        # the evidence particular to some reasons
        fresh, no_meta, failed, tests, changed_upstream = self._named_parents(having, sel)
        option, always, view, tolerance, ends = self._settings(
            having, chosen, positions, built_at, window_s
        )
        # the columns in the order of Decision's fields
        columns = (
            chosen, actions, reasons, fresh, ends, built_at, window_s, updates_on, inherited,
            failed, changed_upstream, no_meta, code_changed, tolerance, option, always, view,
            tests, reached, started, finished,
        )  # fmt: skip
        return freeze_decisions(list(map(DecisionDraft, *columns)))

    def _named_parents(
        self, having: Callable[..., list[int]], sel: np.ndarray
    ) -> tuple[list[tuple[str, ...]], ...]:
        """The parents the decisions name, as columns: fresh (and of them, those without
        arrival data), failed (and their failed data tests), changed upstream."""
        m = len(sel)

        def parents(kind: str, where: list[int]) -> list[tuple[str, ...]]:
            """The parents of one kind (:meth:`_group`) of the decisions at ``where``."""
            if not where:
                return []
            names, starts = self._group(kind)
            at = sel[where]
            # most nodes name none: no slice made for them
            return [
                tuple(names[lo:hi]) if lo != hi else ()
                for lo, hi in zip(starts[at].tolist(), starts[at + 1].tolist(), strict=True)
            ]

        fresh: list[tuple[str, ...]] = [()] * m
        dbt = self.prof is Profile.DBT_STATE
        where = having(*(_WITH_FRESH if dbt else _WITH_FRESH - {Reason.NO_NEW_DATA}))
        for k, names in zip(where, parents("fresh", where), strict=True):
            fresh[k] = names
        where = having(Reason.TESTED_NODE_BUILT)
        for k, now in zip(where, parents("built", where), strict=True):
            fresh[k] = (*now, *(p for p in fresh[k] if p not in now))
        no_meta: list[tuple[str, ...]] = [()] * m
        if self.no_metadata_used:
            where = having(*_NO_METADATA_REASONS)
            for k, names in zip(where, parents("no_meta", where), strict=True):
                no_meta[k] = names
        failed: list[tuple[str, ...]] = [()] * m
        tests: list[tuple[str, ...]] = [()] * m
        where = having(Reason.UPSTREAM_FAILED)
        for k, names in zip(where, parents("failed", where), strict=True):
            failed[k] = names
            tests[k] = tuple(
                t for p in names for t in self.project.tests_of(p) if t in self.failed_tests
            )
        changed_upstream: list[tuple[str, ...]] = [()] * m
        where = having(Reason.UPSTREAM_CODE_CHANGED)
        for k, names in zip(where, parents("code", where), strict=True):
            changed_upstream[k] = names
        return fresh, no_meta, failed, tests, changed_upstream

    def _settings(
        self,
        having: Callable[..., list[int]],
        chosen: Sequence[str],
        positions: list[int],
        built_at: list[datetime | None],
        window_s: list[float],
    ) -> tuple[list, ...]:
        """The options, profile rules and windows the decisions cite, as columns: option,
        always_builds, view_passthrough, tolerance, window_ends_at."""
        prof, opts, infos = self.prof, self.opts, self.index.infos
        m = len(chosen)
        option: list[str | None] = [None] * m
        for k in having(Reason.FULL_REFRESH):
            option[k] = "full_refresh=True"
        if prof is Profile.SAO and opts.code_change_overrides_window:
            for k in having(Reason.CODE_CHANGED):
                option[k] = "code_change_overrides_window=True"
        always: list[str | None] = [None] * m
        for k in having(Reason.ALWAYS_BUILDS):
            always[k] = _always_builds(infos[chosen[k]])
        view = [False] * m
        tolerance: list[Tolerance | None] = [None] * m
        if prof is Profile.DBT_STATE:
            for k in having(Reason.NO_NEW_DATA):
                view[k] = infos[chosen[k]].materialization == "view"
            for k in having(*_TOLERANCE_REASONS):
                tolerance[k] = self._tolerance(chosen[k], positions[k])
        ends: list[datetime | None] = [None] * m
        for k in having(Reason.WITHIN_BUILD_AFTER):
            if built_at[k] is not None:
                w = window_s[k]
                # dbt-orchestra reads its window in whole minutes
                seconds = w // 60 * 60 if prof is Profile.ORCHESTRA else w
                ends[k] = built_at[k] + timedelta(seconds=seconds)
        if opts.lag_mode == "build_age":
            for k in having(Reason.WITHIN_LAG_TOLERANCE):
                if built_at[k] is not None:
                    ends[k] = built_at[k] + timedelta(seconds=self.tol_s[positions[k]])
        return option, always, view, tolerance, ends

    def _group(self, kind: str) -> tuple[list[str], np.ndarray]:
        """The parents of one kind, every node's in a row (node ``i``'s from ``starts[i]`` to
        ``starts[i + 1]``): ``fresh`` (new data found), ``no_meta`` (fresh without arrival
        data), ``built`` (built in this run), ``failed`` (failed or skipped in this run, or an
        error-severity test on it failed) and ``code`` (dbt_state: built for a code change)."""
        group = self._groups.get(kind)
        if group is None:
            graph, marks, index = self.graph, self.marks, self.index
            if kind in ("fresh", "no_meta"):
                orchestra = self.prof is Profile.ORCHESTRA
                ptr, idx = (graph.dptr, graph.didx) if orchestra else (graph.eptr, graph.eidx)
                names = index.edge_names(direct=orchestra)
                mark = self.mark[: len(idx)]
                hit = mark == EDGE_NO_METADATA
                if kind == "fresh":  # a source without arrival data counted as fresh too
                    hit |= mark == EDGE_FRESH
            else:
                ptr, names = graph.eptr, index.edge_names()
                if kind == "failed":
                    stamped = (marks.failed == 0) | (marks.test_failed == 0)
                else:
                    stamped = (marks.built if kind == "built" else marks.code) == 0
                hit = stamped[graph.eidx]
            edges = np.flatnonzero(hit)
            group = ([names[e] for e in edges.tolist()], np.searchsorted(edges, ptr))
            self._groups[kind] = group
        return group

    def _tolerance(self, uid: str, i: int) -> Tolerance:
        source = _tolerance_source(self.cfg.for_node(uid))
        key = (self.tol_s[i], source)
        # a frozen value: the nodes with the same tolerance share one
        tolerance = self._tolerances.get(key)
        if tolerance is None:
            tolerance = self._tolerances[key] = Tolerance(*key, self.opts.lag_mode)
        return tolerance


def _tolerance_source(nf: object) -> str:
    if nf.lag_tolerance_s is not None:  # type: ignore[attr-defined]
        return "lag_tolerance"
    if nf.build_after is not None:  # type: ignore[attr-defined]
        return "build_after"
    return "project default"


def _always_builds(info: NodeInfo) -> str:
    kind = info.resource_type
    mat = info.materialization
    if kind == "snapshot":
        return "orchestra: snapshots"
    if kind == "seed":
        return "seed_state_orchestration=False"
    if info.language == "python":
        return "python model"
    if kind == "model" and mat is not None and mat not in BUILTIN_MATERIALIZATIONS:
        return f"custom materialization {mat}"
    return "orchestra: package model without parents"
