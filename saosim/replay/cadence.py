"""Cadence lint: a ``build_after`` window as long as the job's interval halves the job's cadence.

A model built at 06:02 by a daily 06:00 job is 23 h 58 m old at the next 06:00 run; with
``build_after: 1 day`` SAO reuses it there and rebuilds it only at the run after, so a daily model
becomes an every-second-day model. The same holds for any window at least as long as the
interval between the runs of every job that selects the node (an hourly job with a 1-hour
window). dbt users hit this; saosim warns about it wherever tiers are set — ``saosim tiers``, the
tuner, the report and the scenario summary — with the number of nodes affected and a window just
under the interval that keeps the job's cadence.

A job's interval ``I`` is the median gap between its consecutive runs (a weekday-daytime hourly
job has a 1-hour interval, whatever its nights and weekends), to the minute. A node reached at
about the same point of every run with a window ``W ≥ I`` rebuilds every ``⌊W/I⌋ + 1`` runs: the
window is stretched to the next whole run past it. The lint warns when that stretches it by a
quarter or more — always when ``I ≤ W < 2I`` (every second run); a 1-day window on an hourly job
(every 25th run instead of 24 hours) is not worth a warning. The suggested window is just under
``⌊W/I⌋ × I``.

>>> from saosim.project.graph import Project
>>> from saosim.project.tiers import Tiers
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"], "n": ["m"]})
>>> cfg = Tiers.from_dict({"default": {"build_after": {"count": 1, "period": "day"}}}).resolve(p)
>>> daily = JobCadence("daily", 86400.0, frozenset(p.buildable))
>>> [w.message() for w in lint_cadence(p, cfg, [daily], scenario="tuned")]  # doctest: +ELLIPSIS
["scenario 'tuned': 2 nodes have build_after 1d, at least the 1d between the runs of every job \
that selects them (daily), so each rebuilds at most every 2nd run; a window just under the \
interval keeps the cadence: 23h"]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from saosim.inputs.estate import Estate
from saosim.project.freshness import FreshnessConfig
from saosim.project.graph import Project
from saosim.project.slas import hours_text
from saosim.replay.timeline import Job

#: warn when the effective rebuild interval is at least this multiple of the window
STRETCH = 1.25

__all__ = ["CadenceWarning", "JobCadence", "job_cadences", "lint_cadence", "suggest_window_s"]


@dataclass(frozen=True)
class JobCadence:
    """A job, the typical interval between its runs (seconds) and the nodes it selects."""

    name: str
    interval_s: float
    nodes: frozenset[str]


@dataclass(frozen=True)
class CadenceWarning:
    """Nodes whose ``build_after`` window is stretched by their jobs' interval."""

    scenario: str | None
    window_s: float
    interval_s: float
    jobs: tuple[str, ...]
    nodes: tuple[str, ...]
    suggested_s: float

    @property
    def every_nth_run(self) -> int:
        """The node rebuilds at most every n-th run of its most frequent job."""
        return int(self.window_s // self.interval_s) + 1

    def message(self) -> str:
        who = f"scenario {self.scenario!r}: " if self.scenario else ""
        n = len(self.nodes)
        noun = "node has" if n == 1 else "nodes have"
        them = "it" if n == 1 else "them"
        return (
            f"{who}{n:,} {noun} build_after {hours_text(self.window_s)}, at least the "
            f"{hours_text(self.interval_s)} between the runs of every job that selects {them} "
            f"({', '.join(self.jobs)}), so each rebuilds at most every "
            f"{_ordinal(self.every_nth_run)} run; a window just under the interval keeps the "
            f"cadence: {hours_text(self.suggested_s)}"
        )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def suggest_window_s(interval_s: float, runs: int = 1) -> float:
    """A ``build_after`` window just under ``runs`` intervals, in round units.

    >>> [hours_text(suggest_window_s(s)) for s in (86400, 6 * 3600, 3600, 900)]
    ['23h', '5h45m', '55m', '10m']
    >>> hours_text(suggest_window_s(86400, 2))
    '47h'
    """
    target = runs * interval_s - max(interval_s / 24, 60.0)
    if interval_s >= 86400:
        unit = 3600.0
    elif interval_s >= 2 * 3600:
        unit = 900.0
    elif interval_s >= 600:
        unit = 300.0
    else:
        unit = 60.0
    return max(math.floor(target / unit) * unit, 60.0)


def lint_cadence(
    project: Project,
    freshness: FreshnessConfig,
    cadences: Sequence[JobCadence],
    *,
    scenario: str | None = None,
) -> list[CadenceWarning]:
    """Warnings for nodes whose window is ≥ the interval of every job that selects them and
    is stretched by a quarter or more by it (module docstring).

    Args:
        project: the DAG.
        freshness: the per-node settings (``build_after`` windows) to check.
        cadences: the jobs (:func:`job_cadences`).
        scenario: named in the messages.

    Returns:
        One warning per (window, interval) pair, largest group first.
    """
    by_node: dict[str, list[JobCadence]] = {}
    for job in cadences:
        if job.interval_s <= 0:
            continue
        for uid in job.nodes:
            by_node.setdefault(uid, []).append(job)
    groups: dict[tuple[float, float], tuple[set[str], list[str]]] = {}
    for uid in project.buildable:
        window = freshness.for_node(uid).window_s
        jobs = by_node.get(uid)
        if not window or not jobs:
            continue
        interval = min(j.interval_s for j in jobs)
        if window >= interval and (window // interval + 1) * interval >= STRETCH * window:
            nodes, names = groups.setdefault((float(window), interval), (set(), []))
            nodes.add(uid)
            names.extend(j.name for j in jobs if j.name not in names)
    out = [
        CadenceWarning(
            scenario,
            window,
            interval,
            tuple(sorted(names)),
            tuple(sorted(nodes)),
            suggest_window_s(interval, int(window // interval)),
        )
        for (window, interval), (nodes, names) in groups.items()
    ]
    return sorted(out, key=lambda w: (-len(w.nodes), w.window_s, w.interval_s))


def job_cadences(estate: Estate, jobs: Iterable[Job] | None = None) -> list[JobCadence]:
    """The jobs of the history (``jobs=None``) or of a what-if schedule, with their intervals.

    History: one job per ``job_id``, its nodes the ones its runs ran. Cron jobs: the median gap
    between ticks over the estate's first four weeks, the nodes its selector names.
    """
    if jobs is None:
        return _history_cadences(estate)
    span = estate.time_span
    start = span[0] if span else datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for job in jobs:
        nodes = frozenset(estate.project.select(job.select, job.exclude))
        out.append(JobCadence(job.name, _cron_interval_s(job.cron, start), nodes))
    return out


def _cron_interval_s(cron: str, start: datetime) -> float:
    from croniter import croniter

    ticks, end, times = croniter(cron, start), start + timedelta(days=28), []
    while len(times) < 5000:
        at = ticks.get_next(datetime)
        if at > end:
            break
        times.append(at.timestamp())
    return float(np.median(np.diff(times))) if len(times) > 1 else 0.0


def _history_cadences(estate: Estate) -> list[JobCadence]:
    runs = estate.runs
    if runs.height == 0:
        return []
    runs = runs.with_columns(pl.col("job_id").fill_null("history"))
    gaps = (
        runs.sort("started_at")
        .group_by("job_id")
        .agg(pl.col("started_at").diff().dt.total_microseconds().median().alias("gap_us"))
    )
    buildable = list(estate.project.buildable)
    # the two id columns only, streamed: a year of node runs is never copied
    nodes = (
        estate.scan_node_runs()
        .select("run_id", "unique_id")
        .filter(pl.col("unique_id").is_in(buildable))
        .join(runs.lazy().select("run_id", "job_id"), on="run_id")
        .group_by("job_id")
        .agg(pl.col("unique_id").unique())
        .collect(engine="streaming")
    )
    selected = dict(zip(nodes["job_id"], nodes["unique_id"].to_list(), strict=True))
    return [
        JobCadence(job, round((gap or 0.0) / 60e6) * 60.0, frozenset(selected.get(job, ())))
        for job, gap in sorted(gaps.iter_rows())
    ]
