"""Replay a synthetic estate's own history (not a cron what-if): wall time and peak memory.

    .venv/bin/python benchmarks/history.py [--models 10000] [--days 90]

Prints the generation time, the replay of baseline + SAO on the history's runs (fast kernel),
the summary (staleness included) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time

import saosim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t = time.perf_counter()
    estate = saosim.synthetic_estate(n_models=args.models, days=args.days, seed=args.seed)
    print(
        f"synthetic estate: {time.perf_counter() - t:.1f} s, {estate.runs.height:,} runs, "
        f"{estate.node_runs.height:,} node runs"
    )
    t = time.perf_counter()
    comparison = saosim.simulate(estate, [saosim.Scenario("sao", "sao")])
    print(
        f"replay baseline + sao: {time.perf_counter() - t:.1f} s, "
        f"{comparison.decisions.height:,} decisions"
    )
    t = time.perf_counter()
    summary = comparison.summary()
    print(f"summary (staleness included): {time.perf_counter() - t:.1f} s")
    print(summary.select("scenario", "node_builds", "reuses", "reuse_pct", "savings_pct"))
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB")


if __name__ == "__main__":
    main()
