"""Time synthetic estates: the bundled size (1,500 models × 90 days) and a big one.

Each case runs in a fresh subprocess (so the peak memory is that case's), after one warm-up that
compiles and caches the numba kernel. Reported: wall time of ``synthetic_estate`` (project,
arrivals, code changes, runs, and the ``Estate`` validation), CPU time, peak RSS, rows.

    .venv/bin/python benchmarks/synth.py                     # 1,500×90 and 10,000×365
    .venv/bin/python benchmarks/synth.py --case 10000x365 --round-the-clock

``--round-the-clock`` makes the hourly job run every hour of every day (the default job runs
07:15–20:15 on working days), which nearly doubles the rows of a long history.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

_CHILD = """
import json, resource, sys, time
from saosim.synth.estate import SynthJob, default_jobs, synthetic_estate, synthetic_project
n, days, clock = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
synthetic_estate(40, 1, 0)  # warm-up: numba kernel from its cache
jobs = None
if clock:
    jobs = [
        SynthJob("hourly", "15 * * * *", j.select, threads=j.threads) if j.job_id == "hourly" else j
        for j in default_jobs(synthetic_project(n, seed=0))
    ]
wall, cpu = time.perf_counter(), time.process_time()
est = synthetic_estate(n, days, 0, jobs=jobs)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({
    "models": n, "days": days, "round_the_clock": clock, "wall_s": round(wall, 2),
    "cpu_s": round(cpu, 2),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "runs": est.runs.height, "node_runs": est.node_runs.height,
    "arrivals": est.source_arrivals.height,
}))
"""


def run_case(models: int, days: float, round_the_clock: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(models), str(days), "1" if round_the_clock else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", action="append", help="MODELSxDAYS, e.g. 10000x365")
    parser.add_argument("--round-the-clock", action="store_true")
    args = parser.parse_args()
    cases = args.case or ["1500x90", "10000x365"]
    began = time.perf_counter()
    for case in cases:
        models, days = case.lower().split("x")
        print(json.dumps(run_case(int(models), float(days), args.round_the_clock)), flush=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"# total {time.perf_counter() - began:.1f} s, children CPU {used.ru_utime:.1f} s")


if __name__ == "__main__":
    main()
