"""Time the fast replay's compiled run loop alone: no decision log, no page faults.

``benchmarks/simulate.py`` times what a user waits for (loop and log, on fresh memory); this
times only the compiled loop (``saosim.replay.kernel.loop.run_loop``) on output buffers that
are already faulted in, best of ``--repeat`` calls, so two versions of the loop can be compared
in one sitting (run it from two checkouts, alternating). The replay is the one of
``benchmarks/simulate.py``: a job building every model each hour over the estate's first
``--days`` days.

``--perf-map`` writes ``/tmp/perf-<pid>.map`` (the run loop's, the run pass's and the
transition's machine code, from numba's object code) so ``perf record`` / ``perf report``
name those functions; numba keeps object code only for what it compiles in this process, so
run it with an empty cache, e.g. ``NUMBA_CACHE_DIR=$(mktemp -d) perf record -F 1999
.venv/bin/python benchmarks/kernel_loop.py --perf-map``.

Run: ``.venv/bin/python benchmarks/kernel_loop.py [--profile sao] [--days 60] [--repeat 2]
[--models 10000] [--cache-dir /tmp/saosim-bench]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from simulate import cached_estate

from saosim.core.run_pass import decide_run
from saosim.core.transition import snapshots
from saosim.replay.engine import Scenario
from saosim.replay.kernel import fast
from saosim.replay.kernel.compile import compile_replay
from saosim.replay.kernel.loop import run_loop
from saosim.replay.timeline import Job, Timeline


def write_perf_map(folder: Path) -> Path:
    """``/tmp/perf-<pid>.map`` for the compiled loop's functions (see the module docstring)."""
    lines = []
    for dispatcher in (run_loop, decide_run, snapshots):
        for compiled in dispatcher.overloads.values():
            library = compiled.library
            obj = folder / f"{dispatcher.__name__}.o"
            obj.write_bytes(library._get_compiled_object())
            listing = subprocess.run(
                ["nm", "-S", "--defined-only", str(obj)], capture_output=True, text=True
            ).stdout
            symbols = {}
            for row in listing.splitlines():
                parts = row.split()
                if len(parts) == 4 and parts[2] in "tT":
                    symbols[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
            entry = compiled.fndesc.llvm_func_name
            base = library.get_pointer_to_function(entry) - symbols[entry][0]
            for name, (offset, size) in symbols.items():
                label = dispatcher.__name__ if dispatcher.__name__ in name else name[:60]
                lines.append(f"{base + offset:x} {size:x} {label}")
    path = Path(f"/tmp/perf-{os.getpid()}.map")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--profile", default="sao")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--perf-map", action="store_true")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "saosim-bench")
    args = ap.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)

    estate, costs = cached_estate(args.models, 365, 0, args.cache_dir)
    jobs = (Job("hourly", "0 * * * *", "resource_type:model"),)
    scenario = Scenario(args.profile, args.profile, jobs=jobs)
    start = estate.time_span[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = start + timedelta(args.days)
    timeline = Timeline.from_estate(estate, jobs=jobs, start=start, end=end)
    k = compile_replay(estate, scenario, timeline, costs)
    # zeros, not np.empty: every page is faulted in before the clock starts
    out = tuple(np.zeros(k.n_rows, dtype=dtype) for dtype in fast._OUT_DTYPES)

    def loop() -> float:
        progress = np.zeros(3, dtype=np.int64)
        t = time.perf_counter()
        fast._run(k, False, progress, out)
        return time.perf_counter() - t

    loop()  # compiles, or loads numba's cache
    if args.perf_map:
        print(f"perf map: {write_perf_map(Path(tempfile.mkdtemp()))}")
    best = min(loop() for _ in range(args.repeat))
    print(
        f"profile {args.profile}: {k.n_rows:,} node decisions over {args.days} days, "
        f"loop {best:.2f} s (best of {args.repeat}), {best / k.n_rows * 1e9:.0f} ns per "
        f"decision; a year at this rate: {best * 365 / args.days:.1f} s"
    )


if __name__ == "__main__":
    main()
