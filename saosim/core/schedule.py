"""The in-run schedule a plan can be given: dbt's threads, what each node takes, and when
the history ran it (SAO-SEMANTICS "t": the time the job reaches a node).

A live plan decides every node at one moment. A replayed run unfolds in time: a node is
reached once what it waits for has finished, so the rules judge it at that moment, and the
run's builds get start and end times the bill is made from. :func:`clock_for` turns a
:class:`RunSchedule` into the arrays :func:`saosim.core.run_pass.decide_run` fills.

>>> RunSchedule(threads=4).threads
4
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from saosim.core.facts import Clock, new_clock
from saosim.core.times import to_us
from saosim.project.graph import Project

__all__ = ["DEFAULT_THREADS", "RunSchedule", "clock_for", "duration_us", "threads_of"]

_US = timedelta(microseconds=1)

#: dbt's threads when neither the rates nor the project say (dbt's own profile default is 1,
#: its docs and dbt Cloud suggest 4)
DEFAULT_THREADS = 4


def threads_of(cost_model: object) -> int:
    """The dbt threads a replayed run is scheduled with: the cost model's ``threads`` when it
    has them, else :data:`DEFAULT_THREADS`.

    >>> threads_of(object())
    4
    """
    threads = getattr(cost_model, "threads", None)
    return int(threads) if threads else DEFAULT_THREADS


def duration_us(seconds: float) -> int:
    """Whole microseconds of ``timedelta(seconds=seconds)`` (CPython's rounding, which the
    compiled replay reproduces).

    >>> duration_us(1.5)
    1500000
    """
    return timedelta(seconds=seconds) // _US


@dataclass(frozen=True, slots=True)
class RunSchedule:
    """How one run unfolds: ``threads`` (dbt's; 0: as many as the run needs),
    ``durations_s`` (what each node's build or test takes, seconds), ``recorded`` (node →
    its start in this run of the history and the runtime recorded then, ``None`` when
    unknown), ``busy_until`` (node → when another run's build of it ends) and ``arrivals``
    (source → its arrival times, sorted µs since the epoch: data that lands while the run
    goes counts for the nodes reached after it).
    """

    threads: int = 0
    durations_s: Mapping[str, float] = field(default_factory=dict)
    recorded: Mapping[str, tuple[datetime, float | None]] = field(default_factory=dict)
    busy_until: Mapping[str, datetime] = field(default_factory=dict)
    arrivals: Mapping[str, np.ndarray] = field(default_factory=dict)


def clock_for(
    project: Project,
    schedule: RunSchedule | None,
    *,
    at_node: bool,
    guarded: bool,
    at: datetime | None = None,
) -> Clock:
    """The :class:`~saosim.core.facts.Clock` of one planned run started ``at`` (no schedule:
    every node takes no time, so the run reaches each at its start)."""
    n = len(project.order)
    if schedule is None:
        return new_clock(n, at_node=at_node)
    clock = new_clock(n, at_node=at_node, threads=schedule.threads, guarded=guarded)
    pos = project.position
    for uid, seconds in schedule.durations_s.items():
        clock.dur[pos[uid]] = duration_us(seconds)
    for uid, (started, runtime_s) in schedule.recorded.items():
        clock.rec[pos[uid]] = to_us(started)
        if runtime_s is not None:
            clock.rec_dur[pos[uid]] = duration_us(runtime_s)
    for uid, until in schedule.busy_until.items():
        clock.busy[pos[uid]] = to_us(until)
    if schedule.arrivals and at is not None:
        clock = _with_arrivals(clock, project, schedule.arrivals, to_us(at))
    return clock


def _with_arrivals(
    clock: Clock, project: Project, arrivals: Mapping[str, np.ndarray], at_us: int
) -> Clock:
    """The clock with each source's arrival times (CSR by node position) and its cursor at
    the first arrival after the run's start."""
    order = project.order
    n = len(order)
    counts = np.zeros(n, dtype=np.int64)
    parts = []
    for i, uid in enumerate(order):
        times = arrivals.get(uid)
        if times is not None and len(times):
            counts[i] = len(times)
            parts.append(np.asarray(times, dtype=np.int64))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    times = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    nxt = ptr[:-1].copy()
    for i in np.flatnonzero(counts):
        nxt[i] += int(np.searchsorted(times[ptr[i] : ptr[i + 1]], at_us, side="right"))
    return clock._replace(src_ptr=ptr, src_times=times, src_next=nxt)
