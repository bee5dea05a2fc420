"""Plan and execute a live dbt project: ``saosim.live.plan(project_dir).execute()``.

:func:`plan` gathers what the pure planner needs at the edge — the project (``dbt parse``, or a
given manifest), code fingerprints (cached by checksum in the state store), when data last
landed in each source (read from the warehouse), the state (from the store) and the time (the
clock, unless ``at`` is given) — and returns a :class:`LivePlan`: the very :class:`Plan` the
simulator makes, plus :meth:`LivePlan.execute`, which locks what it builds, runs ``dbt build``
on it (and on the data tests the plan runs) and records plan, run and state in the store.

Concurrency (SAO-SEMANTICS): two executions on one project never build a node at once. Locks
are taken for every node a plan builds, in one store transaction; an execution that finds any
of them held elsewhere releases its own, waits for the other run to finish, and plans again —
usually reusing what the other run built. Locked, the plan is made once more from the state as
stored, so a run that finished between planning and locking is seen. The state written back
holds only the nodes this run built or ran, merged into the stored state in the same
transaction as the run, so concurrent runs never overwrite each other's nodes.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from saosim.core.decision import ProfileOptions
from saosim.core.planner import Plan
from saosim.core.planner import plan as make_plan
from saosim.core.state import State
from saosim.errors import ConfigError, SaosimError
from saosim.inputs.estate import Estate
from saosim.inputs.manifest import read_manifest
from saosim.live.dbt_runner import BuildResult, dbt_build, dbt_parse
from saosim.live.execution import (
    LiveContext,
    _project_dir,
    _store,
    heartbeat,
    lock_plan,
    record_build,
    warehouse_guard,
)
from saosim.live.fingerprints import live_fingerprints
from saosim.live.shadow import shadow
from saosim.live.store import StateStore, default_holder
from saosim.live.warehouse import warehouse_source_versions
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project

__all__ = ["ExecuteResult", "LivePlan", "estate", "load_live_project", "plan"]

_FAILED = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class LivePlan(Plan):
    """A :class:`Plan` of a live project that can be executed.

    Everything a :class:`Plan` has (``decisions``, ``built``, ``reused``, ``explain``,
    ``to_frame``, ``apply`` …) plus :meth:`execute` and :meth:`shadow`.
    """

    live: LiveContext | None = field(default=None, repr=False, compare=False)

    @property
    def project(self) -> Project:
        """The fingerprinted project this plan decided."""
        assert self._inputs is not None
        return self._inputs.project

    @property
    def store(self) -> StateStore:
        return self._context().store

    def _context(self) -> LiveContext:
        if self.live is None:
            raise SaosimError("this plan has no live project to execute; use saosim.live.plan")
        return self.live

    def replan(self, *, holder: str | None = None) -> LivePlan:
        """The same plan made again from the state as stored now (the clock read again when
        the plan's time came from it)."""
        ctx = self._context()
        at = datetime.now(UTC) if ctx.at_from_clock else self.at
        return _decide(
            self.project, ctx, at=at, profile=self.profile, options=self.options, holder=holder
        )

    def execute(self, *, wait_timeout_s: float = 3600.0) -> ExecuteResult:
        """Lock, ``dbt build`` what the plan builds (and the tests it runs), record the outcome.

        Args:
            wait_timeout_s: how long to wait for another run that builds some of the same
                nodes before giving up.

        Returns:
            An :class:`ExecuteResult`: the plan that ran (re-made if another run had to finish
            first), dbt's status per node and the built/reused/failed counts.
        """
        ctx = self._context()
        holder = default_holder()
        started = time.perf_counter()
        current, waits = lock_plan(self, holder=holder, wait_timeout_s=wait_timeout_s)
        waited_s = time.perf_counter() - started
        plan_id = ctx.store.record_plan(
            current, job_id=ctx.job_id, selection=ctx.selection, holder=holder, status="running"
        )
        todo = set(current.built) | set(current.ran)
        if not todo:
            ctx.store.release(holder=holder)
            ctx.store.end_plan(plan_id)
            return ExecuteResult(current, None, plan_id, None, waits, waited_s)
        try:
            with warehouse_guard(ctx), heartbeat(ctx.store, holder):
                build = dbt_build(
                    ctx.project_dir,
                    todo,
                    project=current.project,
                    indirect_selection="empty",
                    full_refresh=ctx.full_refresh,
                    profiles_dir=ctx.profiles_dir,
                    target=ctx.target,
                )
        except BaseException:
            ctx.store.release(holder=holder)
            ctx.store.end_plan(plan_id, "failed")
            raise
        run_id = record_build(current, current, build, plan_id=plan_id, holder=holder)
        return ExecuteResult(current, build, plan_id, run_id, waits, waited_s)

    def shadow(self, *, wait_timeout_s: float = 3600.0) -> Any:
        """Run a full ``dbt build`` of the selection and record what this plan would have
        reused; see :func:`saosim.live.shadow.shadow`."""

        return shadow(self, wait_timeout_s=wait_timeout_s)


@dataclass(frozen=True)
class ExecuteResult:
    """What :meth:`LivePlan.execute` did.

    ``plan`` is the plan that ran; ``build`` dbt's result (``None`` when nothing needed
    building, so dbt was not invoked); ``waits`` how often it waited for another run.
    """

    plan: LivePlan
    build: BuildResult | None
    plan_id: str
    run_id: str | None
    waits: int = 0
    waited_s: float = 0.0

    @property
    def statuses(self) -> dict[str, str]:
        """dbt's status per node it ran (from ``run_results``)."""
        return self.build.statuses if self.build is not None else {}

    @property
    def built(self) -> tuple[str, ...]:
        """Nodes built successfully."""
        st = self.statuses
        return tuple(u for u in self.plan.built if st.get(u) == "success")

    @property
    def failed(self) -> tuple[str, ...]:
        """Nodes and tests that errored or failed."""
        st = self.statuses
        return tuple(u for u, s in st.items() if s in _FAILED)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Nodes dbt skipped (an upstream failed)."""
        return tuple(u for u, s in self.statuses.items() if s == "skipped")

    @property
    def reused(self) -> tuple[str, ...]:
        return self.plan.reused

    def counts(self) -> dict[str, int]:
        """``{"built", "reused", "failed", "skipped", "tests_run"}`` counts."""
        return {
            "built": len(self.built),
            "reused": len(self.reused),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "tests_run": len(self.plan.ran),
        }

    def to_frame(self) -> pl.DataFrame:
        """The plan's decisions with dbt's ``status`` (null for nodes dbt did not run)."""
        st = self.statuses
        frame = self.plan.to_frame()
        status = [st.get(u) for u in frame.get_column("unique_id")]
        return frame.with_columns(pl.Series("status", status, dtype=pl.String))


def load_live_project(
    project_dir: str | Path,
    *,
    manifest: str | Path | None = None,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
) -> Project:
    """The project: ``dbt parse`` in-process, or a given ``manifest.json`` / target folder."""

    if manifest is None:
        return dbt_parse(project_dir, profiles_dir=profiles_dir, target=target).project
    path = Path(manifest)
    if path.is_dir():
        path = path / "manifest.json"
    return read_manifest(path)


def plan(
    project_dir: str | Path,
    profile: str = "sao",
    *,
    select: str | Collection[str] | None = None,
    exclude: str | None = None,
    state: State | StateStore | str | Path | None = None,
    at: datetime | None = None,
    options: ProfileOptions | None = None,
    freshness: FreshnessConfig | None = None,
    full_refresh: bool = False,
    manifest: str | Path | None = None,
    project: Project | None = None,
    source_versions: Mapping[str, datetime] | None = None,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    job_id: str | None = None,
) -> LivePlan:
    """Plan one run of a live dbt project with saosim's planner.

    Args:
        project_dir: the dbt project folder.
        profile: the planner profile (``sao``, ``baseline``, ``dbt_state``, ``orchestra``).
        select, exclude: dbt-style selectors (or a set of unique ids for ``select``).
        state: the state store (a :class:`StateStore` or its file; default
            ``<project>/.saosim/state.duckdb``), or a :class:`State` to plan from instead of
            the stored one (results are still recorded in the default store).
        at: the run's time (UTC-aware); default now, read from the clock. Source data
            versions later than ``at`` count as landing at ``at`` (the warehouse is read as it
            is now). An execution of a plan with a given ``at`` is recorded at that time.
        options, freshness, full_refresh: as for :func:`saosim.core.planner.plan`; freshness
            defaults to the manifest's ``freshness.build_after`` configs.
        manifest: a ``manifest.json`` or target folder to read instead of running ``dbt parse``.
        project: an already parsed project (skips parsing; fingerprints are still made).
        source_versions: source id → last arrival, instead of reading the warehouse through
            dbt's connection.
        target, profiles_dir: the dbt target and where ``profiles.yml`` is.
        job_id: recorded with the plan and its run.

    Returns:
        A :class:`LivePlan`; call ``.execute()`` to build it.

    >>> import tempfile, pathlib
    >>> from saosim.project.graph import Project
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> demo = Project.from_spec({"raw.a": [], "stg": ["raw.a"]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "dbt_project.yml").write_text("name: demo")
    ...     p = plan(d, project=demo, at=t, source_versions={"source.demo.raw.a": t})
    ...     p.explain("stg")
    'built: never built before'
    """

    timings: dict[str, float] = {}
    tick = time.perf_counter()
    folder = _project_dir(project_dir)
    clock = at is None
    at = datetime.now(UTC) if at is None else at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError(f"{at.isoformat()} has no time zone; pass a UTC time", field="at")
    at = at.astimezone(UTC)
    store = _store(folder, state)
    if project is None:
        project = load_live_project(
            folder, manifest=manifest, target=target, profiles_dir=profiles_dir
        )
    timings["parse_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    project, parsed = live_fingerprints(project, store)
    timings["fingerprint_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    if source_versions is None:
        source_versions = warehouse_source_versions(
            project, folder, target=target, profiles_dir=profiles_dir
        )
    versions = {uid: min(v, at) for uid, v in source_versions.items()}
    store.record_source_versions(versions, observed_at=at)
    store.record_code_changes(
        {
            u: (n.checksum, n.fingerprint)
            for u, n in project.nodes.items()
            if n.is_buildable and n.fingerprint is not None
        },
        at=at,
    )
    timings["metadata_s"] = time.perf_counter() - tick
    ctx = LiveContext(
        folder,
        store,
        versions,
        select,
        exclude,
        full_refresh,
        freshness,
        state if isinstance(state, State) else None,
        clock,
        target,
        profiles_dir,
        job_id,
        parsed,
        timings,
    )
    tick = time.perf_counter()
    made = _decide(project, ctx, at=at, profile=profile, options=options)
    timings["plan_s"] = time.perf_counter() - tick
    return made


def _decide(
    project: Project,
    ctx: LiveContext,
    *,
    at: datetime,
    profile: Any,
    options: ProfileOptions | None,
    holder: str | None = None,
) -> LivePlan:
    state = ctx.fixed_state if ctx.fixed_state is not None else ctx.store.load_state()
    made = make_plan(
        project,
        state,
        at=at,
        source_versions=ctx.source_versions,
        freshness=ctx.freshness,
        profile=profile,
        options=options,
        select=ctx.select,
        exclude=ctx.exclude,
        full_refresh=ctx.full_refresh,
        in_flight=ctx.store.in_flight(holder=holder),
    )
    values = {f.name: getattr(made, f.name) for f in fields(Plan)}
    return LivePlan(**values, live=ctx)


def estate(
    project_dir: str | Path,
    *,
    state: StateStore | str | Path | None = None,
    manifest: str | Path | None = None,
    project: Project | None = None,
    target: str | None = None,
    profiles_dir: str | Path | None = None,
) -> Estate:
    """The live project and everything its store recorded — runs, node runs, source arrivals,
    code changes — as an :class:`~saosim.inputs.estate.Estate` the simulator can replay.

    Args:
        project_dir: the dbt project folder.
        state: the state store (default ``<project>/.saosim/state.duckdb``).
        manifest, project, target, profiles_dir: as for :func:`plan`.

    >>> import tempfile, pathlib
    >>> from saosim.project.graph import Project
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "dbt_project.yml").write_text("name: demo")
    ...     estate(d, project=Project.from_spec({"raw.a": [], "stg": ["raw.a"]})).summary()["runs"]
    0
    """
    folder = _project_dir(project_dir)
    store = _store(folder, state)
    if project is None:
        project = load_live_project(
            folder, manifest=manifest, target=target, profiles_dir=profiles_dir
        )
    return Estate(project, **store.history().tables())
