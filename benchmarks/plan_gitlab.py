"""Time the live planner on GitLab's real dbt project (2,934 models), and plan + execute on the
example project.

GitLab: the 2024-09-27 ``dbt parse`` manifest of gitlab-data/analytics in
``../shared/real-artifacts/tnmy44__gitlab-analytics``. The state is a previous full build (made
with the planner, saved in a state store); every source has a data version, a tenth of them
newer than that build. Measured: manifest load, fingerprints (cold: empty cache; warm: the
state store's per-checksum cache, with the in-process cache cleared as in a new process), state
load, the decision itself, and ``saosim.live.plan`` end to end (which also records arrivals and
code changes in the store). For comparison, dbt-core 1.9.4 takes 42 s for
``dbt ls -s "state:modified+ source_status:fresher+"`` and 55–61 s to parse this project.

Example project: ``saosim.live.plan(examples/jaffle_duckdb copy).execute()`` for a first full
build and for a run after new orders land (real dbt-core + DuckDB).

    .venv/bin/python benchmarks/plan_gitlab.py [--repeat 3] [--no-example]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from saosim.core.planner import State, plan  # noqa: E402
from saosim.errors import SaosimWarning  # noqa: E402
from saosim.inputs.manifest import read_manifest  # noqa: E402
from saosim.live.fingerprints import live_fingerprints  # noqa: E402
from saosim.live.store import StateStore  # noqa: E402
from saosim.project.fingerprint import fingerprint_code  # noqa: E402

MANIFEST = (
    REPO.parent
    / "shared"
    / "real-artifacts"
    / "tnmy44__gitlab-analytics"
    / "transform__snowflake-dbt__target__manifest@2024-09-27_eb2a5783.json.gz"
)
T0 = datetime(2024, 9, 27, 12, tzinfo=UTC)


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def gitlab(repeat: int) -> None:
    import saosim.live as live

    warnings.simplefilter("ignore", SaosimWarning)
    if not MANIFEST.is_file():
        print(f"skipped: {MANIFEST} not found")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "dbt_project.yml").write_text("name: gitlab\nprofile: none\n")
        store = StateStore.for_project(folder)
        project, load_s = _timed(lambda: read_manifest(MANIFEST))
        counts = project.counts()
        print(f"GitLab 2024-09-27: {counts.get('model', 0):,} models, {len(project.nodes):,} nodes")
        (fp_project, parsed), cold_s = _timed(lambda: live_fingerprints(project, store))
        # setup, not timed: a previous full build, saved as the store's state
        sources = project.sources
        before = {s: T0 - timedelta(days=1) for s in sources}
        full = plan(fp_project, State.empty(), at=T0 - timedelta(hours=12), source_versions=before)
        store.save_state(full.apply(finished_at=T0 - timedelta(hours=11)))
        now = {
            s: (T0 - timedelta(hours=1) if i % 10 == 0 else v)
            for i, (s, v) in enumerate(before.items())
        }
        print(f"  manifest load         {load_s:6.2f} s")
        print(f"  fingerprints, cold    {cold_s:6.2f} s  ({parsed:,} parsed)")
        for i in range(repeat):
            fingerprint_code.cache_clear()  # as in a new process: only the store's cache
            (fp2, parsed), warm_s = _timed(lambda: live_fingerprints(project, store))
            state, state_s = _timed(store.load_state)
            decided, plan_s = _timed(
                lambda: plan(fp2, state, at=T0, source_versions=now)  # noqa: B023
            )
            total = load_s + warm_s + state_s + plan_s
            print(
                f"  run {i + 1}: fingerprints warm {warm_s:5.2f} s ({parsed} parsed), "
                f"state load {state_s:5.2f} s, decide {plan_s:5.2f} s "
                f"→ plan {total:5.2f} s incl. manifest load "
                f"({len(decided.built):,} build / {len(decided.reused):,} reuse)"
            )
        fingerprint_code.cache_clear()
        made, live_s = _timed(
            lambda: live.plan(folder, manifest=MANIFEST, at=T0, source_versions=now)
        )
        t = made.live.timings_s
        print(
            f"  saosim.live.plan end to end (warm cache): {live_s:5.2f} s — manifest "
            f"{t['parse_s']:.2f}, fingerprints {t['fingerprint_s']:.2f}, store writes "
            f"{t['metadata_s']:.2f}, state + decide {t['plan_s']:.2f}"
        )


def example() -> None:
    import saosim.live as live

    source = REPO / "examples" / "jaffle_duckdb"
    skip = shutil.ignore_patterns("target", "logs", ".saosim", "*.duckdb", "*.duckdb.wal")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "jaffle_duckdb"
        shutil.copytree(source, folder, ignore=skip)
        land = [sys.executable, str(folder / "land.py")]
        subprocess.run([*land, "--init"], check=True, capture_output=True)
        made, first_plan_s = _timed(lambda: live.plan(folder))
        done, first_exec_s = _timed(made.execute)
        print(
            f"jaffle_duckdb, first run (dbt import + parse included in plan): plan "
            f"{first_plan_s:.1f} s, execute {first_exec_s:.1f} s → {done.counts()}"
        )
        subprocess.run([*land, "shop.orders", "--rows", "5"], check=True, capture_output=True)
        made, plan_s = _timed(lambda: live.plan(folder, at=datetime.now(UTC) + timedelta(hours=2)))
        done, exec_s = _timed(made.execute)
        print(
            f"jaffle_duckdb, after 5 orders land (2 h later): plan {plan_s:.1f} s, execute "
            f"{exec_s:.1f} s → {done.counts()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-example", action="store_true")
    args = parser.parse_args()
    gitlab(args.repeat)
    if not args.no_example:
        example()


if __name__ == "__main__":
    main()
