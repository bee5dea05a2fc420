"""The long fuzz run: ``benchmarks/fuzz.py --n 10000`` mutates the readers' inputs and checks
that every case either reads or raises a ``SaosimError`` naming its file — no traceback, no
hang, no silent acceptance of damage that must be refused — and reports peak memory.

    .venv/bin/python benchmarks/fuzz.py --n 10000 [--seed 0] [--timeout 30] [--no-real]

Cases are spread over every seed input (the fixtures, the example settings and the real
artifacts in ../shared/real-artifacts when present). Exit code 1 when any case breaks the
property; each such case is printed with its seed input, mutation and what happened.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.mutate import corpus, input_bytes, make_case, run_case

_BAD = ("traceback", "unnamed", "silent", "hang")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a hang")
    parser.add_argument("--no-real", action="store_true", help="fixtures only")
    parser.add_argument("--memory", action="store_true", help="trace Python memory per case")
    args = parser.parse_args()

    seeds = corpus(real=not args.no_real)
    results: Counter[str] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    bad = []
    worst_ratio, worst_case = 0.0, ""
    max_peak = 0
    slowest = (0.0, "")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="saosim-fuzz-") as scratch:
        for i in range(args.n):
            seed = seeds[i % len(seeds)]
            folder = Path(scratch) / str(i)
            case = make_case(seed, args.seed * 1_000_003 + i, folder)
            outcome = run_case(case, timeout_s=args.timeout, trace_memory=args.memory)
            results[outcome.result] += 1
            by_kind[(seed.kind, outcome.result)] += 1
            if outcome.seconds > slowest[0]:
                slowest = (outcome.seconds, f"{seed.path.name}: {case.mutation}")
            if args.memory:
                size = input_bytes(case.path)
                max_peak = max(max_peak, outcome.peak_bytes)
                # Python objects of a parsed JSON are several times its text; the bound that
                # matters is against damage, so the ratio is to the larger of the input's size
                # and 1 MB (the reader's own working set on a tiny file).
                ratio = outcome.peak_bytes / max(size, 1 << 20)
                if ratio > worst_ratio:
                    worst_ratio, worst_case = ratio, f"{seed.path.name}: {case.mutation}"
            if outcome.result in _BAD:
                bad.append(outcome)
            for file in sorted(folder.rglob("*"), reverse=True):
                file.unlink() if file.is_file() else file.rmdir()
            folder.rmdir()
            if (i + 1) % 500 == 0:
                print(f"  {i + 1:,} cases, {time.perf_counter() - began:,.0f} s", flush=True)
    elapsed = time.perf_counter() - began
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.n:,} cases over {len(seeds)} seed inputs in {elapsed:,.0f} s")
    for result in ("read", "refused", *_BAD):
        print(f"  {result:10} {results[result]:6,}")
    kinds = sorted({k for k, _ in by_kind})
    print(
        "  per reader: "
        + "; ".join(f"{k} {by_kind[(k, 'read')]}/{by_kind[(k, 'refused')]}" for k in kinds)
        + " (read/refused)"
    )
    print(f"  slowest case {slowest[0]:.2f} s ({slowest[1]:.100})")
    print(f"  peak RSS of the whole run {rss_mb:,.0f} MB")
    if args.memory:
        print(
            f"  largest traced peak {max_peak / 2**20:,.1f} MB; worst peak / max(input, 1 MB) "
            f"{worst_ratio:.2f}× ({worst_case:.100})"
        )
    for outcome in bad[:40]:
        case = outcome.case
        print(f"\n[{outcome.result}] {case.seed.kind} {case.seed.path.name}: {case.mutation}")
        print(f"    {outcome.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
