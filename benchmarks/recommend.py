"""Recommender throughput: candidates scored per second, local processes vs Ray, measured together.

For each estate — the bundled example (1,500 models, 90 days) and, unless ``--skip-large``, a
synthetic estate of ``--models`` models over ``--days`` days (10,000 models and a year by
default, cached like ``benchmarks/simulate.py``) — the estate is compiled once
(:class:`saosim.tune.recommend_score.CompiledEstate`, the history's jobs), then the same
``--candidates`` candidates (one window for every model, from the search grid) are scored by a
pool of ``--workers`` local processes and by ``--workers`` Ray actors on a local Ray started
here. Start-up (shipping the compiled estate to the workers) is timed apart from scoring.
Then ``saosim.recommend`` runs end to end on the bundled example (``--budget`` candidates, the
default schedules), which the issue asks to finish within 60 s.

Run: ``.venv/bin/python -m benchmarks.recommend [--workers 2] [--candidates 8] [--budget 40]
[--skip-large | --only-large] [--models 10000] [--days 365]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from saosim.inputs.estate import Estate, load_estate
from saosim.project.tiers import Tiers
from saosim.replay.cadence import job_cadences, lint_cadence
from saosim.tune.demo import bundled_example, tuned_scenario
from saosim.tune.recommend import recommend
from saosim.tune.recommend_exec import ProcessExecutor, RayExecutor
from saosim.tune.recommend_score import HISTORY, Candidate, CompiledEstate

SLAS = {"default": "26h", "tag:hourly": "2h"}
WINDOWS_H = (0, 1, 6, 12, 20, 23, 24, 48)


def _throughput(name: str, ce: CompiledEstate, executor, n: int) -> dict[str, float]:
    cands = [Candidate.uniform(ce, WINDOWS_H[i % len(WINDOWS_H)] * 3600) for i in range(n)]
    t0 = time.perf_counter()
    executor.start(ce)
    executor.score(cands[:1])  # start-up includes each worker's first (JIT-warming) score
    executor.score(cands[1 : executor.workers])
    t1 = time.perf_counter()
    executor.score(cands)
    t2 = time.perf_counter()
    executor.close()
    return {"startup_s": t1 - t0, "score_s": t2 - t1, "per_s": n / (t2 - t1)}


def _bench(label: str, estate: Estate, args: argparse.Namespace) -> list[str]:
    t = time.perf_counter()
    ce = CompiledEstate.build(estate, SLAS, schedules=[HISTORY])
    compile_s = time.perf_counter() - t
    rows = []
    local = _throughput("processes", ce, ProcessExecutor(args.workers), args.candidates)
    ray = _throughput("ray", ce, RayExecutor("local", args.workers), args.candidates)
    for name, r in (("processes", local), ("ray", ray)):
        rows.append(
            f"| {label} | {name} ({args.workers}) | {compile_s:.1f} | {r['startup_s']:.1f} "
            f"| {r['per_s']:.2f} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--only-large", action="store_true", help="skip the bundled example")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "saosim-bench")
    args = ap.parse_args()
    rows = [
        "| estate | executor | compile s | start-up s | candidates/s |",
        "|---|---|---|---|---|",
    ]
    example = load_estate(bundled_example())
    if not args.only_large:
        rows += _bench("bundled example (1,500 × 90 d)", example, args)
    if not args.skip_large:
        from benchmarks.simulate import cached_estate

        args.cache_dir.mkdir(parents=True, exist_ok=True)
        big, _ = cached_estate(args.models, args.days, 0, args.cache_dir)
        rows += _bench(f"synthetic ({args.models:,} × {args.days} d)", big, args)
    print("\n".join(rows))
    if args.only_large:
        return
    t = time.perf_counter()
    tuned = {"tuned": tuned_scenario(example.project)}
    rec = recommend(
        example, SLAS, budget=args.budget, executor=f"processes:{args.workers}", scenarios=tuned
    )
    total = time.perf_counter() - t
    print(
        f"\nrecommend on the bundled example, budget {args.budget}: {total:.1f} s "
        f"({rec.candidates_scored} candidates; baseline ${rec.baseline.price_usd:,.0f} / "
        f"{rec.baseline.sla_breach_pct:.2f}%, recommended ${rec.recommended.price_usd:,.0f} / "
        f"{rec.recommended.sla_breach_pct:.2f}%)\n{rec.reason}"
    )
    _checks(example, rec)


def _checks(example: Estate, rec) -> None:
    """The issue's checks on the bundled example: cheaper than the hand-tuned scenario, no
    worse than the baseline, nothing the cadence lint flags; and the frontier points that
    dominate the hand-tuned scenario."""
    tuned = next(p for p in rec.scenarios if p.label == "tuned")
    flagged = []
    if rec.tiers is not None:
        cfg = Tiers.from_dict(dict(rec.tiers)).resolve(example.project)
        flagged = lint_cadence(example.project, cfg, job_cadences(example, rec.schedule.jobs))
    print(
        f"tuned ${tuned.price_usd:,.0f} / {tuned.sla_breach_pct:.2f}%; recommended cheaper than "
        f"tuned: {rec.recommended.price_usd < tuned.price_usd}; breach no worse than the "
        f"baseline: {rec.recommended.sla_breach_pct <= rec.baseline.sla_breach_pct + 1e-9}; "
        f"cadence warnings: {len(flagged)}"
    )
    for p in rec.frontier:
        better = p.price_usd <= tuned.price_usd and p.sla_breach_pct <= tuned.sla_breach_pct
        print(f"  frontier: {p.label}: ${p.price_usd:,.0f} / {p.sla_breach_pct:.2f}%"
              + ("  (dominates tuned)" if better else ""))  # fmt: skip


if __name__ == "__main__":
    main()
