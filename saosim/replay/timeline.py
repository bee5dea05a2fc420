"""The replay timeline: job runs, source arrivals and code changes, as the simulator reads them.

Runs come from the history (the times jobs really ran, each with the exact set of nodes it ran)
or from cron schedules a user gives for a what-if. Arrivals and code changes come from the estate.
Everything is kept as sorted integer microseconds since the epoch (UTC) so both replay engines
look things up with one binary search.

>>> from datetime import UTC, datetime, timedelta
>>> from saosim.project.graph import Project
>>> from saosim.inputs.estate import Estate
>>> import polars as pl
>>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
>>> t0 = datetime(2025, 1, 1, tzinfo=UTC)
>>> e = Estate(p, source_arrivals=pl.DataFrame({"unique_id": ["source.demo.raw.a"],
...                                               "arrived_at": [t0]}))
>>> tl = Timeline.from_estate(e, jobs=[Job("hourly", "0 * * * *")],
...                           start=t0, end=datetime(2025, 1, 1, 3, tzinfo=UTC))
>>> [r.at.hour for r in tl.runs]
[0, 1, 2]
>>> tl.source_versions_at(tl.runs[1].at)
{'source.demo.raw.a': datetime.datetime(2025, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import polars as pl
from croniter import croniter

from saosim.core.codes import NONE
from saosim.cost.segments import argsort_pairs
from saosim.errors import ConfigError
from saosim.inputs.estate import Estate
from saosim.inputs.history_rows import history_rows
from saosim.project.graph import Project

__all__ = ["Job", "RunSpec", "Timeline", "from_us", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ERRORED = ("error", "runtime error")


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of a UTC-aware datetime."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """The UTC datetime of a microsecond timestamp."""
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC).replace(
        microsecond=int(value % 1_000_000)
    )


@dataclass(frozen=True, slots=True)
class Job:
    """A what-if job: a cron schedule (UTC) and a dbt selector.

    >>> Job("daily", "0 6 * * *", "tag:daily").select
    'tag:daily'
    >>> Job("bad", "every hour")
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: field "jobs.bad.cron": 'every hour' is not a cron schedule
    """

    name: str
    cron: str
    select: str | None = None
    exclude: str | None = None
    full_refresh: bool = False
    #: scenario files: a job with its own profile (``baseline`` for a job that is not
    #: state-aware but writes the shared state); a simulate scenario has one profile
    profile: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cron, str) or not croniter.is_valid(self.cron):
            raise ConfigError(
                f"{self.cron!r} is not a cron schedule", field=f"jobs.{self.name}.cron"
            )


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One job run to replay.

    ``selected`` is the exact set of node ids the run covers (tests included). ``failing`` are
    the nodes whose build fails in this run if the replay builds them (from the history).
    """

    run_id: str
    job_id: str
    at: datetime
    selected: frozenset[str]
    full_refresh: bool = False
    failing: frozenset[str] = frozenset()
    #: data test id -> status it had in this run of the history (pass/fail/warn/error)
    test_status: dict[str, str] = field(default_factory=dict)
    #: True when the run is a real run of the history (its node runtimes are known)
    from_history: bool = True


class RunHead(NamedTuple):
    """What a replay needs of a run before its selection: id, job, start, full refresh."""

    run_id: str
    job_id: str
    at: datetime
    full_refresh: bool
    from_history: bool


class Timeline:
    """Sorted runs, per-source arrival times and per-node code-change times.

    A history's runs are read from the estate only when asked for (``runs``): the compiled
    replay needs just their ``heads`` and reads the selections column-wise, and a year of
    history holds tens of millions of (run, node) pairs.
    """

    def __init__(
        self,
        project: Project,
        runs: Sequence[RunSpec] | None,
        arrivals: dict[str, np.ndarray],
        code_changes: dict[str, np.ndarray],
        *,
        start: datetime,
        end: datetime,
        deferred: tuple[tuple[RunHead, ...], Callable[[], list[RunSpec]]] | None = None,
    ) -> None:
        self.project = project
        self._runs: tuple[RunSpec, ...] | None = None
        self._read_runs: Callable[[], list[RunSpec]] | None = None
        if deferred is not None:
            self.heads, self._read_runs = deferred
        else:
            self._runs = tuple(sorted(runs or (), key=lambda r: (r.at, r.run_id)))
            self.heads = tuple(
                RunHead(r.run_id, r.job_id, r.at, r.full_refresh, r.from_history)
                for r in self._runs
            )
        self.arrivals = arrivals
        self.code_changes = code_changes
        self.start = start
        self.end = end
        #: work derived from this timeline that every scenario replayed on it shares (the
        #: compiled replay's run arrays); an estate's history is compiled once per comparison
        self.memo: dict[str, object] = {}
        self._base_fingerprint = {
            uid: (n.fingerprint if n.fingerprint is not None else n.checksum) or ""
            for uid, n in project.nodes.items()
        }

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_estate(
        cls,
        estate: Estate,
        *,
        jobs: Iterable[Job] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Timeline:
        """Runs from the history (``jobs=None``) or from cron schedules over the estate's span."""
        project = estate.project
        span = _run_span(estate)
        if (start is None or end is None) and span is None:
            raise ConfigError(
                "the estate has no job runs, so the replay needs an explicit start and end: "
                "`window: {start: ..., end: ...}` in a scenario file, `--start/--end` on "
                "`saosim simulate`, or simulate(start=, end=)",
                field="window",
            )
        start = start or span[0]
        end = end or span[1]
        if end <= start:
            raise ConfigError(f"window end {end} is not after start {start}", field="window")
        arrivals = _grouped_times(estate.source_arrivals, "arrived_at")
        changes = _grouped_times(_real_code_changes(estate.code_changes), "changed_at")
        if jobs is None:
            heads = _history_heads(estate, start, end)
            return cls(
                project, None, arrivals, changes, start=start, end=end,
                deferred=(heads, lambda: _history_runs(estate, start, end)),
            )  # fmt: skip
        runs = _cron_runs(project, list(jobs), start, end)
        return cls(project, runs, arrivals, changes, start=start, end=end)

    # -- lookups --------------------------------------------------------------------------
    def source_versions_at(self, at: datetime) -> dict[str, datetime]:
        """For each source with data by ``at``, when it last landed (at or before ``at``)."""
        t = to_us(at)
        out: dict[str, datetime] = {}
        for uid, times in self.arrivals.items():
            i = int(np.searchsorted(times, t, side="right"))
            if i:
                out[uid] = from_us(int(times[i - 1]))
        return out

    def fingerprints_at(self, at: datetime) -> dict[str, str]:
        """Code identity of every node with code changes in the estate, as it stood at ``at``.

        The k-th version of a node is ``"<latest fingerprint>~v<k>"``; only equality matters to
        the planner, and the version after the last change is the node's own fingerprint.
        """
        t = to_us(at)
        out: dict[str, str] = {}
        for uid, times in self.code_changes.items():
            k = int(np.searchsorted(times, t, side="right"))
            base = self._base_fingerprint.get(uid, "")
            out[uid] = base if k == len(times) else f"{base}~v{k}"
        return out

    @property
    def runs(self) -> tuple[RunSpec, ...]:
        """Every run with its selection, in order of ``heads``."""
        if self._runs is None:
            assert self._read_runs is not None
            self._runs = tuple(sorted(self._read_runs(), key=lambda r: (r.at, r.run_id)))
            self._read_runs = None
        return self._runs

    @property
    def n_runs(self) -> int:
        return len(self.heads)


def _run_span(estate: Estate) -> tuple[datetime, datetime] | None:
    """From the first run's start to the last run's end: the replay window by default.

    Arrivals before the first run are data the first run picks up, not staleness to count.
    """
    runs = estate.runs
    if runs.height == 0:
        return None
    first = runs["started_at"].min()
    last = max(v for v in (runs["finished_at"].max(), runs["started_at"].max()) if v is not None)
    node_end = estate.node_runs_column("completed_at").max() if estate.node_runs_count else None
    if node_end is not None and node_end > last:
        last = node_end
    return first, max(last, first + timedelta(seconds=1))


def _real_code_changes(changes: pl.DataFrame) -> pl.DataFrame:
    """Drop cosmetic changes: a row whose fingerprint equals the node's previous one.

    The fingerprint ignores comments, whitespace and formatting, so such an edit changes nothing
    the planner can see. A node's first recorded change always counts (what came before it is
    not in the estate).
    """
    if changes.height == 0:
        return changes
    previous = pl.col("fingerprint").shift(1).over("unique_id", order_by="changed_at")
    cosmetic = pl.col("fingerprint").is_not_null() & (pl.col("fingerprint") == previous)
    return changes.filter(~cosmetic.fill_null(False))


def _grouped_times(frame: pl.DataFrame, column: str) -> dict[str, np.ndarray]:
    if frame.height == 0:
        return {}
    grouped = (
        frame.select("unique_id", pl.col(column).dt.epoch("us").alias("t"))
        .drop_nulls()
        .group_by("unique_id")
        .agg(pl.col("t").unique().sort())
    )
    return {
        uid: np.asarray(times, dtype=np.int64)
        for uid, times in zip(grouped["unique_id"], grouped["t"].to_list(), strict=True)
    }


def _history_heads(estate: Estate, start: datetime, end: datetime) -> tuple[RunHead, ...]:
    """The history's runs in the window that ran at least one node, by (start, run id)."""
    runs = estate.runs
    ran = np.zeros(runs.height, dtype=np.bool_)
    if estate.node_runs_count:
        # the runs' rows from the history as numbers (made once per estate: the replay's
        # compile and the cost fit read them too)
        ran[history_rows(estate).run_row] = True
    chosen = (
        runs.with_columns(pl.Series("ran", ran))
        .filter(pl.col("ran") & pl.col("started_at").is_between(start, end, closed="both"))
        .sort("started_at", "run_id")
    )
    return tuple(
        RunHead(run_id, job_id or "history", at, bool(full), True)
        for run_id, job_id, at, full in zip(
            chosen["run_id"], chosen["job_id"], chosen["started_at"], chosen["full_refresh"],
            strict=True,
        )
    )  # fmt: skip


def _history_runs(estate: Estate, start: datetime, end: datetime) -> list[RunSpec]:
    runs = estate.runs.filter(pl.col("started_at").is_between(start, end, closed="both"))
    if runs.height == 0:
        return []
    node_runs = estate.node_runs.join(runs.select("run_id"), on="run_id", how="semi")
    tests = list(estate.project.tests)
    is_test = pl.col("unique_id").is_in(tests)
    # a test that passed needs no entry: both engines read a missing status as "pass"
    reported = is_test & pl.col("status").is_in(("fail", "warn", "error"))
    grouped = node_runs.group_by("run_id").agg(
        pl.col("unique_id"),
        pl.col("unique_id")
        .filter(pl.col("status").is_in(_ERRORED) | (is_test & pl.col("status").eq("fail")))
        .alias("failing"),
        pl.col("unique_id").filter(reported).alias("test_ids"),
        pl.col("status").filter(reported).alias("test_statuses"),
    )
    table = runs.join(grouped, on="run_id", how="inner").sort("started_at", "run_id")
    # one string object per node id, shared by every run's set: a year of history holds tens
    # of millions of (run, node) pairs
    canonical = {uid: uid for uid in estate.project.nodes}
    intern = canonical.__getitem__
    out = []
    for row in table.iter_rows(named=True):
        out.append(
            RunSpec(
                run_id=row["run_id"],
                job_id=row["job_id"] or "history",
                at=row["started_at"],
                selected=frozenset(map(intern, row["unique_id"])),
                full_refresh=bool(row["full_refresh"]),
                failing=frozenset(map(intern, row["failing"])),
                test_status=dict(
                    zip(map(intern, row["test_ids"]), row["test_statuses"], strict=True)
                ),
            )
        )
    return out


def _cron_runs(project: Project, jobs: list[Job], start: datetime, end: datetime) -> list[RunSpec]:
    if not jobs:
        raise ConfigError("a what-if schedule needs at least one job", field="jobs")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ConfigError(f"job names repeat: {names}", field="jobs")
    out = []
    for job in jobs:
        selected = frozenset(project.select(job.select, job.exclude))
        # croniter's get_next is strictly after its base: start one second early so a tick
        # exactly at `start` counts
        ticks = croniter(job.cron, start.replace(microsecond=0) - timedelta(seconds=1))
        at = ticks.get_next(datetime)
        while at < start:
            at = ticks.get_next(datetime)
        while at < end:
            at = at.astimezone(UTC)
            out.append(
                RunSpec(
                    run_id=f"{job.name}@{at:%Y-%m-%dT%H:%M}Z",
                    job_id=job.name,
                    at=at,
                    selected=selected,
                    full_refresh=job.full_refresh,
                    from_history=False,
                )
            )
            at = ticks.get_next(datetime)
    return out


def history_node_runs(estate: Estate) -> pl.DataFrame:
    """Every node run of the history with what it took: ``run_id, unique_id, status, t``
    (its recorded start, else its run's), ``rt`` (seconds), ``gap_s`` (since the node's
    previous successful build started; previous in the order a replay takes the runs),
    ``bytes``, ``cost``, ``node`` (its position in ``project.order``) and ``run_row`` (its
    run's row in ``estate.runs``).

    A node run the history skipped did no work: its ``rt``, ``bytes`` and ``cost`` are
    null, so a replay that builds it prices it with the fitted runtime, never as a free
    success. The compiled replay takes the same columns one at a time
    (:func:`history_codes`, :func:`history_starts`, :func:`history_gaps`,
    :func:`history_worked`), so a year of history never sits in memory twice.

    >>> from saosim.synth.estate import synthetic_estate
    >>> rows = history_node_runs(synthetic_estate(n_models=20, days=1, seed=1))
    >>> rows.columns[:4]
    ['run_id', 'unique_id', 'status', 't']
    """
    nr = estate.node_runs
    node, run_row = history_codes(estate)
    t_us = history_starts(estate, run_row)
    gap = history_gaps(estate, node, run_row, t_us)
    t = pl.Series("t", t_us).cast(pl.Datetime("us", "UTC"))
    t = t.set(pl.Series(t_us == NONE), None) if (t_us == NONE).any() else t

    def worked(name: str) -> pl.Series:
        value = history_worked(estate, name)
        return value if value is not None else pl.Series(name, [None] * nr.height, pl.Float64)

    return pl.DataFrame(
        [
            nr["run_id"],
            nr["unique_id"],
            nr["status"],
            t,
            worked("execution_time_s").alias("rt"),
            pl.Series("gap_s", gap).fill_nan(None),
            worked("bytes_processed").alias("bytes"),
            worked("cost").alias("cost"),
            pl.Series("node", node),
            pl.Series("run_row", run_row),
        ]
    )


def history_codes(estate: Estate) -> tuple[np.ndarray, np.ndarray]:
    """Per node run: its node's position in ``project.order`` and its run's row in
    ``estate.runs`` (both int32).

    >>> from saosim.synth.estate import synthetic_estate
    >>> node, run_row = history_codes(synthetic_estate(n_models=20, days=1, seed=1))
    >>> node.dtype, run_row.dtype
    (dtype('int32'), dtype('int32'))
    """
    rows = history_rows(estate)
    return rows.node, rows.run_row


def history_starts(estate: Estate, run_row: np.ndarray) -> np.ndarray:
    """Per node run, when it started, in µs since the epoch: its recorded start, else its
    run's (NONE: neither is known): :func:`saosim.inputs.history_rows.history_rows`' ``start_us``
    (``run_row`` as :func:`history_codes` gives it).

    >>> from saosim.synth.estate import synthetic_estate
    >>> est = synthetic_estate(n_models=20, days=1, seed=1)
    >>> history_starts(est, history_codes(est)[1]).dtype
    dtype('int64')
    """
    return history_rows(estate).start_us


#: a node run did work unless the history skipped it
_WORKED = pl.col("status") != "skipped"


def history_worked(estate: Estate, name: str) -> pl.Series | None:
    """A node run's ``name`` column as float, null where the history skipped the node (it
    did no work); None when the history has no such column."""
    scan = estate.scan_node_runs()
    if name not in scan.collect_schema():
        return None
    return scan.select(pl.when(_WORKED).then(pl.col(name).cast(pl.Float64))).collect().to_series()


def history_worked_at(estate: Estate, name: str, rows: np.ndarray) -> np.ndarray | None:
    """:func:`history_worked` of the node runs at ``rows``, NaN for null, as numpy; None when
    the history has no such column or it is null throughout. Gathered a few million rows at a
    time from the two columns it reads (an estate in memory: its own, not copied)."""
    scan = estate.scan_node_runs()
    if name not in scan.collect_schema():
        return None
    table = scan.select("status", name).collect()
    if table.get_column(name).null_count() == table.height:
        return None
    worked = pl.when(_WORKED).then(pl.col(name).cast(pl.Float64))
    out = np.empty(len(rows), dtype=np.float64)
    for lo in range(0, len(rows), GATHER_ROWS):
        at = pl.Series(rows[lo : lo + GATHER_ROWS])
        piece = table.select(pl.all().gather(at)).select(worked).to_series()
        out[lo : lo + len(at)] = piece.fill_null(np.nan).to_numpy()
    return out


#: rows gathered at once from the history's columns
GATHER_ROWS = 1 << 22


def history_gaps(
    estate: Estate, node: np.ndarray, run_row: np.ndarray, t_us: np.ndarray
) -> np.ndarray:
    """Per node run, seconds since its node's previous successful build started (NaN: none,
    or not a success); ``t_us`` from :func:`history_starts`."""
    runs = estate.runs
    # the previous build is the previous one in the order a replay takes the runs (start,
    # run id), which is not always time order when runs overlap: a replay of the history's
    # own builds then sees the very same gaps, so it shifts no runtime
    by_start = runs.select("started_at", "run_id", pl.int_range(pl.len()).alias("row"))
    run_rank = np.empty(runs.height, dtype=np.int64)
    run_rank[by_start.sort("started_at", "run_id")["row"].to_numpy()] = np.arange(runs.height)
    status = estate.node_runs_column("status")
    success = np.flatnonzero((status == "success").fill_null(False).to_numpy())
    ok = success[argsort_pairs(node[success], run_rank[run_row[success]])]
    del success
    ok_node, ok_t = node[ok], t_us[ok]
    gap = np.full(len(node), np.nan)
    same = np.zeros(len(ok), dtype=np.bool_)
    same[1:] = (ok_node[1:] == ok_node[:-1]) & (ok_t[1:] != NONE) & (ok_t[:-1] != NONE)
    step = np.full(len(ok), np.nan)
    step[1:] = (ok_t[1:] - ok_t[:-1]) / 1e6
    gap[ok] = np.where(same, step, np.nan)
    return gap
