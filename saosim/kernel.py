"""The fast replay: the same decisions as the plain planner loop, from one compiled pass.

``replay_fast`` compiles a scenario's replay into flat arrays (:mod:`saosim.kernel_compile`),
runs every run of the timeline through one numba loop (:mod:`saosim.kernel_loop`) and builds
the decision log column-wise (:mod:`saosim.kernel_log`). It returns the frame
``saosim.simulate._PlainReplay(...).run()`` returns — same rows, same order, same actions,
reasons and statuses, same times and dollars — which ``tests/property/test_kernel_equals_plain.py``
checks decision for decision on generated estates, for every profile.

Identifier columns are ``Categorical`` and action/reason/status ``Enum`` (cast to ``String``
to compare with a plain log).

>>> from saosim.synth import synthetic_estate
>>> from saosim.simulate import Scenario
>>> from saosim.timeline import Timeline
>>> from saosim.cost import fit_costs
>>> est = synthetic_estate(n_models=30, days=1, seed=2)
>>> log = replay_fast(est, Scenario("sao", "sao"), timeline=Timeline.from_estate(est),
...                   costs=fit_costs(est))
>>> sorted(set(log["action"].cast(str)))
['build', 'reuse', 'run']
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from saosim.kernel_compile import KernelInputs, compile_replay
from saosim.kernel_log import assemble_log

if TYPE_CHECKING:
    from saosim.cost import BuildCosts
    from saosim.estate import Estate
    from saosim.simulate import Scenario
    from saosim.timeline import Timeline

__all__ = ["KernelTimings", "replay_fast", "supports"]


def supports(scenario: Scenario, timeline: Timeline) -> bool:
    """Whether the kernel replays this scenario (every profile and option today).

    >>> from saosim.simulate import Scenario
    >>> supports(Scenario("x", "dbt_state"), None)
    True
    """
    return True


@dataclass
class KernelTimings:
    """Seconds spent in each step of the last :func:`replay_fast` call (for benchmarks)."""

    compile_s: float = 0.0
    loop_s: float = 0.0
    log_s: float = 0.0
    rows: int = 0


#: Timings of the most recent replay in this process.
LAST = KernelTimings()


def _run(k: KernelInputs, builds_only: bool, progress: np.ndarray) -> tuple[np.ndarray, ...]:
    from saosim.kernel_loop import run_loop

    cap = 0 if builds_only else k.n_rows
    if builds_only:
        cap = max(1024, k.n_rows // 4)
    return run_loop(
        k.flags,
        k.window_s,
        k.tol_s,
        k.eptr,
        k.eidx,
        k.dptr,
        k.didx,
        k.d2e,
        k.decided,
        k.rptr,
        k.ridx,
        k.cptr,
        k.ctimes,
        k.aptr,
        k.atimes,
        k.fptr,
        k.ftimes,
        k.sources,
        k.run_at,
        k.run_full_refresh,
        k.run_sel_start,
        k.run_sel_end,
        k.sel_node,
        k.sel_failing,
        k.sel_test_status,
        k.sel_known,
        k.sel_rt,
        k.sel_gap,
        k.sel_bytes,
        k.sel_cost,
        k.rt_a,
        k.rt_b,
        k.rt_typ,
        k.use_a,
        k.use_b,
        k.use_typ,
        k.fix_rt,
        k.fix_cost,
        k.fix_us,
        k.iparams,
        k.fparams,
        builds_only,
        cap,
        progress,
    )


def _run_with_bar(k: KernelInputs, builds_only: bool, label: str) -> tuple[np.ndarray, ...]:
    """Run the loop in a thread (it releases the GIL) while a rich bar follows its progress."""
    from saosim.simulate import _Progress

    progress = np.zeros(1, dtype=np.int64)
    result: list[tuple[np.ndarray, ...]] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(_run(k, builds_only, progress))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    bar = _Progress(len(k.run_at), label)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    done = 0
    while thread.is_alive():
        thread.join(0.1)
        now = int(progress[0])
        bar.update(now - done)
        done = now
    bar.close()
    if error:
        raise error[0]
    return result[0]


def replay_fast(
    estate: Estate,
    scenario: Scenario,
    *,
    timeline: Timeline,
    costs: BuildCosts,
    builds_only: bool = False,
    progress: bool = False,
) -> pl.DataFrame:
    """The decision log of one scenario, as the plain replay makes it, from the kernel.

    Args:
        estate, scenario, timeline, costs: as :func:`saosim.simulate.replay`.
        builds_only: keep only build and test-run rows (a much smaller log for long replays;
            reuses, skips and no-ops cost nothing and are left out).
        progress: show a progress bar over the runs.
    """
    t0 = time.perf_counter()
    k = compile_replay(estate, scenario, timeline, costs)
    t1 = time.perf_counter()
    if progress:
        codes = _run_with_bar(k, builds_only, scenario.name)
    else:
        codes = _run(k, builds_only, np.zeros(1, dtype=np.int64))
    t2 = time.perf_counter()
    log = assemble_log(k, scenario.name, codes)
    t3 = time.perf_counter()
    LAST.compile_s, LAST.loop_s, LAST.log_s, LAST.rows = t1 - t0, t2 - t1, t3 - t2, log.height
    return log
