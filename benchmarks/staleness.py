"""Time the staleness replay and the metrics summary on a year of hourly runs.

The estate: 1,000 sources and 10,000 models (a fifth views, 5% ephemeral), each model with one
to three parents among the nodes before it. Half the sources land hourly at a random minute,
half daily. Two scenarios over 365 days of hourly runs: ``baseline`` builds every model every
hour (≈ 83 M build rows), ``sao`` builds each model in a random 30% of the runs. The log's ids
are Categorical/Enum, as the simulator writes them.

Run: ``.venv/bin/python benchmarks/staleness.py [--models 10000] [--days 365] [--sources 1000]``

Measured on the shared 2-core machine (load average ~9, so wall clock ≈ 3-5× CPU time):
365 days, 83.2 M decisions per scenario, 4.56 M arrivals — staleness of ``baseline`` 17.2 s CPU
(≈ 4.8 M decisions/s), of ``sao`` 9.2 s CPU; peak RSS 6.2 GB with one log held. With
``--days 90 --summary``: ``summarize`` of both scenarios (41 M rows) 8.9 s CPU, staleness
included (≈ 3 s of it for the aggregation).
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

import numpy as np
import polars as pl

from saosim.cost.rates import CostModel
from saosim.metrics.staleness import staleness
from saosim.metrics.tables import summarize
from saosim.project.graph import Node, Project

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000


def generate(n_models: int, n_sources: int, seed: int = 7) -> Project:
    rng = np.random.default_rng(seed)
    nodes = [Node(f"source.b.raw.s{i:04d}", f"s{i:04d}", "source") for i in range(n_sources)]
    ids = [n.unique_id for n in nodes]
    edges = []
    for i in range(n_models):
        uid = f"model.b.m{i:05d}"
        roll = rng.random()
        mat = "view" if roll < 0.2 else "ephemeral" if roll < 0.25 else "table"
        nodes.append(Node(uid, f"m{i:05d}", "model", materialization=mat))
        lo = max(0, len(ids) - 1500)
        k = min(len(ids) - lo, int(rng.integers(1, 4)))
        for j in rng.choice(np.arange(lo, len(ids)), size=k, replace=False):
            edges.append((ids[j], uid))
        ids.append(uid)
    return Project(nodes, edges, name="b")


def arrivals(project: Project, days: int, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    t0 = int(T0.timestamp() * 1e6)
    for k, uid in enumerate(project.sources):
        minute = int(rng.integers(0, 60))
        step = 1 if k % 2 == 0 else 24
        hours = np.arange(0, days * 24, step, dtype=np.int64)
        frames.append((uid, t0 + hours * HOUR_US + minute * 60_000_000))
    ids = np.concatenate([np.full(len(t), i) for i, (_, t) in enumerate(frames)])
    names = pl.Series([u for u, _ in frames], dtype=pl.Categorical)
    return pl.DataFrame(
        {
            "unique_id": names.gather(ids.astype(np.uint32)).cast(pl.String),
            "arrived_at": pl.Series(np.concatenate([t for _, t in frames]))
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
        }
    )


def decisions(project: Project, days: int, share: float, scenario: str, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    order = project.order
    models = np.array(
        [
            i
            for i, u in enumerate(order)
            if project.nodes[u].is_buildable and not project.nodes[u].is_ephemeral
        ],
        dtype=np.int64,
    )
    runs = days * 24
    node = np.tile(models, runs)
    run = np.repeat(np.arange(runs, dtype=np.int64), len(models))
    built = np.ones(len(node), dtype=bool) if share >= 1 else rng.random(len(node)) < share
    t0 = int(T0.timestamp() * 1e6)
    names = pl.Series(list(order), dtype=pl.Categorical)
    actions = pl.Series(
        ["build", "run", "reuse", "skip", "no_op"],
        dtype=pl.Enum(["build", "run", "reuse", "skip", "no_op"]),
    )
    return pl.DataFrame(
        {
            "scenario": pl.Series([scenario], dtype=pl.Categorical).new_from_index(0, len(node)),
            "run_id": pl.Series([f"r{i}" for i in range(runs)], dtype=pl.Categorical).gather(
                run.astype(np.uint32)
            ),
            "run_at": pl.Series(t0 + (run + 1) * HOUR_US)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "unique_id": names.gather(node.astype(np.uint32)),
            "action": actions.gather(np.where(built, 0, 2).astype(np.uint32)),
            "runtime_s": np.where(built, 30.0, np.nan),
            "cost_usd": np.where(built, 0.1, 0.0),
        }
    ).with_columns(pl.col("runtime_s").fill_nan(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--summary", action="store_true", help="also time metrics.summarize")
    args = parser.parse_args()
    t = time.perf_counter()
    project = generate(args.models, args.sources)
    arr = arrivals(project, args.days)
    print(
        f"project and arrivals in {time.perf_counter() - t:.1f} s: {args.models} models, "
        f"{args.sources} sources, {arr.height:,} arrivals"
    )
    # the first call compiles the kernel (cached on disk afterwards)
    staleness(decisions(project, 1, 1.0, "warm", 0), project=project, arrivals=arr.head(1000))
    logs = []
    for name, share, seed in (("baseline", 1.0, 1), ("sao", 0.3, 2)):
        log = decisions(project, args.days, share, name, seed)
        t, cpu = time.perf_counter(), time.process_time()
        res = staleness(log, project=project, arrivals=arr)[name]
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        s = res.summary()
        # CPU time too: on a shared machine the wall clock mostly measures the neighbours
        print(
            f"staleness {name:8s}: {took:6.1f} s wall, {cpu:5.1f} s CPU for {log.height:,} "
            f"decisions; p50 {s['staleness_p50_hours']:.2f} h, "
            f"p95 {s['staleness_p95_hours']:.2f} h, max {s['staleness_max_hours']:.1f} h"
        )
        if args.summary:
            logs.append(log)
        del log
    if args.summary:
        both = pl.concat(logs)
        logs.clear()
        t, cpu = time.perf_counter(), time.process_time()
        out = summarize(both, project=project, arrivals=arr, cost_model=CostModel())
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"summarize, {both.height:,} rows, staleness included: {took:.1f} s, {cpu:.1f} s CPU")
        print(
            out.select(
                "scenario",
                "node_builds",
                "reuse_pct",
                "cost_usd",
                "savings_pct",
                "staleness_p95_hours",
            )
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {peak:.1f} GB")


if __name__ == "__main__":
    main()
