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
from weakref import WeakKeyDictionary

import polars as pl

from saosim.core.decision import Action, Decision, Profile, ProfileOptions, Reason, parse_profile
from saosim.core.rules import PROFILE_FINISH, PROFILE_RULES, PROFILE_TEST_RULES, Facts, RunContext
from saosim.core.state import NodeState, State
from saosim.errors import ConfigError, SaosimWarning
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import BUILDABLE, Project

__all__ = [
    "Action",
    "Decision",
    "NodeState",
    "Plan",
    "Profile",
    "ProfileOptions",
    "Reason",
    "State",
    "plan",
]

_DATA_PARENTS = BUILDABLE | {"source"}
_FAILED_STATUSES = frozenset({"fail", "error"})


@dataclass(frozen=True, slots=True)
class _Info:
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
    ephemeral: bool = False
    #: a model from another dbt package with no parents (dbt-orchestra always builds those)
    foreign_root: bool = False


class _Compiled:
    """What the planner precomputes once per project (kept while the project lives)."""

    def __init__(self, project: Project) -> None:
        nodes = project.nodes
        self.sources = frozenset(u for u, n in nodes.items() if n.resource_type == "source")
        infos: dict[str, _Info] = {}
        effective: dict[str, tuple[str, ...]] = {}
        order: list[str] = []
        for uid in project.order:
            node = nodes[uid]
            if not (node.is_buildable or node.is_test):
                continue
            parents: set[str] = set()
            direct = []
            for p in project.parents(uid):
                kind = nodes[p].resource_type
                if kind not in _DATA_PARENTS:
                    continue
                direct.append(p)
                # SAO rule 7: an ephemeral parent is replaced by its own parents
                parents.update(effective[p] if nodes[p].is_ephemeral else (p,))
            effective[uid] = tuple(sorted(parents))
            infos[uid] = _Info(
                uid,
                node.name,
                node.resource_type,
                node.materialization,
                node.language or "sql",
                effective[uid],
                node.fingerprint if node.fingerprint is not None else node.checksum,
                node.severity,
                tuple(direct),
                node.is_ephemeral,
                node.resource_type == "model"
                and node.package not in ("", project.name)
                and not project.parents(uid),
            )
            order.append(uid)
        self.infos = infos
        self.order = tuple(order)
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
        self._default_freshness: FreshnessConfig | None = None
        self._windows: tuple[object, dict[str, tuple[float, str | None]]] | None = None

    def default_freshness(self, project: Project) -> FreshnessConfig:
        if self._default_freshness is None:
            self._default_freshness = FreshnessConfig.from_project(project)
        return self._default_freshness

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
        if select is not None and not isinstance(select, str):
            # an already-resolved selection (the simulator replays the exact nodes a run ran)
            chosen_ids = select if isinstance(select, (set, frozenset)) else frozenset(select)
            excluded_ids = project.select(exclude) if exclude and exclude.strip() else frozenset()
            return tuple(u for u in self.order if u in chosen_ids and u not in excluded_ids)
        if not (select and select.strip() not in ("", "*")) and not (exclude and exclude.strip()):
            return self.order
        chosen = set(project.select(select, exclude))
        excluded = project.select(exclude) if exclude and exclude.strip() else frozenset()
        # dbt's eager indirect selection: a test comes with any node it tests
        for parent in list(chosen):
            for test in self.tests_by_parent.get(parent, ()):
                if test not in excluded:
                    chosen.add(test)
        return tuple(u for u in self.order if u in chosen)


_CACHE: WeakKeyDictionary[Project, _Compiled] = WeakKeyDictionary()


def _compiled(project: Project) -> _Compiled:
    comp = _CACHE.get(project)
    if comp is None:
        comp = _CACHE[project] = _Compiled(project)
    return comp


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
    compiled: _Compiled


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
        from saosim.core.explain import explain_decision

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
        from saosim.core.apply import apply_plan

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
    comp = _compiled(project)
    cfg = freshness if freshness is not None else comp.default_freshness(project)
    order = comp.selected(project, select, exclude)
    infos = comp.infos
    sources = comp.sources
    rules = PROFILE_RULES[prof]
    test_rules = PROFILE_TEST_RULES[prof]
    finish = PROFILE_FINISH.get(prof)
    nodes = state.nodes
    sv = source_versions
    ctx = RunContext(
        at, opts, full_refresh, frozenset(in_flight) if prof is Profile.SAO else frozenset(), set()
    )
    is_orchestra = prof is Profile.ORCHESTRA
    is_dbt_state = prof is Profile.DBT_STATE
    baseline = prof is Profile.BASELINE
    meta_fresh = opts.no_metadata_source == "always_fresh"
    windows = comp.orchestra_windows(cfg) if is_orchestra else None
    # dbt-orchestra decides every node, selected or not: an unselected parent that would build
    # counts as new data for its selected children
    walk = comp.order if is_orchestra and len(order) != len(comp.order) else order
    selected = None if walk is order else frozenset(order)
    built_now: set[str] = set()
    failed_now: set[str] = set()
    #: orchestra: nodes it marks dirty in this run (built, or would build if selected)
    dirty: set[str] = set()
    view_dv: dict[str, datetime | None] = {}
    no_metadata_used: set[str] = set()

    def dv_of(p: str) -> datetime | None:
        """Data version of a non-source parent as it stands now (not built in this run)."""
        ns_p = nodes.get(p)
        if ns_p is None:
            return None
        if is_dbt_state and infos[p].materialization == "view":
            # dbt_state looks through views: their data version is their parents' latest
            if p in view_dv:
                return view_dv[p]
            best = ns_p.built_at
            for q in infos[p].parents:
                v = at if q in built_now else (sv.get(q) if q in sources else dv_of(q))
                if v is not None and v > best:
                    best = v
            view_dv[p] = best
            return best
        return ns_p.data_version

    decisions: list[Decision] = []
    append = decisions.append
    for uid in walk:
        info = infos[uid]
        is_test = info.resource_type == "test"
        virtual = selected is not None and uid not in selected
        if virtual and is_test:
            continue
        parents = info.parents
        ns = nodes.get(uid)
        fp = info.fingerprint if fingerprints is None else fingerprints.get(uid, info.fingerprint)
        failed = tuple(p for p in parents if p in failed_now) if failed_now else ()
        fresh: list[str] = []
        no_meta: list[str] = []
        has_stale = False
        latest_now = latest_seen = None
        if ns is not None and is_orchestra:
            seen = ns.seen_versions
            for p in info.direct:
                if p in sources:
                    v = sv.get(p)
                    if v is None:
                        # dbt-orchestra: a source without freshness information is always new
                        fresh.append(p)
                        no_meta.append(p)
                    elif (s := seen.get(p)) is None or v > s:
                        fresh.append(p)
                    else:
                        has_stale = True
                    continue
                ps = nodes.get(p)
                # dirty in this run, never in state (ephemerals never are), or built after N
                if p in dirty or ps is None or ps.built_at > ns.built_at:
                    fresh.append(p)
                else:
                    has_stale = True
        elif ns is not None and not baseline:
            seen = ns.seen_versions
            for p in parents:
                if p in built_now:
                    fresh.append(p)
                    if is_dbt_state:
                        latest_now = at
                    continue
                if p in sources:
                    v = sv.get(p)
                    if v is None:
                        if meta_fresh:
                            fresh.append(p)
                            no_meta.append(p)
                            if is_dbt_state:
                                # always fresh: as if its data landed at t
                                latest_now = at
                        else:
                            has_stale = True
                        continue
                else:
                    v = dv_of(p)
                    if v is None:
                        has_stale = True
                        continue
                if is_dbt_state and (latest_now is None or v > latest_now):
                    latest_now = v
                s = seen.get(p)
                if s is None or v > s:
                    fresh.append(p)
                else:
                    has_stale = True
            if is_dbt_state and seen:
                latest_seen = max(seen.values())
        nf = cfg.for_node(uid)
        updates_on = nf.updates_on
        if windows is not None:
            window_s, inherited = windows.get(uid, (0.0, None))
        else:
            window_s, inherited = float(nf.window_s), None
            if is_dbt_state and nf.require_fresh_data_from:
                updates_on = "all" if nf.require_fresh_data_from.startswith("all") else "any"
        if no_meta:
            no_metadata_used.update(no_meta)
        f = Facts(
            uid,
            info.resource_type,
            info.materialization,
            info.language,
            ns,
            fp,
            ns is not None and ns.fingerprint != fp,
            tuple(fresh),
            has_stale,
            failed,
            tuple(no_meta),
            nf,
            window_s,
            updates_on,
            inherited,
            foreign_root=info.foreign_root,
        )
        if is_test:
            now = [p for p in parents if p in built_now]
            if is_orchestra or baseline:
                f.tested_built = tuple(now)
            else:
                f.tested_built = (*now, *(p for p in f.fresh if p not in built_now))
            for rule in test_rules:
                d = rule(ctx, f)
                if d is not None:
                    break
        else:
            if is_dbt_state:
                f.upstream_code = tuple(p for p in parents if p in ctx.code_now)
                f.latest_parent_dv = latest_now
                f.latest_seen = latest_seen
            for rule in rules:
                d = rule(ctx, f)
                if d is not None:
                    break
            if is_orchestra and d is not None and d.action is Action.BUILD:
                dirty.add(uid)
            if finish is not None and d is not None:
                d = finish(ctx, f, d)
        assert d is not None, f"no rule decided {uid}"
        if virtual:
            continue
        append(d)
        action = d.action
        if action is Action.BUILD:
            built_now.add(uid)
            if uid in failing:
                failed_now.add(uid)
        elif action is Action.SKIP:
            failed_now.add(uid)
    if no_metadata_used:
        _warn_no_metadata(no_metadata_used, prof)
    inputs = _Inputs(project, state, sv, fingerprints, comp)
    return Plan(tuple(decisions), at, prof, opts, frozenset(failing), inputs)
