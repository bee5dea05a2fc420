"""Scenario files: a small DAG, a timeline and the decisions you expect, in YAML by hand.

A scenario names a profile, a project (sources, models, seeds, snapshots with parents, freshness
and tests), a timeline of events (data arrivals, code changes, failures …), jobs on cron
schedules and a time window; :func:`replay_scenario` runs every job in the window through the
planner, carrying the state forward. ``expect:`` lists decisions a test asserts
(:meth:`Replay.mismatches`).

>>> s = parse_scenario_file({
...     "profile": "sao",
...     "project": {"sources": ["raw.orders"],
...                 "models": [{"name": "stg_orders", "parents": ["raw.orders"]}]},
...     "events": [{"at": "2025-01-01T00:10:00Z", "arrival": "raw.orders"}],
...     "jobs": [{"name": "hourly", "cron": "0 * * * *"}],
...     "window": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T03:00:00Z"},
... })
>>> for row in replay_scenario(s).rows:
...     print(row["run_at"].strftime("%H:%M"), row["node"], row["action"], row["reason"])
00:00 stg_orders build never_built
01:00 stg_orders build new_upstream_data
02:00 stg_orders reuse no_new_data
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from saosim.core.arrays import project_index
from saosim.core.decision import Action, Profile, ProfileOptions, parse_profile
from saosim.core.planner import Plan, plan
from saosim.core.state import NodeState, State
from saosim.errors import ConfigError, SaosimWarning
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project
from saosim.project.tiers import load_yaml
from saosim.replay.kernel.scenario import fast_engine_gap, replay_scenario_fast
from saosim.replay.scenario_parse import Event, Expectation, Job, code_identity, parse_document

__all__ = [
    "Event",
    "Expectation",
    "Job",
    "Replay",
    "ScenarioFile",
    "load_scenario_file",
    "parse_scenario_file",
    "replay_scenario",
]


@dataclass(frozen=True)
class ScenarioFile:
    """A parsed scenario file (see the module docstring and README "Scenario files")."""

    project: Project
    freshness: FreshnessConfig
    profile: Profile
    options: ProfileOptions
    jobs: tuple[Job, ...]
    events: tuple[Event, ...]
    start: datetime
    end: datetime
    #: sources whose arrivals are known (the others have no metadata)
    metadata_sources: frozenset[str]
    #: initial code identity per node id
    fingerprints: Mapping[str, str]
    #: node id → ``{built_at, table_exists, tests_failed}`` at the start
    initial_state: Mapping[str, Mapping[str, object]]
    expect: tuple[Expectation, ...] = ()
    title: str = ""
    path: str | None = None
    _sql: Mapping[str, str] = field(default_factory=dict, repr=False)

    def runs(self) -> list[tuple[datetime, Job]]:
        """Every job run in ``[start, end)``, by time then job order."""
        from croniter import croniter

        out: list[tuple[datetime, int, Job]] = []
        for i, job in enumerate(self.jobs):
            it = croniter(job.cron, self.start - timedelta(seconds=1))
            while True:
                at = it.get_next(datetime)
                if at >= self.end:
                    break
                out.append((at, i, job))
        out.sort(key=lambda r: (r[0], r[1]))
        return [(at, job) for at, _, job in out]

    def base_version(self) -> datetime:
        """The data version of every known source before its first arrival."""
        built = [v["built_at"] for v in self.initial_state.values()]
        return min([self.start, *built])  # type: ignore[type-var]

    def state_at_start(self) -> State:
        """The initial state: listed nodes built at their ``built_at``, seeing what was there."""
        arrivals = sorted((e.at, e.node_id) for e in self.events if e.kind == "arrival")
        base = self.base_version()
        p = self.project

        def version_at(parent: str, when: datetime) -> datetime | None:
            if p.nodes[parent].resource_type == "source":
                if parent not in self.metadata_sources:
                    return None
                landed = [a for a, n in arrivals if n == parent and a <= when]
                return max(landed, default=base)
            spec = self.initial_state.get(parent)
            return spec["built_at"] if spec else None  # type: ignore[return-value]

        infos = project_index(p).infos
        nodes = {}
        for uid, spec in self.initial_state.items():
            built_at: datetime = spec["built_at"]  # type: ignore[assignment]
            seen = {}
            for parent in infos[uid].parents:
                v = version_at(parent, built_at)
                if v is not None:
                    seen[parent] = v
            nodes[uid] = NodeState(
                built_at,
                self.fingerprints.get(uid),
                seen,
                built_at,
                table_exists=bool(spec.get("table_exists", True)),
                tests_failed=bool(spec.get("tests_failed", False)),
            )
        return State(nodes)


def parse_scenario_file(data: object, *, path: str | None = None) -> ScenarioFile:
    """A :class:`ScenarioFile` from a parsed YAML document; bad keys or values: ConfigError."""
    doc = parse_document(data, path=path)
    return ScenarioFile(path=path, **doc)


def load_scenario_file(path: str | Path) -> ScenarioFile:
    """Read a scenario YAML file.

    Raises:
        ConfigError: the file is missing, is not YAML, or has a bad key or value (named).
    """
    file = Path(path)
    # one line for any failure, syntax errors as file:line:column (saosim.project.tiers)
    data = load_yaml(file, what="scenario")
    return parse_scenario_file(data, path=str(file))


@dataclass(frozen=True)
class Replay:
    """What a replay produced: one row per run × selected node (run_at, job, node, action,
    reason, unique_id, detail, started_at, finished_at, cost_usd, status); the plain engine
    also keeps each run's plan and the final state."""

    scenario: ScenarioFile
    profile: Profile
    rows: tuple[dict[str, object], ...]
    plans: tuple[tuple[str, Plan], ...]
    state: State | None
    engine: str = "plain"

    def to_frame(self):  # -> pl.DataFrame (polars imported lazily for the CLI)
        import polars as pl

        return pl.DataFrame(
            {
                "run_at": [r["run_at"] for r in self.rows],
                "job": [r["job"] for r in self.rows],
                "node": [r["node"] for r in self.rows],
                "action": [r["action"] for r in self.rows],
                "reason": [r["reason"] for r in self.rows],
            },
            schema={
                "run_at": pl.Datetime("us", "UTC"),
                "job": pl.String(),
                "node": pl.String(),
                "action": pl.String(),
                "reason": pl.String(),
            },
        )

    def mismatches(self) -> list[str]:
        """The ``expect:`` entries the replay does not meet, one line each."""
        problems = []
        index: dict[tuple[datetime, str], list[dict[str, object]]] = {}
        for row in self.rows:
            index.setdefault((row["run_at"], row["node"]), []).append(row)  # type: ignore[arg-type]
        for i, exp in enumerate(self.scenario.expect):
            rows = [
                r
                for r in index.get((exp.at, exp.node), [])
                if exp.job is None or r["job"] == exp.job
            ]
            when = exp.at.strftime("%Y-%m-%d %H:%M")
            if not rows:
                problems.append(f"expect[{i}]: no decision for {exp.node} at {when}")
                continue
            got = rows[-1]
            want = (exp.action or got["action"], exp.reason or got["reason"])
            if (got["action"], got["reason"]) != want:
                problems.append(
                    f"expect[{i}]: {exp.node} at {when}: expected {want[0]}/{want[1]}, "
                    f"got {got['action']}/{got['reason']} ({got['detail'] or 'no detail'})"
                )
        return problems


def replay_scenario(
    scenario: ScenarioFile,
    *,
    profile: Profile | str | None = None,
    options: ProfileOptions | None = None,
    engine: str = "auto",
) -> Replay:
    """Run every job of ``scenario`` in its window through the planner.

    Builds finish at the run's start time (instantaneous and free). A ``failure`` event makes
    the node's next build (or test run) at or after it fail; ``in_flight`` holds the node in
    another job's build at the next run that selects it.

    ``engine``: ``plain`` (:func:`saosim.core.planner.plan` at every run; the result keeps
    each run's :class:`Plan` and the final state), ``fast`` (the compiled replay; rows only)
    or ``auto`` (fast when it can run the scenario, else plain with a warning saying why).
    """
    prof = parse_profile(profile) if profile is not None else scenario.profile
    opts = options if options is not None else scenario.options
    if engine not in ("auto", "plain", "fast"):
        raise ConfigError(f"{engine!r} is not an engine; use auto, plain or fast", field="engine")
    if engine != "plain":
        gap = fast_engine_gap(scenario, prof)
        if gap is None:
            rows = replay_scenario_fast(scenario, prof, opts)
            return Replay(scenario, prof, tuple(rows), (), None, "fast")
        if engine == "fast":
            raise ConfigError(f"the fast engine cannot run it: {gap}", path=scenario.path)
        warnings.warn(SaosimWarning(f"replayed on the plain engine: {gap}"), stacklevel=2)
    project = scenario.project
    events = sorted(scenario.events, key=lambda e: e.at)
    state = scenario.state_at_start()
    base = scenario.base_version()
    versions = {s: base for s in scenario.metadata_sources}
    fps = dict(scenario.fingerprints)
    sql = dict(scenario._sql)
    code_versions: dict[str, int] = {}
    failing: set[str] = set()
    in_flight: set[str] = set()
    rows: list[dict[str, object]] = []
    plans: list[tuple[str, Plan]] = []
    names = {u: n.name for u, n in project.nodes.items()}
    ei = 0
    for at, job in scenario.runs():
        while ei < len(events) and events[ei].at <= at:
            ev = events[ei]
            ei += 1
            if ev.kind == "arrival":
                versions[ev.node_id] = ev.at
            elif ev.kind == "code_change":
                if ev.cosmetic:
                    continue
                code_versions[ev.node_id] = code_versions.get(ev.node_id, 0) + 1
                if ev.sql is not None:
                    sql[ev.node_id] = ev.sql
                fps[ev.node_id] = code_identity(
                    names[ev.node_id],
                    code_versions[ev.node_id],
                    sql.get(ev.node_id),
                    project.dialect,
                )
            elif ev.kind == "failure":
                failing.add(ev.node_id)
            elif ev.kind == "table_dropped":
                state = state.with_table_dropped(ev.node_id)
            elif ev.kind == "in_flight":
                in_flight.add(ev.node_id)
        job_profile = job.profile or prof
        p = plan(
            project,
            state,
            at=at,
            source_versions=dict(versions),
            freshness=scenario.freshness,
            profile=job_profile,
            options=opts,
            select=job.select,
            exclude=job.exclude,
            full_refresh=job.full_refresh,
            in_flight=frozenset(in_flight),
            failing=frozenset(failing),
            fingerprints=dict(fps),
        )
        for d in p.decisions:
            status = _status(d.action, d.node_id in p.failing)
            if d.action in (Action.BUILD, Action.RUN):
                failing.discard(d.node_id)
            in_flight.discard(d.node_id)
            rows.append(
                {
                    "run_at": at,
                    "job": job.name,
                    "node": names[d.node_id],
                    "action": d.action.value,
                    "reason": d.reason.value,
                    "unique_id": d.node_id,
                    "detail": d.detail,
                    "started_at": at,
                    "finished_at": at,
                    "cost_usd": 0.0,
                    "status": status,
                }
            )
        plans.append((job.name, p))
        state = p.apply(finished_at=at)
    return Replay(scenario, prof, tuple(rows), tuple(plans), state, "plain")


def _status(action: Action, failing: bool) -> str | None:
    """A scenario's run outcome: a failing node's build errors and its test fails."""
    if action is Action.BUILD:
        return "error" if failing else "success"
    if action is Action.RUN:
        return "fail" if failing else "pass"
    return "skipped" if action is Action.SKIP else None
