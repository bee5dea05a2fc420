"""The job schedules the recommender searches besides the ones it is given.

A team's SLAs say how often each tier must be refreshed; its current jobs say *when* it is
willing to run (working days from 06:00, say, and not at night). Two derived schedules follow:

- :func:`sla_schedule` — one job per SLA on its selector, every interval of :data:`CRON_HOURS`
  up to half the SLA, round the clock;
- :func:`sla_schedule_within` — the same jobs, run only in the hours a base schedule runs
  (the history's jobs, or a scenario's): a tight SLA's job at each of those hours spaced by its
  interval, a daily SLA's job at the first of them each day. It keeps the team's hours and
  runs each tier no more often than its SLA needs, which is where a shared warehouse's bill
  is made.

>>> slas = Slas.from_dict({"default": "26h", "tag:hourly": "2h"})
>>> sla_schedule(slas).describe()
'0 */12 * * * on *; 0 * * * * on tag:hourly'
>>> week = Schedule.parse("15 6-20 * * 1-5; 0 6 * * 0,6")
>>> sla_schedule_within(slas, active_hours(week), "per-sla in working hours").describe()
'15 6,18 * * 1-5 on *; 15 6 * * 0,6 on *; 15 6-20 * * 1-5 on tag:hourly; 15 6 * * 0,6 on tag:hourly'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
from croniter import croniter

from saosim.project.slas import Slas
from saosim.tune.recommend_score import Schedule

__all__ = ["CRON_HOURS", "PER_SLA", "active_hours", "history_hours", "sla_schedule",
           "sla_schedule_within"]  # fmt: skip

#: a schedule derived from the SLAs (:func:`sla_schedule`)
PER_SLA = "per-sla"
#: the cron intervals (hours) a derived job may run at
CRON_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)

#: per weekday (0 = Monday), the hours a schedule runs at and the minute it starts them
Hours = Mapping[int, Mapping[int, int]]

_MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # any Monday: cron jobs repeat weekly


def _interval_h(sla_s: float) -> int:
    return max([h for h in CRON_HOURS if h * 3600 <= sla_s / 2] or [1])


def sla_schedule(slas: Slas) -> Schedule:
    """One job per SLA, on its selector, every interval of :data:`CRON_HOURS` up to half its
    SLA: frequent runs only where a tight SLA is declared, the rest at the pace its own SLA
    allows. (The models upstream of a tight SLA are refreshed by the ``default`` job, as a
    history's hourly job on ``tag:hourly`` leaves them to its daily jobs.)"""
    parts = []
    for rule in slas.rules:
        hours = _interval_h(rule.sla_s)
        cron = "0 0 * * *" if hours == 24 else ("0 * * * *" if hours == 1 else f"0 */{hours} * * *")
        parts.append(f"{cron}@{_selector(rule.selector)}")
    return replace(Schedule.parse("; ".join(parts)), name=PER_SLA)


def active_hours(schedule: Schedule) -> dict[int, dict[int, int]]:
    """The (weekday, hour) slots a cron schedule runs in over a week, each with the earliest
    minute a job starts in it.

    >>> active_hours(Schedule.parse("30 6,12 * * 1"))
    {0: {6: 30, 12: 30}}
    """
    out: dict[int, dict[int, int]] = {}
    end = _MONDAY + timedelta(days=7)
    for job in schedule.jobs or ():
        it = croniter(job.cron, _MONDAY - timedelta(microseconds=1))
        while (at := it.get_next(datetime)) < end:
            slot = out.setdefault(at.weekday(), {})
            slot[at.hour] = min(slot.get(at.hour, 59), at.minute)
    return {d: dict(sorted(h.items())) for d, h in sorted(out.items())}


def history_hours(runs: pl.DataFrame) -> dict[int, dict[int, int]]:
    """The (weekday, hour) slots a history's runs start in on at least half of its weeks, each
    with the median minute they start at (``runs``: the estate's ``runs`` table)."""
    if runs.height == 0:
        return {}
    at = pl.col("started_at")
    slots = (
        runs.select(
            at.dt.weekday().cast(pl.Int32).alias("dow") - 1,
            at.dt.hour().cast(pl.Int32).alias("hour"),
            at.dt.minute().cast(pl.Int32).alias("minute"),
            at.dt.truncate("1w").alias("week"),
        )
        .group_by("dow", "hour")
        .agg(pl.col("week").n_unique().alias("weeks"), pl.col("minute").median().alias("minute"))
    )
    span = runs.select(at.min().alias("lo"), at.max().alias("hi")).row(0)
    weeks = max(1, round((span[1] - span[0]) / timedelta(days=7)))
    out: dict[int, dict[int, int]] = {}
    for dow, hour, seen, minute in slots.sort("dow", "hour").iter_rows():
        if seen * 2 >= weeks:
            out.setdefault(dow, {})[hour] = int(minute)
    return out


def sla_schedule_within(slas: Slas, hours: Hours, name: str) -> Schedule:
    """One job per SLA, run only in ``hours`` (:func:`active_hours`, :func:`history_hours`):
    each day from its first active hour, the next active hour at least the SLA's interval
    (:data:`CRON_HOURS`, up to half the SLA) after the last. Every job starts at the base's
    most common start minute, so each is a cron line per set of hours."""
    minutes = [m for slots in hours.values() for m in slots.values()]
    if not minutes:
        return replace(sla_schedule(slas), name=name)
    minute = max(sorted(set(minutes)), key=minutes.count)
    parts = []
    for rule in slas.rules:
        step = _interval_h(rule.sla_s)
        days: dict[tuple[int, ...], list[int]] = {}
        for dow, slots in sorted(hours.items()):
            chosen: list[int] = []
            for hour in sorted(slots):
                if not chosen or hour >= chosen[-1] + step:
                    chosen.append(hour)
            days.setdefault(tuple(chosen), []).append(dow)
        for hs, dows in days.items():
            week = "*" if len(dows) == 7 else _list(sorted((d + 1) % 7 for d in dows))
            cron = f"{minute} {_list(hs)} * * {week}"
            parts.append(f"{cron}@{_selector(rule.selector)}")
    return replace(Schedule.parse("; ".join(parts)), name=name)


def _selector(rule_selector: str) -> str:
    return "*" if rule_selector == "default" else rule_selector


def _list(values: tuple[int, ...] | list[int]) -> str:
    """Cron's list form with ranges: ``6-20``, ``0,6``, ``6,18``."""
    out, start = [], None
    vals = sorted(values)
    for i, v in enumerate(vals):
        if start is None:
            start = v
        if i + 1 == len(vals) or vals[i + 1] != v + 1:
            out.append(
                str(v) if v == start else (f"{start},{v}" if v == start + 1 else f"{start}-{v}")
            )
            start = None
    return ",".join(out)
