"""A lean pure-Python replay of the ``sao`` rule, the yardstick for ``benchmarks/history.py``.

Every run of the history, every node it ran, in topological order: build when the node was
never built or a parent has data newer than what the node saw at its last build, else reuse.
No windows, no tests, no clock, no log — the least a replay must do per decision, written as
plainly and quickly as Python allows. saosim's replay does far more per decision (every rule,
the clock, prices, the log); the ratio of decisions per second says what compiling buys.

    .venv/bin/python benchmarks/lean_loop.py /tmp/est10k90
"""

from __future__ import annotations

import sys
import time

import polars as pl

import saosim


def history_runs(estate, max_runs: int | None = None) -> tuple[list[int], list[list[int]]]:
    """(run start µs, node positions it ran in topological order) per history run."""
    pos = estate.project.position
    runs = estate.runs.sort("started_at").head(max_runs or estate.runs.height)
    rows = (
        estate.node_runs.lazy()
        .join(runs.lazy().select("run_id", pl.col("started_at").alias("at")), on="run_id")
        .group_by("run_id")
        .agg(pl.col("at").first(), pl.col("unique_id").cast(pl.String))
        .sort("at")
        .collect()
    )
    ats = [int(t.timestamp() * 1e6) for t in rows["at"]]
    return ats, [sorted(pos[u] for u in ids) for ids in rows["unique_id"].to_list()]


def lean_replay(parents: list[list[int]], arrivals: dict[int, list[int]], ats, runs) -> int:
    """Replay ``runs`` with the sao rule; returns the number of decisions made."""
    n = len(parents)
    version = [-1] * n  # a node's data version: its last build, a source's last arrival
    seen = [-1] * n  # the newest parent version a node saw when it last built
    cursor = dict.fromkeys(arrivals, 0)
    decisions = 0
    for at, selected in zip(ats, runs, strict=True):
        for s, times in arrivals.items():
            k = cursor[s]
            while k < len(times) and times[k] <= at:
                k += 1
            cursor[s] = k
            version[s] = times[k - 1] if k else -1
        for node in selected:
            newest = -1
            for p in parents[node]:
                if version[p] > newest:
                    newest = version[p]
            if version[node] < 0 or newest > seen[node]:
                version[node] = at
                seen[node] = newest
        decisions += len(selected)
    return decisions


def lean_rate(estate, max_runs: int = 2_000) -> tuple[int, float]:
    """Decisions and decisions per second of :func:`lean_replay` over the first runs."""
    project = estate.project
    pos = project.position
    parents = [[pos[p] for p in project.parents(u) if p in pos] for u in project.order]
    arrivals: dict[int, list[int]] = {}
    frame = estate.source_arrivals.sort("arrived_at").group_by("unique_id", maintain_order=True)
    for uid, times in frame.agg(pl.col("arrived_at").dt.epoch("us")).iter_rows():
        if uid in pos:
            arrivals[pos[uid]] = times
    ats, runs = history_runs(estate, max_runs)
    t = time.perf_counter()
    decisions = lean_replay(parents, arrivals, ats, runs)
    return decisions, decisions / (time.perf_counter() - t)


if __name__ == "__main__":
    est = saosim.load_estate(sys.argv[1])
    count, rate = lean_rate(est)
    print(f"lean loop: {count:,} decisions, {rate / 1e6:.2f} M decisions/s")
