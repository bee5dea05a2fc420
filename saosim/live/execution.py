"""What a live run needs around the planner: where a plan came from, the build lock loop,
recording a build, the warehouse's file lock.

:mod:`saosim.live.runner` (plans and their execution) and :mod:`saosim.live.shadow` (shadow
runs) both build on these, so neither imports the other at module level.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from saosim.core.decision import Reason
from saosim.core.planner import Plan
from saosim.core.state import State
from saosim.errors import ConfigError, SaosimError, SaosimInputError
from saosim.live.dbt_runner import BuildResult
from saosim.live.filelock import file_lock
from saosim.live.locks import Heartbeat
from saosim.live.profiles import warehouse_target
from saosim.live.store import StateStore
from saosim.project.freshness import FreshnessConfig

if TYPE_CHECKING:
    from saosim.live.runner import LivePlan

__all__ = ["LiveContext", "heartbeat", "lock_plan", "record_build", "warehouse_guard"]


@dataclass(frozen=True)
class LiveContext:
    """Where a live plan came from, so it can be executed and re-made."""

    project_dir: Path
    store: StateStore
    source_versions: Mapping[str, datetime]
    select: str | Collection[str] | None
    exclude: str | None
    full_refresh: bool
    freshness: FreshnessConfig | None
    fixed_state: State | None
    at_from_clock: bool
    target: str | None
    profiles_dir: str | Path | None
    job_id: str | None
    #: how many nodes were fingerprinted by parsing (the rest came from the cache)
    fingerprints_parsed: int = 0
    timings_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def selection(self) -> str | None:
        if self.select is None or isinstance(self.select, str):
            return self.select
        return " ".join(sorted(self.select))


def heartbeat(store: StateStore, holder: str) -> Heartbeat:
    """Keep ``holder``'s locks alive while dbt builds: a beat every tenth of the lock timeout
    (between 0.5 s and a minute)."""
    interval = min(60.0, max(0.5, store.lock_timeout_s / 10))
    return Heartbeat(lambda: store.heartbeat(holder=holder), interval_s=interval)


@contextmanager
def warehouse_guard(ctx: LiveContext) -> Iterator[None]:
    """Hold the DuckDB warehouse's file lock for a build (nothing for other adapters)."""

    try:
        wh = warehouse_target(ctx.project_dir, profiles_dir=ctx.profiles_dir, target=ctx.target)
    except ConfigError:
        wh = None
    if wh is None or wh.path is None:
        yield
        return
    with file_lock(wh.path, exclusive=True):
        yield


def record_build(
    recorded: LivePlan, applied: Plan, build: BuildResult, *, plan_id: str, holder: str
) -> str:
    """Apply ``build``'s outcome to ``applied`` and record the run, state updates and lock
    release against ``recorded``'s plan id in one store transaction; returns the run id.

    A plan made for a given ``at`` (not the clock) is recorded as running at ``at``: dbt's
    timings are shifted by ``at - build start``, so state, history and build_after windows all
    follow the given clock, and a test or demo advances time without sleeping.
    """
    assert getattr(recorded, "live", None) is not None
    assert build.run_results_path is not None
    shift = None
    if not recorded.live.at_from_clock and build.started_at is not None:
        shift = recorded.at - build.started_at
    finished = {u: t + shift if shift else t for u, t in build.finished_at.items()}
    before = applied._inputs.state if applied._inputs is not None else State.empty()
    after = applied.apply(build.statuses, finished_at=finished or recorded.at)
    updates = {u: ns for u, ns in after.nodes.items() if before.get(u) != ns}
    return recorded.live.store.record_run(
        build.run_results_path,
        plan_id=plan_id,
        job_id=recorded.live.job_id,
        updates=updates,
        holder=holder,
        time_shift=shift,
    )


def lock_plan(
    live_plan: LivePlan, *, holder: str, wait_timeout_s: float, build_all: bool = False
) -> tuple[LivePlan, int]:
    """Lock the nodes a plan builds, waiting for and re-planning after other runs.

    Returns the plan to run — made again under the locks — and how many times it waited.
    With ``build_all`` every buildable node the plan decides is locked (shadow runs).
    """
    store = live_plan.store
    deadline = time.monotonic() + wait_timeout_s
    current, waits = live_plan, 0
    while True:
        wanted = set(_to_lock(current, build_all))
        waiting_on = {
            d.node_id for d in current.decisions if d.reason is Reason.IN_FLIGHT_ELSEWHERE
        }
        acquired, elsewhere = store.acquire(wanted, holder=holder)
        blocked = set(elsewhere) | waiting_on
        if not blocked:
            again = current.replan(holder=holder)
            extra = set(_to_lock(again, build_all)) - acquired
            if not extra and not any(
                d.reason is Reason.IN_FLIGHT_ELSEWHERE for d in again.decisions
            ):
                unused = acquired - set(_to_lock(again, build_all))
                if unused:
                    store.release(holder=holder, unique_ids=unused)
                return again, waits
            current = again
            continue
        # SAO: wait for the other run's builds to end, then evaluate again
        store.release(holder=holder)
        waits += 1
        pause = 0.05
        while store.in_flight(holder=holder) & blocked:
            if time.monotonic() > deadline:
                raise SaosimError(
                    f"waited {wait_timeout_s:.0f} s for another run to finish building "
                    f"{', '.join(sorted(blocked)[:3])}; try again later"
                )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        current = current.replan(holder=holder)


def _to_lock(p: Plan, build_all: bool) -> tuple[str, ...]:
    if not build_all:
        return p.built
    nodes = p.project.nodes if getattr(p, "live", None) is not None else {}  # type: ignore[attr-defined]
    return tuple(
        d.node_id
        for d in p.decisions
        if d.node_id in nodes
        and nodes[d.node_id].is_buildable
        and not nodes[d.node_id].is_ephemeral
        and d.reason is not Reason.IN_FLIGHT_ELSEWHERE
    )


def _project_dir(project_dir: str | Path) -> Path:
    folder = Path(project_dir).resolve()
    if not (folder / "dbt_project.yml").is_file():
        raise SaosimInputError("is not a dbt project (no dbt_project.yml)", path=str(folder))
    return folder


def _store(folder: Path, state: State | StateStore | str | Path | None) -> StateStore:
    if isinstance(state, StateStore):
        return state
    if isinstance(state, (str, Path)):
        return StateStore(state)
    return StateStore.for_project(folder)
