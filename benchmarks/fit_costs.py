"""Time the cost fit (``saosim.cost.runtime.fit_costs``) on a saved estate.

Loads the estate folder (default ``/tmp/est10k90``: 10,000 models over 90 days, from
``benchmarks/simulate.py`` or ``saosim synth``), fits the runtime cost model once to compile
numba's code, then times ``--repeat`` fits and prints the best and the peak memory
(``ru_maxrss``, the whole process: the estate included).

Run: ``.venv/bin/python benchmarks/fit_costs.py [estate_dir] [--repeat 1] [--basis runtime]``
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from saosim.cost.rates import CostModel
from saosim.cost.runtime import fit_costs
from saosim.inputs.estate import load_estate
from saosim.synth.estate import synthetic_estate


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("estate", nargs="?", default="/tmp/est10k90")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--basis", default="runtime", choices=("runtime", "bytes", "history"))
    args = parser.parse_args()
    # compile (or load) numba's code first, so the timing is the fit's own
    fit_costs(synthetic_estate(n_models=60, days=3, seed=1))
    try:
        from saosim.cost.segments import segment_median
    except ImportError:  # a checkout from before the segment medians (to compare with)
        pass
    else:
        segment_median(np.zeros(1, dtype=np.int64), np.zeros(1), 1)
    t = time.perf_counter()
    estate = load_estate(args.estate)
    print(
        f"loaded {args.estate}: {estate.node_runs.height:,} node runs, "
        f"{len(estate.project.order):,} nodes in {time.perf_counter() - t:.1f} s"
    )
    model = CostModel(basis=args.basis)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        fit_costs(estate, model)
        times.append(time.perf_counter() - t)
    print(f"fit_costs ({args.basis}): {min(times):.2f} s (best of {len(times)})")
    print(f"peak RSS: {_maxrss_gb():.2f} GB")


if __name__ == "__main__":
    main()
