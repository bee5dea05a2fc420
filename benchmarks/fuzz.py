"""The long fuzz run: ``benchmarks/fuzz.py --n 10000`` mutates the readers' inputs and checks
that every case either reads or raises a ``SaosimError`` naming its file — no traceback, no
hang, no silent acceptance of damage that must be refused — and, with ``--memory``, that no
read takes more than ``max(2 × its input's size, FLOOR)``, a gzip file counted compressed (the
measure, the size and the floor are defined in ``tests/fuzz/memory.py``; the script re-runs
itself in the environment that makes the measure honest).

    .venv/bin/python benchmarks/fuzz.py --n 10000 [--memory] [--seed 0] [--timeout 30] [--no-real]

Cases are spread over every seed input (the fixtures, the example settings and the real
artifacts in ../shared/real-artifacts when present). Exit code 1 when any case breaks the
property (or, with ``--memory``, exceeds the bound); each such case is printed with its seed
input, mutation and what happened.
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

from tests.fuzz.measured import warm
from tests.fuzz.memory import FLOOR, bound, ensure_measured, input_sizes, measurable
from tests.fuzz.mutate import Outcome, corpus, make_case, run_case

_BAD = ("traceback", "unnamed", "silent", "hang")


class Memory:
    """What ``--memory`` reports: worst ratios, cases over the bound, what the floor covers."""

    def __init__(self) -> None:
        self.max_peak = (0, "")
        self.worst = (0.0, "")  # peak / input size, inputs of at least FLOOR / 2 (bound = 2×)
        # gzip: the largest peak, and the cases whose text alone is over the bound (those the
        # streamed decode must win back)
        self.gzip_peak = (0, "")
        self.gzip_text_over = 0
        self.gzip = 0
        self.small = (0, "")  # largest peak on an input under 64 KB: what FLOOR must cover
        self.over_2x = 0  # peak > 2 × size, the floor aside
        self.over: list[tuple[Outcome, str]] = []  # peak > bound(size)

    def add(self, outcome: Outcome) -> None:
        case, peak = outcome.case, outcome.peak_bytes
        size, text = input_sizes(case.path)
        name = f"{case.seed.path.name}: {case.mutation} ({size:,} B)"
        self.max_peak = max(self.max_peak, (peak, name))
        if size >= FLOOR // 2:
            self.worst = max(self.worst, (peak / max(size, 1), name))
        if text != size:
            self.gzip += 1
            self.gzip_text_over += text > bound(size)
            self.gzip_peak = max(self.gzip_peak, (peak, f"{name:.80}; text {text:,} B"))
        if size < 64 << 10:
            self.small = max(self.small, (peak, name))
        self.over_2x += peak > 2 * size
        if peak > bound(size):
            self.over.append((outcome, f"{peak / 2**20:.1f} MB for {size:,} B ({name:.100})"))

    def print(self) -> None:
        mb = 2**20
        print(f"  memory: bound max(2 × input, {FLOOR / mb:.0f} MB) exceeded by {len(self.over)}")
        print("    (input: bytes on disk, a gzip file compressed)")
        print(f"    worst peak / input (inputs ≥ {FLOOR // 2**11:,} KB) {self.worst[0]:.2f}×")
        print(f"      ({self.worst[1]:.120})")
        print(f"    cases over 2× their input, the floor aside: {self.over_2x:,}")
        print(f"    largest peak {self.max_peak[0] / mb:.1f} MB ({self.max_peak[1]:.100})")
        print(f"    largest peak on an input < 64 KB {self.small[0] / mb:.1f} MB")
        print(f"      ({self.small[1]:.100})")
        print(
            f"    gzip cases {self.gzip:,}, {self.gzip_text_over:,} of them with a text over "
            f"the bound; largest peak {self.gzip_peak[0] / mb:.2f} MB"
        )
        print(f"      ({self.gzip_peak[1]:.140})")
        for outcome, detail in self.over[:20]:
            print(f"\n[memory] {outcome.case.seed.kind} {detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of cases")
    parser.add_argument("--seed", type=int, default=0)
    # a slice of a long run: processes with --first 0, 2500, 5000, 7500 and --n 2500 run the
    # same cases as one --n 10000, on as many cores
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a hang")
    parser.add_argument("--no-real", action="store_true", help="fixtures only")
    parser.add_argument("--memory", action="store_true", help="measure each read's memory")
    args = parser.parse_args()
    if args.memory:
        ensure_measured(sys.argv)
        if not measurable():
            parser.error("--memory needs Linux's /proc/self/clear_refs (see tests/fuzz/memory.py)")

    seeds = corpus(real=not args.no_real)
    results: Counter[str] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    bad = []
    memory = Memory()
    slowest = (0.0, "")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="saosim-fuzz-") as scratch:
        if args.memory:
            warm(seeds, Path(scratch))
        for i in range(args.first, args.first + args.n):
            seed = seeds[i % len(seeds)]
            folder = Path(scratch) / str(i)
            case = make_case(seed, args.seed * 1_000_003 + i, folder)
            outcome = run_case(case, timeout_s=args.timeout, measure_memory=args.memory)
            results[outcome.result] += 1
            by_kind[(seed.kind, outcome.result)] += 1
            if outcome.seconds > slowest[0]:
                slowest = (outcome.seconds, f"{seed.path.name}: {case.mutation}")
            if args.memory:
                memory.add(outcome)
            if outcome.result in _BAD:
                bad.append(outcome)
            for file in sorted(folder.rglob("*"), reverse=True):
                file.unlink() if file.is_file() else file.rmdir()
            folder.rmdir()
            if (i + 1 - args.first) % 500 == 0:
                print(f"  {i + 1:,} cases, {time.perf_counter() - began:,.0f} s", flush=True)
    elapsed = time.perf_counter() - began
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cases = f"cases {args.first:,}–{args.first + args.n - 1:,}" if args.first else "cases"
    print(f"\n{args.n:,} {cases} over {len(seeds)} seed inputs in {elapsed:,.0f} s")
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
        memory.print()
    for outcome in bad[:40]:
        case = outcome.case
        print(f"\n[{outcome.result}] {case.seed.kind} {case.seed.path.name}: {case.mutation}")
        print(f"    {outcome.detail}")
    return 1 if bad or memory.over else 0


if __name__ == "__main__":
    raise SystemExit(main())
