"""How much SAO saves on a synthetic estate depends on how the estate is made: a sensitivity table.

Rows: how over-scheduled the jobs are (a lean daily build; daily + hourly + 6-hourly; the
default, which adds a second full build at 13:00 on working days). Columns: how often sources
land (mostly daily; the default mix; mostly hourly or every few hours). Each cell replays the
baseline, SAO on and the demo's tuned tiers, and prints savings % of SAO and of the tuned
tiers, and the SLA breach (share of model-time over SLA) the tuned tiers add to the baseline's.

    .venv/bin/python benchmarks/sensitivity.py [--models 500 --days 30]

Results on a synthetic estate are illustrative: they show how the answer moves with the
estate's shape, not what SAO saves on a real project.
"""

from __future__ import annotations

import argparse

from saosim.project.tiers import Tiers
from saosim.replay.engine import Scenario, simulate
from saosim.synth.estate import SynthJob, default_jobs, synthetic_estate, synthetic_project
from saosim.tune.demo import TUNED_TIERS

MIXES = {
    "mostly daily": (0.05, 0.10, 0.70, 0.10, 0.05),
    "default mix": None,
    "mostly hourly": (0.45, 0.30, 0.15, 0.00, 0.10),
}


def _jobs(n_models: int) -> dict[str, list[SynthJob] | None]:
    full = list(default_jobs(synthetic_project(n_models, seed=0)))
    return {
        "lean: daily": [j for j in full if j.job_id == "daily_full"],
        "daily + hourly + 6-hourly": [j for j in full if j.job_id != "midday_full"],
        "+ midday full build (default)": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()
    scenarios = [
        Scenario("sao", "sao"),
        Scenario("tuned", "sao", tiers=Tiers.from_dict(TUNED_TIERS)),
    ]
    print("| jobs \\ arrivals | " + " | ".join(MIXES) + " |")
    print("|---|" + "---:|" * len(MIXES))
    for label, jobs in _jobs(args.models).items():
        cells = []
        for mix in MIXES.values():
            estate = synthetic_estate(args.models, args.days, 0, jobs=jobs, arrival_mix=mix)
            rows = {
                r["scenario"]: r
                for r in simulate(estate, scenarios).summary().iter_rows(named=True)
            }
            added = rows["tuned"]["sla_breach_pct"] - rows["baseline"]["sla_breach_pct"]
            cells.append(
                f"{rows['sao']['savings_pct']:.0f}% / {rows['tuned']['savings_pct']:.0f}% "
                f"({added:+.1f} pp)"
            )
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
