"""Time the fast replay kernel against the plain planner loop on a synthetic estate.

The estate: ``saosim.synthetic_estate(n_models, days, seed)`` (10,000 models and a year by
default; generating it takes minutes, so it is cached as Parquet in a temp folder, with its
fitted cost model). The replay: a what-if job building every model each hour
(``0 * * * *``, ``resource_type:model``) over the whole span, one scenario. The plain loop
(``saosim.replay.engine.PlainReplay``: ``plan()`` at every run) is timed on the first
``--plain-hours`` of the same replay, and the kernel on that slice too, so the ratio compares
like with like; the kernel also replays the full year.

Prints node decisions per second for both paths, the ratio, the year's wall time split into
compile (arrays), loop and decision-log assembly, and peak memory (``ru_maxrss``).

Run: ``.venv/bin/python benchmarks/simulate.py [--models 10000] [--days 365] [--profile sao]
[--plain-hours 3] [--builds-only] [--cache-dir /tmp/saosim-bench]``
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from saosim.cost.runtime import fit_costs
from saosim.inputs.estate import Estate, load_estate
from saosim.replay.engine import Scenario
from saosim.replay.kernel import fast as kernel
from saosim.replay.plain import PlainReplay
from saosim.replay.timeline import Job, Timeline
from saosim.synth.estate import synthetic_estate


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def cached_estate(models: int, days: int, seed: int, cache_dir: Path) -> tuple[Estate, object]:
    """The synthetic estate and its fitted costs, generated once and kept in ``cache_dir``."""
    folder = cache_dir / f"estate_{models}x{days}_seed{seed}"
    costs_file = folder / "costs.pickle"
    if (folder / "nodes.parquet").exists() or any(folder.glob("*.parquet")):
        estate = load_estate(folder)
    else:
        t = time.perf_counter()
        estate = synthetic_estate(n_models=models, days=days, seed=seed)
        estate.save(folder)
        print(f"generated the estate in {time.perf_counter() - t:.0f} s → {folder}")
    if costs_file.exists():
        costs = pickle.loads(costs_file.read_bytes())
    else:
        t = time.perf_counter()
        costs = fit_costs(estate)
        costs_file.write_bytes(pickle.dumps(costs))
        print(f"fitted the cost model in {time.perf_counter() - t:.0f} s")
    return estate, costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default="sao")
    ap.add_argument("--plain-hours", type=int, default=3)
    ap.add_argument("--builds-only", action="store_true")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "saosim-bench")
    args = ap.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)

    estate, costs = cached_estate(args.models, args.days, args.seed, args.cache_dir)
    jobs = (Job("hourly", "0 * * * *", "resource_type:model"),)
    scenario = Scenario(args.profile, args.profile, jobs=jobs)
    start = estate.time_span[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    year = Timeline.from_estate(estate, jobs=jobs, start=start, end=start + timedelta(args.days))
    piece = Timeline.from_estate(
        estate, jobs=jobs, start=start, end=start + timedelta(hours=args.plain_hours)
    )

    # the plain engine indexes every node run of the history as a Python object (a year of
    # this estate would not fit in memory): both engines replay the slice from an estate
    # whose history stops two days after the slice's start
    cut = start + timedelta(days=2)
    runs = estate.runs.filter(pl.col("started_at") < cut)
    small = dataclasses.replace(
        estate, runs=runs, node_runs=estate.node_runs.join(runs, on="run_id", how="semi")
    )
    # warm the compiled loop (numba caches it on disk; the first call of a fresh checkout
    # compiles for ~40 s)
    kernel.replay_fast(small, scenario, timeline=piece, costs=costs)

    t = time.perf_counter()
    plain = PlainReplay(small, scenario, piece, costs).run(False)
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    fast_piece = kernel.replay_fast(small, scenario, timeline=piece, costs=costs)
    fast_piece_s = time.perf_counter() - t - kernel.LAST.compile_s
    assert fast_piece.height == plain.height
    plain_rows = plain.height
    del plain, fast_piece, small

    rss_before = _maxrss_gb()
    t = time.perf_counter()
    log = kernel.replay_fast(
        estate, scenario, timeline=year, costs=costs, builds_only=args.builds_only
    )
    total_s = time.perf_counter() - t
    timing = kernel.LAST
    decisions = sum(len(r.selected & set(estate.project.order)) for r in year.runs[:1]) * len(
        year.runs
    )
    fast_rate = decisions / (timing.loop_s + timing.log_s)
    plain_rate = plain_rows / plain_s
    rows = [
        ("estate", f"{args.models:,} models, {len(estate.project.nodes):,} nodes"),
        ("replay", f"{len(year.runs):,} hourly runs, {decisions:,} node decisions"),
        ("plain loop (first hours)", f"{plain_rows:,} decisions in {plain_s:.2f} s"),
        ("plain decisions/s", f"{plain_rate:,.0f}"),
        ("kernel, same hours", f"{plain_rows:,} decisions in {fast_piece_s:.3f} s"),
        ("kernel year: compile", f"{timing.compile_s:.2f} s"),
        ("kernel year: loop", f"{timing.loop_s:.2f} s"),
        ("kernel year: decision log", f"{timing.log_s:.2f} s ({timing.rows:,} rows)"),
        ("kernel year: loop + log", f"{timing.loop_s + timing.log_s:.2f} s"),
        ("kernel year: wall (all)", f"{total_s:.2f} s"),
        ("kernel decisions/s (loop+log)", f"{fast_rate:,.0f}"),
        ("ratio kernel/plain (year)", f"{fast_rate / plain_rate:,.0f}x"),
        ("ratio kernel/plain (same hours)", f"{plain_s / max(fast_piece_s, 1e-9):,.0f}x"),
        ("log size", f"{log.estimated_size() / 1e9:.2f} GB"),
        ("peak RSS before / after year", f"{rss_before:.1f} / {_maxrss_gb():.1f} GB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"profile {args.profile}{' (builds-only log)' if args.builds_only else ''}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
