"""The compiled loop that lays out every job run of a synthetic history, node by node.

Inputs are flat arrays (no Python object per node run), so a year of hourly runs over 10,000
models stays in seconds. Runs are visited in start order; inside a run, nodes in execution
order (a model, then its data tests) go to the earliest free of the job's threads once their
upstream in this run has finished — the waves a ``dbt build`` shows.

Status codes (see :data:`STATUS`): a model or seed that errors skips its downstream in that run;
a data test of severity error that fails does too (as ``dbt build`` does); tests of a node that
did not build are skipped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["STATUS", "lay_out_runs"]

#: Status code → ``node_runs.status``.
STATUS = ("success", "error", "skipped", "pass", "fail", "warn")
SUCCESS, ERROR, SKIPPED, PASS, FAIL, WARN = range(6)
#: Kind codes of runnable nodes.
KIND_VIEW, KIND_TABLE, KIND_INCREMENTAL, KIND_TEST = 0, 1, 2, 3


@njit(cache=True)
def lay_out_runs(
    run_start_us,
    run_job,
    run_threads,
    run_row0,
    job_indptr,
    job_nodes,
    p_indptr,
    p_idx,
    kind,
    severity_error,
    median_s,
    fail_p,
    rows_base,
    bytes_per_s,
    noise,
    u_fail,
    overhead_s,
):  # pragma: no cover - compiled; checked through synth_history's tests
    """Statuses and timings of every (run, node) row.

    Runs are given as arrays indexed by run (start µs, job, threads, first output row); a job's
    nodes are ``job_nodes[job_indptr[j]:job_indptr[j + 1]]`` (execution order); a node's upstream
    in a run is ``p_idx[p_indptr[n]:p_indptr[n + 1]]``. Per node: ``kind``, ``severity_error``
    (tests), ``median_s``, ``fail_p``, ``rows_base``, ``bytes_per_s``; per output row: ``noise``
    and ``u_fail`` (drawn beforehand, so the result depends on the seed only); per run:
    ``overhead_s`` before the first node starts.

    Returns:
        ``status`` (codes of :data:`STATUS`), ``start_us``/``end_us`` (-1 when skipped),
        ``exec_s``, ``rows``, ``nbytes`` — one entry per output row.
    """
    n_rows = noise.shape[0]
    n_nodes = kind.shape[0]
    status = np.empty(n_rows, np.uint8)
    start_us = np.full(n_rows, -1, np.int64)
    end_us = np.full(n_rows, -1, np.int64)
    exec_s = np.zeros(n_rows, np.float64)
    rows = np.zeros(n_rows, np.int64)
    nbytes = np.zeros(n_rows, np.int64)
    stamp = np.full(n_nodes, -1, np.int64)
    node_end = np.zeros(n_nodes, np.int64)
    node_status = np.zeros(n_nodes, np.uint8)
    last_ok_us = np.full(n_nodes, -1, np.int64)
    free = np.zeros(64, np.int64)
    order = np.argsort(run_start_us, kind="mergesort")
    for oi in range(order.shape[0]):
        r = order[oi]
        j = run_job[r]
        t0 = run_start_us[r] + np.int64(overhead_s[r] * 1e6)
        n_threads = min(max(run_threads[r], 1), 64)
        for t in range(n_threads):
            free[t] = t0
        row = run_row0[r]
        for k in range(job_indptr[j], job_indptr[j + 1]):
            node = job_nodes[k]
            ready = t0
            blocked = False
            for e in range(p_indptr[node], p_indptr[node + 1]):
                q = p_idx[e]
                if stamp[q] != r:
                    continue
                if node_end[q] > ready:
                    ready = node_end[q]
                s = node_status[q]
                if s == ERROR or s == SKIPPED or s == FAIL:  # noqa: SIM109 (numba)
                    blocked = True
            stamp[node] = r
            if blocked:
                status[row] = SKIPPED
                node_status[node] = SKIPPED
                node_end[node] = ready
                row += 1
                continue
            best = 0
            for t in range(1, n_threads):
                if free[t] < free[best]:
                    best = t
            begin = max(ready, free[best])
            runtime = median_s[node] * noise[row]
            factor = 1.0
            if kind[node] == KIND_INCREMENTAL:
                # The data an incremental model catches up on grows with the time since its
                # last successful build: a fixed part plus a part per hour of new data.
                gap_h = 24.0
                if last_ok_us[node] >= 0:
                    gap_h = max((begin - last_ok_us[node]) / 3.6e9, 1.0 / 60.0)
                factor = min(0.25 + 0.75 * gap_h / 24.0, 40.0)
                runtime *= factor
            failed = u_fail[row] < fail_p[node]
            if failed and kind[node] != KIND_TEST:
                runtime *= 0.05 + 0.9 * (u_fail[row] / fail_p[node])
            runtime = max(runtime, 0.001)
            # Millisecond precision, as warehouse timings are reported.
            dur_us = np.int64(runtime * 1000.0) * 1000 + 1000
            finish = begin + dur_us
            free[best] = finish
            if kind[node] == KIND_TEST:
                if failed:
                    s = FAIL if severity_error[node] else WARN
                    rows[row] = 1 + np.int64(rows_base[node] * u_fail[row])
                else:
                    s = PASS
            elif failed:
                s = ERROR
            else:
                s = SUCCESS
                last_ok_us[node] = finish
                if kind[node] == KIND_TABLE:
                    rows[row] = np.int64(rows_base[node] * noise[row] ** 0.2)
                elif kind[node] == KIND_INCREMENTAL:
                    rows[row] = np.int64(rows_base[node] * factor * noise[row] ** 0.2)
            if kind[node] != KIND_VIEW and kind[node] != KIND_TEST and s != ERROR:
                # Whole MiB, as warehouses bill scans in coarse units.
                nbytes[row] = (np.int64(bytes_per_s[node] * runtime) >> 20) << 20
            status[row] = s
            node_status[node] = s
            node_end[node] = finish
            start_us[row] = begin
            end_us[row] = finish
            exec_s[row] = dur_us / 1e6
            row += 1
    return status, start_us, end_us, exec_s, rows, nbytes
