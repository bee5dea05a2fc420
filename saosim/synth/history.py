"""A plausible run history for any project: arrivals, code changes and baseline ``dbt build`` runs.

Everything is drawn from one seed, per concern from its own child generator (so adding a job
does not move the source arrivals), and laid out by :mod:`saosim.synth.kernel` without a Python
object per node run.

>>> from datetime import datetime, UTC
>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.orders": [], "stg_orders": ["raw.orders"], "fct": ["stg_orders"]})
>>> est = synthetic_history(p, days=2, seed=1, start=datetime(2025, 1, 1, tzinfo=UTC))
>>> sorted(est.runs.get_column("job_id").unique())
['daily_full', 'midday_full']
>>> est.node_runs.height == 2 * est.runs.height
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from saosim.errors import ConfigError, SelectionError
from saosim.inputs.estate import Estate
from saosim.inputs.schema import UTC_TIME
from saosim.project.graph import Node, Project
from saosim.synth.arrivals import cadences, draw_arrivals, per_day
from saosim.synth.dag import Ancestry
from saosim.synth.runs import SynthJob, build_runs

__all__ = ["DEFAULT_START", "SynthJob", "default_jobs", "synthetic_history"]

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
#: (node, logic version, cosmetic version) -> the node at that version of its code.
Versioner = Callable[[Node, int, int], Node]


def default_jobs(project: Project) -> tuple[SynthJob, ...]:
    """The jobs of a team before SAO: overlapping and over-scheduled.

    A daily full build at 06:00 UTC; a second full build at 13:00 on working days ("to be
    safe" — most sources land once a day, so it mostly rebuilds what has not changed); an hourly
    job at :15 from 07:15 to 20:15 on working days; a 6-hourly job at 00:30, 06:30, 12:30 and
    18:30 on a slice that overlaps both.

    The hourly job selects ``tag:hourly`` when the project has that tag; otherwise the folder
    whose models and their upstream cover closest to 12% of the buildable nodes. The 6-hourly
    job takes another folder (closest to 12%) with its upstream.

    >>> from saosim.synth.dag import synthetic_project
    >>> [j.job_id for j in default_jobs(synthetic_project(200, seed=1))]
    ['daily_full', 'midday_full', 'hourly', 'six_hourly']
    """
    jobs = [
        SynthJob("daily_full", "0 6 * * *", None, threads=12),
        SynthJob("midday_full", "0 13 * * 1-5", None, threads=12),
    ]
    n = max(1, len(project.buildable))
    folders = _folder_closures(project)
    hourly: str | None = None
    size = 0
    try:
        size = len(project.select("tag:hourly") & set(project.buildable))
        hourly = "tag:hourly" if size else None
    except SelectionError:
        pass
    used: set[str] = set()
    if hourly is None and folders:
        folder = min(folders, key=lambda f: (abs(folders[f] / n - 0.12), f))
        hourly, used, size = f"+path:{folder}", {folder}, folders[folder]
    if hourly:
        # Hourly through the working day, Monday to Friday: the common dbt Cloud pattern, and
        # half the rows of a round-the-clock job (the bundled example stays small on disk).
        jobs.append(SynthJob("hourly", "15 7-20 * * 1-5", hourly, threads=_threads(size, 6)))
    rest = {f: c for f, c in folders.items() if f not in used and "/core" not in f}
    if rest:
        folder = min(rest, key=lambda f: (abs(rest[f] / n - 0.12), f))
        threads = _threads(rest[folder], 8)
        jobs.append(SynthJob("six_hourly", "30 */6 * * *", f"+path:{folder}", threads=threads))
    return tuple(jobs)


def _threads(n_nodes: int, base: int) -> int:
    """More threads for a big slice, as a team would give a job that otherwise overruns."""
    return base if n_nodes <= 300 else min(16, base * 2)


def _folder_closures(project: Project) -> dict[str, int]:
    """Buildable nodes in ``+path:<folder>`` for each model folder three levels deep."""
    members: dict[str, list[str]] = {}
    for uid in project.of_type("model"):
        parts = project.nodes[uid].path.split("/")
        if len(parts) >= 4:
            members.setdefault("/".join(parts[:3]), []).append(uid)
    ancestry = Ancestry.of(project)
    buildable = ancestry.mask(project.buildable)
    return {f: (buildable & ancestry.closure(uids)).bit_count() for f, uids in members.items()}


def synthetic_history(
    project: Project,
    days: float = 90,
    seed: int | np.random.SeedSequence = 0,
    *,
    start: datetime = DEFAULT_START,
    jobs: Sequence[SynthJob] | None = None,
    code_changes_per_week: float = 4.0,
    query_ids: bool = False,
    versioner: Versioner | None = None,
    runtime_elasticity: float = 0.5,
    arrival_mix: Sequence[float] | None = None,
) -> Estate:
    """A plausible history of baseline ``dbt build`` runs for a project's DAG.

    Args:
        project: the DAG (from a manifest or :func:`~saosim.synth.dag.synthetic_project`).
        days: length of the history.
        seed: seed of every draw; the same seed gives identical frames.
        start: first instant of the history (UTC-aware).
        jobs: the scheduled jobs; default :func:`default_jobs`.
        code_changes_per_week: mean number of merged changes a week (each touches 1–4 models).
        query_ids: fill ``node_runs.query_id`` (costs memory on big histories).
        versioner: renders a node at a version of its code; default keeps the project's code
            as the latest version and labels earlier versions with derived checksums.
        runtime_elasticity: how a model's runtime grows with how often its inputs change
            (runtime ∝ loads a day of its most frequent upstream source ** elasticity; 0: no
            relation). In real projects the big incrementals get new data every run and reuse
            falls on the cheaper models; 0.5 makes an hourly-fed model ≈5× a daily-fed one.
        arrival_mix: shares of source cadences (hourly, every few hours, daily, weekly,
            irregular) for sources that do not feed hourly models; default
            :func:`saosim.synth.arrivals.cadences`'s.

    Returns:
        An :class:`~saosim.inputs.estate.Estate` whose project holds the latest version of the code.

    >>> from saosim.synth.dag import synthetic_project
    >>> est = synthetic_history(synthetic_project(50, seed=1), days=1, seed=2)
    >>> sorted(est.runs.get_column("job_id").unique())
    ['daily_full', 'hourly', 'midday_full', 'six_hourly']
    """
    if start.tzinfo is None or start.utcoffset() != timedelta(0):
        raise ConfigError(f"start {start!r} must be timezone-aware UTC", field="start")
    if days <= 0:
        raise ConfigError(f"days must be positive, got {days}", field="days")
    jobs = tuple(jobs) if jobs is not None else default_jobs(project)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    r_params, r_arrivals, r_changes, r_runs, r_noise = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )
    t0_us = int(start.timestamp() * 1_000_000)
    span_us = int(days * 86400 * 1_000_000)
    hourly = _hourly_closure(project)
    arrivals, rates = _arrivals_frame(project, r_arrivals, t0_us, span_us, hourly, arrival_mix)
    project, changes = _code_changes(
        project, r_changes, start, days, code_changes_per_week, versioner
    )
    runs, node_runs = build_runs(
        project,
        jobs,
        r_params,
        r_runs,
        r_noise,
        t0_us=t0_us,
        span_us=span_us,
        query_ids=query_ids,
        change_rate=_input_rates(project, rates),
        runtime_elasticity=runtime_elasticity,
    )
    return Estate(
        project,
        runs=runs,
        node_runs=node_runs,
        source_arrivals=arrivals,
        code_changes=changes,
        synthetic=True,
    )


def _hourly_closure(project: Project) -> frozenset[str]:
    try:
        tagged = project.select("+tag:hourly")
    except SelectionError:
        return frozenset()
    return frozenset(tagged)


def _input_rates(project: Project, source_rates: dict[str, float]) -> dict[str, float]:
    """Loads a day of each node's most frequent upstream source (0 with none)."""
    out: dict[str, float] = {}
    for uid in project.order:
        if uid in source_rates:
            out[uid] = source_rates[uid]
        else:
            out[uid] = max((out[p] for p in project.parents(uid)), default=0.0)
    return out


def _arrivals_frame(
    project: Project,
    rng: np.random.Generator,
    t0_us: int,
    span_us: int,
    hourly: frozenset[str],
    mix: Sequence[float] | None = None,
) -> tuple[pl.DataFrame, dict[str, float]]:
    sources = list(project.sources)
    plans = cadences(sources, rng, feeds_hourly=[s in hourly for s in sources], mix=mix)
    ids: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    for i, plan in enumerate(plans):
        times = draw_arrivals(plan, rng, t0_us, span_us)
        ids.append(np.full(times.shape[0], i, np.int32))
        stamps.append(times)
    idx = np.concatenate(ids) if ids else np.zeros(0, np.int32)
    at = np.concatenate(stamps) if stamps else np.zeros(0, np.int64)
    frame = pl.DataFrame(
        {
            "unique_id": pl.Series(sources, dtype=pl.String).gather(idx),
            "arrived_at": pl.Series(at, dtype=pl.Int64).cast(UTC_TIME),
        }
    )
    frame = frame.with_columns(
        observed_at=pl.lit(None, UTC_TIME), how=pl.lit("loaded_at_field")
    ).sort("arrived_at", "unique_id")
    return frame, {s: per_day(plan) for s, plan in zip(sources, plans, strict=True)}


def _code_changes(
    project: Project,
    rng: np.random.Generator,
    start: datetime,
    days: float,
    per_week: float,
    versioner: Versioner | None,
) -> tuple[Project, pl.DataFrame]:
    models = list(project.of_type("model"))
    if not models or per_week <= 0:
        return project, pl.DataFrame(schema={"unique_id": pl.String, "changed_at": UTC_TIME})
    n_events = int(rng.poisson(per_week * days / 7.0))
    depth = _depths(project)
    weights = np.array([1.0 + min(depth[m], 6) for m in models])
    weights /= weights.sum()
    # Merges happen on working days, 09:00–18:00.
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    working = [
        midnight + timedelta(days=d)
        for d in range(int(days) + 2)
        if (midnight + timedelta(days=d)).weekday() < 5
    ]
    changes: list[tuple[datetime, str, bool]] = []
    for _ in range(n_events):
        when = working[int(rng.integers(len(working)))]
        when += timedelta(seconds=float(rng.uniform(9 * 3600, 18 * 3600)))
        if not 0 <= (when - start).total_seconds() < days * 86400:
            continue
        n = min(int(rng.geometric(0.6)), 4)
        for m in rng.choice(len(models), size=n, replace=False, p=weights):
            changes.append((when, models[int(m)], bool(rng.random() < 0.2)))
    changes.sort()
    counts: dict[str, list[int]] = {}
    for _, uid, cosmetic in changes:
        v = counts.setdefault(uid, [0, 0])
        v[1 if cosmetic else 0] += 1
    versions: dict[str, list[int]] = {}
    rows = []
    final = {}
    for when, uid, cosmetic in changes:
        v = versions.setdefault(uid, [0, 0])
        v[1 if cosmetic else 0] += 1
        node = project.nodes[uid]
        latest = v == counts[uid]
        if versioner is not None:
            version = versioner(node, v[0], v[1])
        elif latest:
            version = node
        else:
            version = _derived_version(node, v[0], v[1], counts[uid])
        rows.append((uid, when, version.checksum, version.fingerprint))
        if latest:
            final[uid] = version
    if versioner is not None and final:
        project = project.with_nodes(final.values())
    frame = pl.DataFrame(
        rows,
        schema={
            "unique_id": pl.String,
            "changed_at": UTC_TIME,
            "checksum": pl.String,
            "fingerprint": pl.String,
        },
        orient="row",
    )
    return project, frame


def _derived_version(node: Node, logic: int, cosmetic: int, latest: list[int]) -> Node:
    """An earlier version of a real node's code, labelled by derived hashes."""
    base = node.checksum or node.unique_id

    def token(*parts: object) -> str:
        return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()

    # Without a fingerprint of the real code there is none to derive: leave it unknown.
    fingerprint = node.fingerprint
    if fingerprint is not None and logic != latest[0]:
        fingerprint = token(fingerprint, "logic", logic)[:32]
    return replace(node, checksum=token(base, logic, cosmetic), fingerprint=fingerprint)


def _depths(project: Project) -> dict[str, int]:
    depth: dict[str, int] = {}
    for uid in project.order:
        parents = project.parents(uid)
        depth[uid] = max((depth[p] + 1 for p in parents), default=0)
    return depth
