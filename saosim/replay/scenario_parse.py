"""Reading a scenario document: every key checked, every error naming its path in the file.

Used by :mod:`saosim.replay.scenario_file`; errors read like
``scenario.yaml, field "events[2].arrival": 'raw.x' is not a source``.

>>> parse_document({"project": {"sources": ["raw.a"]}, "jobs": [], "window": {}})
Traceback (most recent call last):
...
saosim.errors.ConfigError: field "jobs": list at least one job
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from saosim.core.decision import Action, ProfileOptions, Reason, parse_profile
from saosim.errors import ConfigError
from saosim.project.freshness import (
    BuildAfter,
    FreshnessConfig,
    NodeFreshness,
    Where,
    parse_freshness,
    parse_state,
)
from saosim.project.graph import Node, Project
from saosim.replay.timeline import Job

__all__ = [
    "EVENT_KINDS",
    "MAX_WINDOW",
    "Event",
    "Expectation",
    "Job",
    "check_cron",
    "code_identity",
    "parse_document",
]

EVENT_KINDS = ("arrival", "code_change", "failure", "table_dropped", "in_flight")
_TOP = {
    "title",
    "description",
    "profile",
    "options",
    "project",
    "events",
    "jobs",
    "window",
    "initial_state",
    "expect",
}
_PROJECT = {"name", "dialect", "defaults", "sources", "models", "seeds", "snapshots"}
_NODE = {"name", "parents", "materialized", "language", "freshness", "state", "tests", "tags"}
_NODE_EXTRA = {"sql", "description"}
_KIND = {"models": "model", "seeds": "seed", "snapshots": "snapshot"}
#: The longest replay window a scenario may ask for.
MAX_WINDOW = timedelta(days=10 * 366)


def check_cron(cron: object, *, path: str | None, field: str) -> str:
    """A five-field cron schedule (or an ``@hourly``-style alias) that fires at least once.

    ``0 0 30 2 *`` is valid cron that never fires; a six-field cron fires every second. Both
    are errors here, naming the file and the field, rather than a hang or a crash later.

    >>> check_cron("0 6 * * *", path=None, field="jobs[0].cron")
    '0 6 * * *'
    >>> check_cron("0 0 30 2 *", path="s.yml", field="jobs[0].cron")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: s.yml, field "jobs[0].cron": '0 0 30 2 *' never fires ...
    """
    from croniter import croniter

    if not isinstance(cron, str) or not cron.strip():
        raise ConfigError(
            f"{cron!r} must be a cron schedule such as '0 * * * *'", path=path, field=field
        )
    text = cron.strip()
    alias = text.startswith("@") and len(text.split()) == 1
    if not alias and len(text.split()) != 5:
        raise ConfigError(
            f"{cron!r} is not a cron schedule of five fields (it has {len(text.split())}); "
            "give the five of standard cron "
            "(minute hour day month weekday), e.g. '0 * * * *'",
            path=path,
            field=field,
        )
    if not croniter.is_valid(text):
        raise ConfigError(
            f"{cron!r} is not a cron expression like '0 * * * *'", path=path, field=field
        )
    try:
        croniter(text, datetime(2001, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception:  # croniter's CroniterBadDateError and friends: no such date
        raise ConfigError(
            f"{cron!r} never fires (no such date); check the day and month fields",
            path=path,
            field=field,
        ) from None
    return text


@dataclass(frozen=True)
class Event:
    """One thing that happens on the timeline (``kind`` is one of :data:`EVENT_KINDS`)."""

    at: datetime
    kind: str
    node_id: str
    cosmetic: bool = False
    sql: str | None = None


@dataclass(frozen=True)
class Expectation:
    """A decision a test expects: node name at a run time (optionally of one job)."""

    at: datetime
    node: str
    action: str | None = None
    reason: str | None = None
    job: str | None = None


def code_identity(node_name: str, version: int, sql: str | None, dialect: str | None) -> str:
    """The fingerprint of a node's code: sqlglot-normalised SQL when given, else a counter.

    >>> code_identity("stg", 2, None, None)
    'stg@2'
    """
    if sql is None:
        return f"{node_name}@{version}"
    try:
        from saosim.project.fingerprint import fingerprint_sql
    except ImportError:
        return hashlib.sha256(" ".join(sql.split()).encode()).hexdigest()[:16]
    return fingerprint_sql(sql, dialect=dialect) if dialect else fingerprint_sql(sql)


class _Reader:
    def __init__(self, path: str | None) -> None:
        self.path = path

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, field=where)

    def mapping(self, value: object, where: str, allowed: set[str] | None = None) -> Mapping:
        if not isinstance(value, Mapping):
            raise self.error(where, f"{value!r} must be a mapping")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error(
                        f"{where}.{key}" if where else str(key),
                        f"unknown key; use one of {', '.join(sorted(allowed))}",
                    )
        return value

    def seq(self, value: object, where: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(where, f"{value!r} must be a list")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(where, f"{value!r} must be a non-empty string")
        return value

    def time(self, value: object, where: str) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise self.error(
                    where, f"{value!r} is not an ISO 8601 time like 2025-01-01T00:10:00Z"
                ) from None
        elif isinstance(value, date) and not isinstance(value, datetime):
            raise self.error(where, f"{value!r} is a date; give a time with a zone, e.g. …T00:00Z")
        if not isinstance(value, datetime):
            raise self.error(where, f"{value!r} is not a time")
        if value.tzinfo is None or value.utcoffset() is None:
            raise self.error(where, f"{value.isoformat()} has no time zone; add Z or an offset")
        return value.astimezone(UTC)

    def boolean(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"{value!r} must be true or false")
        return value


def parse_document(data: object, *, path: str | None = None) -> dict[str, Any]:
    """The fields of a :class:`saosim.replay.scenario_file.ScenarioFile` from a parsed YAML
    document.
    """
    r = _Reader(path)
    doc = r.mapping(data, "", _TOP)
    profile = parse_profile(doc.get("profile", "sao"))
    options = ProfileOptions.from_mapping(r.mapping(doc.get("options") or {}, "options"), path=path)
    proj = r.mapping(doc.get("project"), "project", _PROJECT)
    pkg = str(proj.get("name") or "scenario")
    dialect = proj.get("dialect")
    defaults = r.mapping(proj.get("defaults") or {}, "project.defaults", {"freshness", "state"})
    ids: dict[str, str] = {}
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    metadata: set[str] = set()
    sql: dict[str, str] = {}
    per_node: dict[str, NodeFreshness] = {}

    def declare(name: str, uid: str, where: str) -> None:
        if name in ids:
            raise r.error(where, f"{name!r} is declared twice")
        ids[name] = uid

    for i, src in enumerate(r.seq(proj.get("sources"), "project.sources")):
        where = f"project.sources[{i}]"
        has_meta = True
        if isinstance(src, Mapping):
            r.mapping(src, where, {"name", "metadata"})
            name = r.text(src.get("name"), f"{where}.name")
            has_meta = r.boolean(src.get("metadata", True), f"{where}.metadata")
        else:
            name = r.text(src, where)
        uid = f"source.{pkg}.{name}"
        declare(name, uid, where)
        nodes.append(Node(uid, name.split(".")[-1], "source", package=pkg))
        if has_meta:
            metadata.add(uid)

    default_build = parse_freshness(
        defaults.get("freshness"), Where(path, field="project.defaults.freshness")
    )
    default_state = parse_state(defaults.get("state"), Where(path, field="project.defaults.state"))
    pending: list[tuple[str, list, str]] = []
    tests: list[tuple[str, str, str, str | None, str | None]] = []
    for group, kind in _KIND.items():
        for i, entry in enumerate(r.seq(proj.get(group), f"project.{group}")):
            where = f"project.{group}[{i}]"
            if isinstance(entry, str):
                entry = {"name": entry}
            m = r.mapping(entry, where, _NODE | _NODE_EXTRA)
            name = r.text(m.get("name"), f"{where}.name")
            uid = f"{kind}.{pkg}.{name}"
            declare(name, uid, f"{where}.name")
            default_mat = {"model": "table", "seed": "seed", "snapshot": "snapshot"}[kind]
            mat = str(m.get("materialized", default_mat))
            language = str(m.get("language", "sql"))
            if language not in ("sql", "python"):
                raise r.error(f"{where}.language", f"{language!r} is not sql or python")
            if "freshness" in m:
                build = parse_freshness(m["freshness"], Where(path, uid, f"{where}.freshness"))
            else:
                build = default_build
            state_cfg = {
                **default_state,
                **parse_state(m.get("state"), Where(path, uid, f"{where}.state")),
            }
            if build is not None or state_cfg:
                per_node[uid] = NodeFreshness(
                    build,
                    state_cfg.get("lag_tolerance_s"),  # type: ignore[arg-type]
                    state_cfg.get("require_fresh_data_from"),  # type: ignore[arg-type]
                )
            tags = tuple(str(t) for t in r.seq(m.get("tags"), f"{where}.tags"))
            nodes.append(_node(uid, name, kind, mat, language, pkg, tags, build, state_cfg))
            if m.get("sql") is not None:
                sql[uid] = r.text(m["sql"], f"{where}.sql")
            pending.append((uid, r.seq(m.get("parents"), f"{where}.parents"), where))
            for j, test in enumerate(r.seq(m.get("tests"), f"{where}.tests")):
                twhere = f"{where}.tests[{j}]"
                if isinstance(test, str):
                    test = {"name": test}
                t = r.mapping(test, twhere, {"name", "severity", "sql"})
                tname = r.text(t.get("name"), f"{twhere}.name")
                severity = str(t.get("severity", "error"))
                if severity not in ("error", "warn"):
                    raise r.error(f"{twhere}.severity", f"{severity!r} is not error or warn")
                tests.append((f"{tname}_{name}", uid, twhere, severity, t.get("sql")))
    for uid, parents, where in pending:
        for j, parent in enumerate(parents):
            if parent not in ids:
                raise r.error(f"{where}.parents[{j}]", f"{parent!r} is not a declared node")
            edges.append((ids[parent], uid))
    for tname, tested, where, severity, tsql in tests:
        tuid = f"test.{pkg}.{tname}"
        declare(tname, tuid, where)
        nodes.append(Node(tuid, tname, "test", package=pkg, severity=severity))
        edges.append((tested, tuid))
        if tsql is not None:
            sql[tuid] = r.text(tsql, f"{where}.sql")
    project = Project(nodes, edges, name=pkg, dialect=dialect, origin=path)
    kinds = {uid: project.nodes[uid].resource_type for uid in project.nodes}

    def node_ref(value: object, where: str, allowed: tuple[str, ...], what: str) -> str:
        name = r.text(value, where)
        uid = ids.get(name)
        if uid is None or kinds[uid] not in allowed:
            raise r.error(where, f"{name!r} is not {what}")
        return uid

    events = []
    for i, ev in enumerate(r.seq(doc.get("events"), "events")):
        where = f"events[{i}]"
        m = r.mapping(ev, where, {"at", *EVENT_KINDS, "cosmetic", "sql"})
        kinds_here = [k for k in EVENT_KINDS if k in m]
        if len(kinds_here) != 1:
            raise r.error(where, f"give exactly one of {', '.join(EVENT_KINDS)}")
        kind = kinds_here[0]
        at = r.time(m.get("at"), f"{where}.at")
        key = f"{where}.{kind}"
        if kind == "arrival":
            uid = node_ref(m[kind], key, ("source",), "a source")
            if uid not in metadata:
                raise r.error(key, f"{m[kind]!r} has metadata: false, so arrivals are unknown")
        elif kind in ("code_change", "failure"):
            uid = node_ref(
                m[kind],
                key,
                ("model", "seed", "snapshot", "test"),
                "a model, seed, snapshot or test",
            )
        else:
            uid = node_ref(m[kind], key, ("model", "seed", "snapshot"), "a model, seed or snapshot")
        if ("cosmetic" in m or "sql" in m) and kind != "code_change":
            raise r.error(where, "cosmetic and sql go with code_change only")
        cosmetic = r.boolean(m.get("cosmetic", False), f"{where}.cosmetic")
        new_sql = r.text(m["sql"], f"{where}.sql") if m.get("sql") is not None else None
        events.append(Event(at, kind, uid, cosmetic, new_sql))

    jobs = []
    for i, job in enumerate(r.seq(doc.get("jobs"), "jobs")):
        where = f"jobs[{i}]"
        m = r.mapping(job, where, {"name", "cron", "select", "exclude", "full_refresh", "profile"})
        cron = check_cron(m.get("cron"), path=path, field=f"{where}.cron")
        job_profile = None
        if m.get("profile") is not None:
            job_profile = parse_profile(m["profile"]).value
        jobs.append(
            Job(
                r.text(m.get("name", f"job{i + 1}"), f"{where}.name"),
                cron,
                None if m.get("select") is None else r.text(m["select"], f"{where}.select"),
                None if m.get("exclude") is None else r.text(m["exclude"], f"{where}.exclude"),
                r.boolean(m.get("full_refresh", False), f"{where}.full_refresh"),
                job_profile,
            )
        )
    if not jobs:
        raise r.error("jobs", "list at least one job")
    for job in jobs:
        for selector in (job.select, job.exclude):
            if selector:
                try:
                    project.select(selector)
                except Exception as exc:  # SelectionError: name the job
                    raise r.error(f"jobs.{job.name}", str(exc)) from None

    window = r.mapping(doc.get("window"), "window", {"start", "end"})
    start = r.time(window.get("start"), "window.start")
    end = r.time(window.get("end"), "window.end")
    if end <= start:
        raise r.error("window.end", "must be after window.start")
    if end - start > MAX_WINDOW:
        raise r.error("window.end", f"{end - start} is more than ten years after window.start")

    initial: dict[str, dict[str, object]] = {}
    raw_initial = r.mapping(doc.get("initial_state") or {}, "initial_state")
    buildable = ("model", "seed", "snapshot", "test")
    for name, spec in sorted(raw_initial.items(), key=lambda kv: kv[0] != "*"):
        where = f"initial_state.{name}"
        if isinstance(spec, Mapping):
            m = r.mapping(spec, where, {"built_at", "table_exists", "tests_failed"})
            entry = {"built_at": r.time(m.get("built_at"), f"{where}.built_at")}
            for flag in ("table_exists", "tests_failed"):
                if flag in m:
                    entry[flag] = r.boolean(m[flag], f"{where}.{flag}")
        else:
            entry = {"built_at": r.time(spec, where)}
        if name == "*":
            for uid, node in project.nodes.items():
                if node.is_buildable and not node.is_ephemeral:
                    initial[uid] = dict(entry)
        else:
            initial[node_ref(name, where, buildable, "a model, seed, snapshot or test")] = entry

    expect = []
    for i, exp in enumerate(r.seq(doc.get("expect"), "expect")):
        where = f"expect[{i}]"
        m = r.mapping(exp, where, {"at", "node", "action", "reason", "job"})
        uid = node_ref(m.get("node"), f"{where}.node", buildable, "a model, seed, snapshot or test")
        action, reason = m.get("action"), m.get("reason")
        if action is not None and action not in {a.value for a in Action}:
            raise r.error(f"{where}.action", f"{action!r} is not one of {', '.join(Action)}")
        if reason is not None and reason not in {x.value for x in Reason}:
            raise r.error(f"{where}.reason", f"{reason!r} is not a reason")
        job = m.get("job")
        if job is not None and job not in {j.name for j in jobs}:
            raise r.error(f"{where}.job", f"{job!r} is not a job of this scenario")
        at = r.time(m.get("at"), f"{where}.at")
        expect.append(Expectation(at, project.nodes[uid].name, action, reason, job))

    fingerprints = {
        uid: code_identity(node.name, 0, sql.get(uid), dialect)
        for uid, node in project.nodes.items()
        if node.is_buildable or node.is_test
    }
    return {
        "project": project,
        "freshness": FreshnessConfig(per_node),
        "profile": profile,
        "options": options,
        "jobs": tuple(jobs),
        "events": tuple(events),
        "start": start,
        "end": end,
        "metadata_sources": frozenset(metadata),
        "fingerprints": fingerprints,
        "initial_state": initial,
        "expect": tuple(expect),
        "title": str(doc.get("title") or ""),
        "_sql": sql,
    }


def _node(
    uid: str,
    name: str,
    kind: str,
    mat: str,
    language: str,
    pkg: str,
    tags: tuple[str, ...],
    build: BuildAfter | None,
    state_cfg: Mapping[str, object],
) -> Node:
    return Node(
        uid,
        name,
        kind,
        materialization=mat,
        package=pkg,
        tags=tags,
        language=language,
        build_after_count=None if build is None else build.count,
        build_after_period=None if build is None else build.period,
        updates_on=None if build is None else build.updates_on,
        lag_tolerance_s=state_cfg.get("lag_tolerance_s"),  # type: ignore[arg-type]
        require_fresh_data_from=state_cfg.get("require_fresh_data_from"),  # type: ignore[arg-type]
    )
