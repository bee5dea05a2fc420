"""Baseline job runs: every selected node built at every run, laid out in waves on threads.

Per node, drawn once: a median runtime (lognormal, by materialization and depth — a heavy
tail across models — scaled by how often the node's inputs change, see :func:`build_runs`),
a failure rate (most nodes rarely fail, a few are flaky), a row count and
a scan rate. Per node run: lognormal noise with the odd slow spike. The compiled kernel
(:func:`saosim.synth.kernel.lay_out_runs`) turns these into statuses and timings.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from croniter import croniter

from saosim.errors import ConfigError, SelectionError
from saosim.inputs.schema import UTC_TIME
from saosim.project.graph import Project
from saosim.synth.kernel import (
    KIND_INCREMENTAL,
    KIND_TABLE,
    KIND_TEST,
    KIND_VIEW,
    STATUS,
    lay_out_runs,
)

__all__ = ["SynthJob", "build_runs"]

_US = 1_000_000


@dataclass(frozen=True, slots=True)
class SynthJob:
    """A scheduled ``dbt build`` job: a cron schedule (UTC), a selector, a thread count.

    >>> SynthJob("hourly", "15 * * * *", "tag:hourly", threads=4).select
    'tag:hourly'
    """

    job_id: str
    cron: str
    select: str | None = None
    exclude: str | None = None
    threads: int = 8

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigError(f"{self.cron!r} is not a cron schedule", field=f"{self.job_id}.cron")
        if not 1 <= self.threads <= 64:
            raise ConfigError("threads must be 1–64", field=f"{self.job_id}.threads")


@dataclass(frozen=True)
class _Plan:
    """The runnable nodes in execution order and their upstream in a run."""

    ids: list[str]
    kind: np.ndarray
    p_indptr: np.ndarray
    p_idx: np.ndarray
    depth: np.ndarray
    materialization: list[str]
    severity_error: np.ndarray


def _plan(project: Project) -> _Plan:
    """Models, seeds and snapshots (not ephemerals) and data tests, each test after its parents.

    A node's upstream in a run is its nearest buildable ancestors (looking through ephemerals)
    and their data tests: ``dbt build`` waits for those tests and skips the node when one fails.
    """
    position = project.position
    depth: dict[str, int] = {}
    for uid in project.order:
        depth[uid] = max((depth[p] + 1 for p in project.parents(uid)), default=0)
    runnable = []
    for uid in project.order:
        node = project.nodes[uid]
        if node.is_test and project.parents(uid):
            runnable.append((max(position[p] for p in project.parents(uid)) + 0.5, uid))
        elif node.is_buildable and not node.is_ephemeral:
            runnable.append((float(position[uid]), uid))
    runnable.sort()
    ids = [uid for _, uid in runnable]
    index = {uid: i for i, uid in enumerate(ids)}
    effective: dict[str, tuple[str, ...]] = {}
    for uid in project.order:
        found: list[str] = []
        for p in project.parents(uid):
            if p in index:
                found.append(p)
            elif project.nodes[p].is_ephemeral:
                found.extend(effective[p])
        effective[uid] = tuple(dict.fromkeys(found))
    indptr = [0]
    idx: list[int] = []
    kinds, mats, severe = [], [], []
    for uid in ids:
        node = project.nodes[uid]
        ups = list(effective[uid])
        if not node.is_test:
            ups += [t for p in effective[uid] for t in project.tests_of(p) if t in index]
        idx.extend(index[u] for u in dict.fromkeys(ups))
        indptr.append(len(idx))
        mat = node.materialization or node.resource_type
        mats.append("test" if node.is_test else mat)
        kinds.append(
            KIND_TEST
            if node.is_test
            else KIND_VIEW
            if mat == "view"
            else KIND_INCREMENTAL
            if mat == "incremental"
            else KIND_TABLE
        )
        severe.append((node.severity or "error").lower() != "warn")
    return _Plan(
        ids,
        np.array(kinds, np.int8),
        np.array(indptr, np.int64),
        np.array(idx, np.int64),
        np.array([depth[u] for u in ids], np.float64),
        mats,
        np.array(severe, np.bool_),
    )


def _node_params(
    plan: _Plan,
    rng: np.random.Generator,
    change_rate: np.ndarray | None = None,
    elasticity: float = 0.0,
) -> dict[str, np.ndarray]:
    """Per-node medians, failure rates, rows and scan rates, drawn once.

    ``change_rate`` (new data per day of each node's most frequent input) scales the medians
    of tables and incrementals by ``(rate / typical rate) ** elasticity``: the models that get
    new data every run are the big ones, and reuse falls on cheaper models.
    """
    n = len(plan.ids)
    mats = np.array(plan.materialization)
    # Deeper models read bigger joins; the effect levels off (GitLab's DAG is 30+ deep).
    depth = np.minimum(plan.depth, 8.0)
    mu = np.full(n, np.log(8.0)) + 0.1 * depth
    sigma = np.full(n, 1.1)
    for mat, m, s in (
        ("view", np.log(1.2), 0.5),
        ("seed", np.log(3.0), 0.5),
        ("snapshot", np.log(25.0), 0.8),
        ("test", np.log(1.5), 0.7),
    ):
        mu[mats == mat], sigma[mats == mat] = m, s
    inc = mats == "incremental"
    mu[inc], sigma[inc] = np.log(20.0) + 0.1 * depth[inc], 1.0
    median = np.exp(rng.normal(mu, sigma))
    if change_rate is not None and elasticity:
        scaled = (plan.kind == KIND_TABLE) | (plan.kind == KIND_INCREMENTAL)
        rate = np.maximum(change_rate, 1e-3)
        typical = np.exp(np.log(rate[scaled]).mean()) if scaled.any() else 1.0
        median = np.where(scaled, median * (rate / typical) ** elasticity, median)
    is_test = plan.kind == KIND_TEST
    # Most nodes almost never fail; a few flaky ones fail now and then (≈5% of hourly runs
    # and ≈20% of daily full builds see an error or a failing test at 1,500 models).
    flaky = rng.random(n) < 0.005
    fail_p = np.where(is_test, 0.00003, 0.00002)
    fail_p = np.where(flaky, rng.uniform(0.001, 0.01, size=n), fail_p)
    rows = np.exp(rng.normal(np.log(2e5), 1.5, size=n))
    rows = np.where(is_test, rng.integers(1, 50, size=n), rows)
    scan = np.exp(rng.normal(np.log(4e7), 0.8, size=n))
    return {"median": median, "fail_p": fail_p, "rows": rows, "scan": scan}


def _job_nodes(project: Project, plan: _Plan, job: SynthJob) -> np.ndarray:
    """Indices (execution order) of what ``dbt build --select … --exclude …`` runs."""
    try:
        chosen = project.select(job.select, job.exclude)
    except SelectionError as exc:
        raise ConfigError(str(exc), field=f"{job.job_id}.select") from None
    # Eager indirect selection: a test runs when any node it tests is selected.
    picked = [
        i
        for i, uid in enumerate(plan.ids)
        if uid in chosen
        or (project.nodes[uid].is_test and any(p in chosen for p in project.parents(uid)))
    ]
    return np.array(picked, np.int64)


def _ticks(job: SynthJob, t0_us: int, span_us: int) -> np.ndarray:
    """Cron ticks in ``[t0, t0 + span)``, microseconds since the epoch."""
    end_us = t0_us + span_us
    fields = job.cron.split()
    weekly = len(fields) == 5 and fields[2] == "*" and fields[3] == "*"
    # croniter costs ~0.1 ms a tick; a schedule that ignores day of month and month repeats
    # every week, so one week of ticks is tiled over the span.
    horizon_us = min(span_us, 7 * 86400 * _US) if weekly else span_us
    start = datetime.fromtimestamp(t0_us / _US, UTC) - timedelta(microseconds=1)
    it = croniter(job.cron, start)
    first: list[int] = []
    while True:
        tick = int(it.get_next(datetime).timestamp() * _US)
        if tick >= t0_us + horizon_us:
            break
        first.append(tick)
    base = np.array(first, np.int64)
    if weekly and span_us > horizon_us:
        weeks = np.arange(span_us // horizon_us + 1, dtype=np.int64) * horizon_us
        base = (base[None, :] + weeks[:, None]).ravel()
    return base[base < end_us]


def build_runs(
    project: Project,
    jobs: Sequence[SynthJob],
    r_params: np.random.Generator,
    r_runs: np.random.Generator,
    r_noise: np.random.Generator,
    *,
    t0_us: int,
    span_us: int,
    query_ids: bool,
    change_rate: dict[str, float] | None = None,
    runtime_elasticity: float = 0.0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``runs`` and ``node_runs`` tables of every scheduled run in the span.

    ``change_rate`` (node id → new data per day of its most frequent input) and
    ``runtime_elasticity`` make runtime grow with it (see :func:`_node_params`).

    >>> import numpy as np
    >>> from saosim.project.graph import Project
    >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    >>> g = [np.random.default_rng(i) for i in range(3)]
    >>> runs, node_runs = build_runs(p, [SynthJob("daily", "0 6 * * *")], *g,
    ...                              t0_us=1_735_689_600_000_000, span_us=2 * 86_400_000_000,
    ...                              query_ids=False)
    >>> runs.height, node_runs.get_column("status").to_list()
    (2, ['success', 'success'])
    """
    if len({j.job_id for j in jobs}) != len(jobs):
        raise ConfigError("job ids must be unique", field="jobs")
    plan = _plan(project)
    rates = None
    if change_rate is not None:
        rates = np.array([change_rate.get(uid, 0.0) for uid in plan.ids], np.float64)
    params = _node_params(plan, r_params, rates, runtime_elasticity)
    job_lists = [_job_nodes(project, plan, job) for job in jobs]
    tick_lists = [_ticks(job, t0_us, span_us) for job in jobs]
    all_ticks = np.concatenate(tick_lists) if tick_lists else np.zeros(0, np.int64)
    all_jobs = np.repeat(np.arange(len(jobs), dtype=np.int64), [len(t) for t in tick_lists])
    order = np.lexsort((all_jobs, all_ticks))
    n_runs = int(order.shape[0])
    run_job = all_jobs[order]
    # A scheduler starts a run a few seconds late; parsing and compiling take a while more.
    delay_s = r_runs.exponential(15.0, size=n_runs)
    run_start = all_ticks[order] + (delay_s * 1000).astype(np.int64) * 1000
    overhead = 5.0 + np.exp(r_runs.normal(np.log(20.0), 0.4, size=n_runs))
    run_ids = [str(uuid.UUID(bytes=r_runs.bytes(16), version=4)) for _ in range(n_runs)]
    sizes = np.array([job_lists[j].shape[0] for j in run_job], np.int64)
    row0 = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    n_rows = int(sizes.sum())
    noise = np.exp(r_noise.normal(0.0, 0.25, size=n_rows))
    spikes = r_noise.random(n_rows) < 0.01
    noise[spikes] *= r_noise.uniform(2.0, 6.0, size=int(spikes.sum()))
    u_fail = r_noise.random(n_rows)
    job_indptr = np.concatenate([[0], np.cumsum([len(x) for x in job_lists])]).astype(np.int64)
    job_nodes = np.concatenate(job_lists) if job_lists else np.zeros(0, np.int64)
    status, start_us, end_us, exec_s, rows, nbytes = lay_out_runs(
        run_start,
        run_job,
        np.array([jobs[j].threads for j in run_job], np.int64),
        row0,
        job_indptr,
        job_nodes,
        plan.p_indptr,
        plan.p_idx,
        plan.kind,
        plan.severity_error,
        params["median"],
        params["fail_p"],
        params["rows"],
        params["scan"],
        noise,
        u_fail,
        overhead,
    )
    del noise, spikes, u_fail  # a year of 50,000 models: 2 GB let go before the frames
    node_idx = np.zeros(0, np.uint32)
    if n_runs:
        # node positions fit 32 bits; 4 bytes a node run less than int64
        lists = [job_lists[j] for j in run_job]
        node_idx = np.concatenate(lists, dtype=np.uint32, casting="unsafe")
    ran = status != STATUS.index("skipped")
    runs = _runs_frame(jobs, run_ids, run_job, run_start, overhead, status, ran, end_us, sizes)
    node_runs = _node_runs_frame(
        plan, run_ids, sizes, node_idx, status, ran, start_us, end_us, exec_s, rows, nbytes,
        query_ids,
    )  # fmt: skip
    return runs, node_runs


def _node_runs_frame(
    plan, run_ids, sizes, node_idx, status, ran, start_us, end_us, exec_s, rows, nbytes, query_ids
) -> pl.DataFrame:
    # ids are gathered as categories, never as strings: a year of 50,000 models is 125 M node
    # runs, and their ids as strings were most of the generator's memory
    run_idx = pl.Series(np.repeat(np.arange(len(run_ids), dtype=np.uint32), sizes))
    produced = ran & (status != STATUS.index("error"))
    frame = pl.DataFrame(
        {
            "run_id": pl.Series(run_ids, dtype=pl.Categorical).gather(run_idx),
            "unique_id": pl.Series(plan.ids, dtype=pl.Categorical).gather(node_idx),
            "status": pl.Series(STATUS, dtype=pl.Categorical).gather(status.astype(np.int64)),
            "started_at": pl.Series(start_us).cast(UTC_TIME),
            "completed_at": pl.Series(end_us).cast(UTC_TIME),
            "execution_time_s": exec_s,
            "rows_affected": rows,
            "bytes_processed": nbytes,
            "_ran": ran,
            "_produced": produced,
        }
    )
    del run_idx
    ran_only = pl.col("_ran")
    frame = frame.with_columns(
        started_at=pl.when(ran_only).then(pl.col("started_at")),
        completed_at=pl.when(ran_only).then(pl.col("completed_at")),
        rows_affected=pl.when(pl.col("_produced")).then(pl.col("rows_affected")),
        bytes_processed=pl.when(pl.col("_produced")).then(pl.col("bytes_processed")),
        # dbt writes an empty adapter_response for a node that errored: no query id.
        query_id=(
            pl.when(pl.col("_produced")).then(
                pl.format(
                    "01{}-0000-{}",
                    pl.col("run_id").cast(pl.String).str.slice(0, 8),
                    pl.int_range(pl.len()).cast(pl.String).str.zfill(10),
                )
            )
            if query_ids
            else pl.lit(None, pl.String)
        ),
        cost=pl.lit(None, pl.Float64),
    )
    return frame.drop("_ran", "_produced")


def _runs_frame(
    jobs, run_ids, run_job, run_start, overhead, status, ran, end_us, sizes
) -> pl.DataFrame:
    """The runs, each finished with its last node (else after its overhead) and failed when
    any of its node runs errored or failed; node runs come run by run (``sizes`` each)."""
    n_runs = len(run_ids)
    # per run, from the node runs' arrays (each run's rows are contiguous)
    nonempty = sizes > 0
    starts = (np.cumsum(sizes) - sizes)[nonempty]
    never = np.iinfo(np.int64).min  # a run none of whose nodes ran
    last = np.full(n_runs, never, dtype=np.int64)
    failed = np.zeros(n_runs, dtype=np.bool_)
    if len(starts):
        last[nonempty] = np.maximum.reduceat(np.where(ran, end_us, never), starts)
        bad = np.isin(status, [STATUS.index("error"), STATUS.index("fail")])
        failed[nonempty] = np.logical_or.reduceat(bad, starts)
    no_last = last == never
    runs = pl.DataFrame(
        {
            "run_id": pl.Series(run_ids, dtype=pl.Categorical),
            "job_id": [jobs[j].job_id for j in run_job],
            "started_at": pl.Series(run_start, dtype=pl.Int64).cast(UTC_TIME),
            "_overhead_us": (overhead * _US).astype(np.int64),
            "command": ["build"] * n_runs,
            "selection": [jobs[j].select for j in run_job],
            "full_refresh": [False] * n_runs,
            "threads": [jobs[j].threads for j in run_job],
            "last": pl.Series(last).cast(UTC_TIME).set(pl.Series(no_last), None),
            "failed": failed,
        },
        schema_overrides={"selection": pl.String},
    )
    runs = runs.with_columns(
        finished_at=pl.coalesce(
            pl.col("last"), pl.col("started_at") + pl.duration(microseconds=pl.col("_overhead_us"))
        )
        + pl.duration(seconds=2),
        status=pl.when(pl.col("failed")).then(pl.lit("error")).otherwise(pl.lit("success")),
    )
    return runs.select(
        "run_id",
        "job_id",
        "started_at",
        "finished_at",
        "status",
        "command",
        "selection",
        "full_refresh",
        "threads",
    ).sort("started_at", "run_id")
