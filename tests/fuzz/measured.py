"""Fuzz cases with each read's memory measured: ``python -m tests.fuzz.measured --n 128``.

Run it in the environment of :func:`tests.fuzz.memory.measured_env` (else it says it cannot
measure and stops); it reads every seed once unmeasured (:func:`warm`), then writes one JSON
line per case: the seed, the mutation, what happened, the input's size on disk and as read, and the
read's peak. ``tests/fuzz/test_fuzz_memory.py`` runs it and checks the bound; the long run
is ``benchmarks/fuzz.py --memory``. With ``--big FILE`` it measures one unmutated read of a large
real artifact instead (in a process of its own: a second read would reuse the first one's heap).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.fuzz.memory import input_sizes, measurable
from tests.fuzz.mutate import FIXTURES, Case, Outcome, Seed, corpus, make_case, run_case

__all__ = ["big", "cases", "warm"]


def warm(seeds: list[Seed], scratch: Path) -> None:
    """Read every seed once, unmeasured: imports, polars' thread pool, compiled patterns and
    the decode types are paid once per process, as in any long-lived one, not per read."""
    for i, seed in enumerate(seeds):
        case = Case(seed, "warm-up", False, seed.path)
        if seed.kind in ("export", "cloud", "scenario", "tiers"):
            case = make_case(seed, i, scratch / f"warm{i}")
        run_case(case, timeout_s=60)


def cases(n: int, *, seed: int = 0, real: bool = True) -> Iterator[tuple[Outcome, int, int]]:
    """``n`` measured cases spread over every seed input: (outcome, bytes on disk, as read)."""
    seeds = corpus(real=real)
    with tempfile.TemporaryDirectory(prefix="saosim-fuzz-") as scratch:
        warm(seeds, Path(scratch))
        for i in range(n):
            folder = Path(scratch) / str(i)
            case = make_case(seeds[i % len(seeds)], seed * 1_000_003 + i, folder)
            outcome = run_case(case, measure_memory=True)
            on_disk, size = input_sizes(case.path)
            shutil.rmtree(folder)
            yield outcome, on_disk, size


def big(path: Path) -> Outcome:
    """One measured read of ``path``, a real manifest too large for the fuzz corpus, as the
    fuzz cases read a manifest; warmed on the fixture manifest."""
    fixture = FIXTURES / "manifest_v12.json"
    run_case(Case(Seed("manifest", fixture), "warm-up", False, fixture))
    return run_case(Case(Seed("manifest", path), "unmutated", False, path), measure_memory=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--big", type=Path, help="measure one read of this file instead")
    args = parser.parse_args()
    if not measurable():
        print(json.dumps({"unmeasurable": "needs /proc/self/clear_refs and measured_env()"}))
        return 0
    if args.big is not None:
        outcome = big(args.big)
        on_disk, size = input_sizes(args.big)
        line = {"result": outcome.result, "detail": outcome.detail[:200], "on_disk": on_disk}
        print(json.dumps({**line, "size": size, "peak": outcome.peak_bytes}), flush=True)
        return 0
    for outcome, on_disk, size in cases(args.n, seed=args.seed):
        case = outcome.case
        line = {
            "seed": case.seed.path.name,
            "mutation": case.mutation[:120],
            "result": outcome.result,
            "detail": outcome.detail[:200],
            "on_disk": on_disk,
            "size": size,
            "peak": outcome.peak_bytes,
        }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
