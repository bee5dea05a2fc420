"""Replay an estate's own history, whole CLI and Python API: decisions, time, rate, peak memory.

    .venv/bin/python benchmarks/history.py --estate /tmp/est10k365 [--hourly] [--skip-cli]
    .venv/bin/python benchmarks/history.py --models 10000 --days 90   # generates the estate

Each measurement runs in a fresh child process (its peak RSS is the child's own, from
``resource.getrusage(RUSAGE_CHILDREN)`` of a wrapper), one after another, never side by side:

- **CLI**: ``saosim simulate ESTATE --scenario sao=…`` (baseline + sao, summary printed);
- **API**: ``load_estate`` + ``simulate`` + ``summary()``, with the time of each step and of
  the phases inside them, and each step's CPU-seconds over all threads (user and system) and
  page faults (the cost fit and the compile run side by side, as do the metrics
  and the bill, so those pairs overlap);
- ``--hourly`` adds a what-if scenario, a job building every model hourly (sao rules);
- the **lean loop** (``benchmarks/lean_loop.py``: the sao rule in plain Python over the same
  DAG and runs), measured in the same run, as the yardstick for decisions per second.

Decisions are the log's rows (node and test decisions of every scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_HOURLY = 'profile: sao\njobs:\n  - {name: hourly, cron: "0 * * * *", select: "*"}\n'

_API = r"""
import json, resource, sys, time
import saosim
from saosim.replay import comparison, engine

phases = {}


def timed(owner, name, key):
    # seconds inside each step; the fit and the compile run side by side, as do metrics and bill
    step = getattr(owner, name)

    def run(*args, **kwargs):
        t = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            phases[key] = phases.get(key, 0.0) + time.perf_counter() - t

    setattr(owner, name, run)


timed(engine.Timeline, "from_estate", "timelines")
timed(engine, "history_rows", "history as numbers")
timed(engine, "fit_costs", "cost fit")
timed(engine.kernel, "compile_shared", "compile (beside the fit)")
timed(engine.kernel, "replay_fast", "replays + log")
timed(comparison.Comparison, "staleness", "staleness")
timed(comparison.Comparison, "metrics", "metrics incl. staleness")
timed(comparison.Comparison, "bill", "bill (beside the metrics)")
cpu = {}


def used(step, before):
    # CPU of every thread of the process (user, system) and the pages it faulted in
    now = resource.getrusage(resource.RUSAGE_SELF)
    cpu[step] = [now.ru_utime - before.ru_utime, now.ru_stime - before.ru_stime,
                 now.ru_minflt - before.ru_minflt]
    return now


r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
estate = saosim.load_estate(sys.argv[1])
t1 = time.perf_counter()
r1 = used("load", r0)
scenarios = [saosim.Scenario("sao", "sao")]
if len(sys.argv) > 2:
    scenarios.append(saosim.load_scenario(sys.argv[2], "hourly"))
cmp = saosim.simulate(estate, scenarios)
t2 = time.perf_counter()
r2 = used("simulate", r1)
summary = cmp.summary()
t3 = time.perf_counter()
used("summary", r2)
print(json.dumps({
    "decisions": cmp.log.height, "load_s": t1 - t0, "simulate_s": t2 - t1, "summary_s": t3 - t2,
    "builds": dict(zip(summary["scenario"], summary["node_builds"])),
    "phases": phases, "cpu": cpu,
}))
"""


#: runs a command and prints its peak RSS (kB) last on stderr: a fresh process per measure,
#: because RUSAGE_CHILDREN reports the largest child a process ever waited for
_MEASURE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def _child(args: list[str]) -> tuple[float, float, str]:
    """Run a command to completion: (wall seconds, its peak RSS in GB, stdout)."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t
    if done.returncode:
        sys.exit(f"{' '.join(args[:3])}… failed:\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return wall, peak_kb / 1e6, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", type=Path, help="an estate folder (default: generate one)")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--hourly", action="store_true", help="add an hourly cron what-if")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--lean-runs", type=int, default=2_000, help="runs the lean loop replays")
    args = parser.parse_args()
    python = sys.executable
    saosim_cli = str(Path(python).with_name("saosim"))
    scratch = Path(tempfile.mkdtemp(prefix="saosim-bench-"))
    estate = args.estate
    if estate is None:
        estate = scratch / "estate"
        t = time.perf_counter()
        subprocess.run(
            [saosim_cli, "synth", "--out", str(estate), "--models", str(args.models),
             "--days", str(args.days), "--seed", str(args.seed)],
            check=True, capture_output=True,
        )  # fmt: skip
        print(f"generated {estate}: {time.perf_counter() - t:.0f} s")
    sao = scratch / "sao.yml"
    sao.write_text("profile: sao\n")
    hourly = scratch / "hourly.yml"
    hourly.write_text(_HOURLY)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; estate {estate}")

    wall, _, out = _child([python, str(HERE / "lean_loop.py"), str(estate)])
    lean = float(out.split("decisions, ")[1].split(" M")[0]) * 1e6
    print(f"lean loop (sao rule, pure Python): {lean / 1e6:.2f} M decisions/s")

    rows = []
    extra = [str(hourly)] if args.hourly else []
    wall, peak, out = _child([python, "-c", _API, str(estate), *extra])
    api = json.loads(out.strip().splitlines()[-1])
    rate = api["decisions"] / wall
    rows.append(("API", api["decisions"], wall, rate, peak))
    print(
        f"API steps: load {api['load_s']:.1f} s, simulate {api['simulate_s']:.1f} s, "
        f"summary {api['summary_s']:.1f} s; builds {api['builds']}"
    )
    print("API phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in api["phases"].items()))
    # the profile of where the time goes: CPU-seconds of all threads per step, against the
    # wall time the cores could give it
    steps = ", ".join(
        f"{step} {user + system:.1f} CPU-s ({system:.1f} system, {faults / 1e6:.2f} M page faults)"
        for step, (user, system, faults) in api["cpu"].items()
    )
    total = sum(user + system for user, system, _ in api["cpu"].values())
    busy = total / (api["load_s"] + api["simulate_s"] + api["summary_s"])
    print(f"API CPU: {steps}; {total:.1f} CPU-s in all, {busy:.2f} cores busy on average")
    if not args.skip_cli:
        cmd = [saosim_cli, "simulate", str(estate), "--scenario", f"sao={sao}"]
        if args.hourly:
            cmd += ["--scenario", f"hourly={hourly}"]
        wall, peak, _ = _child(cmd)
        rows.append(("CLI", api["decisions"], wall, api["decisions"] / wall, peak))
    print("| call | decisions | wall s | M decisions/s | × lean loop | peak RSS GB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, wall, rate, peak in rows:
        cells = f"{n:,} | {wall:.1f} | {rate / 1e6:.2f} | {rate / lean:.2f} | {peak:.2f}"
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
