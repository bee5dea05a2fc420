"""The fast replay: the same decisions as the plain planner loop, from one compiled pass.

``replay_fast`` compiles a scenario's replay into flat arrays (:mod:`saosim.replay.kernel.compile`),
runs every run of the timeline through one numba loop (:mod:`saosim.replay.kernel.loop`) and builds
the decision log column-wise (:mod:`saosim.replay.kernel.log`). It returns the frame
``saosim.replay.plain.PlainReplay(...).run()`` returns — same rows, same order, same actions,
reasons and statuses, same times and dollars — which ``tests/property/test_kernel_equals_plain.py``
checks decision for decision on generated estates, for every profile.

Identifier columns are ``Categorical`` and action/reason/status ``Enum`` (cast to ``String``
to compare with a plain log).

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario
>>> from saosim.replay.timeline import Timeline
>>> from saosim.cost.runtime import fit_costs
>>> est = synthetic_estate(n_models=30, days=1, seed=2)
>>> log = replay_fast(est, Scenario("sao", "sao"), timeline=Timeline.from_estate(est),
...                   costs=fit_costs(est))
>>> sorted(set(log["action"].cast(str)))
['build', 'reuse', 'run']
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from saosim.replay.kernel.compile import KernelInputs, compile_replay, compile_shared
from saosim.replay.kernel.log import assemble_log, frame, row_columns
from saosim.replay.kernel.loop import run_loop
from saosim.replay.progress import Progress

if TYPE_CHECKING:
    from saosim.cost.runtime import BuildCosts
    from saosim.inputs.estate import Estate
    from saosim.replay.decision_log import PartWriter
    from saosim.replay.engine import Scenario
    from saosim.replay.timeline import Timeline

__all__ = ["KernelTimings", "compile_shared", "replay_fast", "supports"]


def supports(scenario: Scenario, timeline: Timeline) -> bool:
    """Whether the kernel replays this scenario (every profile and option today).

    >>> from saosim.replay.engine import Scenario
    >>> supports(Scenario("x", "dbt_state"), None)
    True
    """
    return True


@dataclass
class KernelTimings:
    """Seconds spent in each step of the last :func:`replay_fast` call (for benchmarks).

    ``loop_s`` runs until the loop ends; most of a full log is gathered on another core
    during it, so ``log_s`` is only what is left after the loop (the last rows and the
    frame). Their sum is the wall time from the arrays to the log.
    """

    compile_s: float = 0.0
    loop_s: float = 0.0
    log_s: float = 0.0
    rows: int = 0
    #: rows of the loop's output buffers (fewer than ``rows``: a spilled log's ring)
    buffer_rows: int = 0


#: Timings of the most recent replay to finish in this process (read it as ``fast.LAST``).
LAST = KernelTimings()


_OUT_DTYPES = (
    np.uint8,  # action
    np.uint8,  # reason
    np.uint8,  # status
    np.int64,  # started_at
    np.int64,  # finished_at
    np.float64,  # runtime_s
    np.float64,  # cost_usd
    np.int32,  # run
    np.int32,  # node
    np.int64,  # reached_at
)


def _buffer(n: int, dtype: type) -> np.ndarray:
    """An uninitialised array for the loop's rows. Large ones are anonymous maps of plain
    pages: numpy's own large arrays ask for huge pages, which on this kind of VM cost more
    system time to fault in (measured 2.2 s vs 1.6 s for the year's 3.8 GB)."""
    size = n * np.dtype(dtype).itemsize
    if size < (1 << 24) or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(n, dtype=dtype)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=dtype)


#: Linux's madvise(MADV_POPULATE_WRITE) (5.14+): fault pages in, writable, content kept.
_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def _populate(arrays: tuple[np.ndarray, ...], lo: int, hi: int) -> bool:
    """Fault in rows ``lo:hi`` of the loop's output arrays from this thread, ahead of the
    loop: ~920,000 page faults (~1.5 s) leave the loop's core. Content is kept, so it is
    safe on rows the loop is writing. False when the OS cannot (nothing happened)."""
    if not sys.platform.startswith("linux"):
        return False
    for a in arrays:
        buf = a.base.obj if isinstance(a.base, memoryview) else a.base
        if not isinstance(buf, mmap.mmap):
            continue  # a small array from np.empty
        start = lo * a.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
        end = min(hi * a.itemsize, len(buf))
        if end <= start:
            continue
        try:
            buf.madvise(_POPULATE_WRITE, start, end - start)
        except (OSError, ValueError):
            return False
    return True


#: Linux's madvise(MADV_DONTNEED): drop the pages (an anonymous map reads zeros after).
_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)


def _release(arrays: tuple[np.ndarray, ...], lo: int, hi: int) -> None:
    """Give the pages wholly inside rows ``lo:hi`` of the loop's output arrays back to the OS,
    once those rows are written to disk: the loop only ever writes further on, so a spilled
    log keeps a few chunks of rows in memory, not the whole log."""
    for a in arrays:
        buf = a.base.obj if isinstance(a.base, memoryview) else a.base
        if not isinstance(buf, mmap.mmap):
            continue
        # inward to whole pages: a page shared with rows the loop may still write is kept
        start = -(-lo * a.itemsize // mmap.PAGESIZE) * mmap.PAGESIZE
        end = hi * a.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
        if end > start:
            try:
                buf.madvise(_DONTNEED, start, end - start)
            except (OSError, ValueError):
                return


def out_buffers(cap: int, *, ids: bool = False) -> tuple[np.ndarray, ...]:
    """The loop's output arrays for ``cap`` rows (action, reason, status, start, end,
    runtime, cost, run, node, reached); without ``ids`` the run and node arrays are empty
    (a full log's loop does not store them: see :func:`saosim.replay.kernel.log.full_log_ids`;
    a builds-only log's needs them)."""
    return tuple(
        _buffer(0 if i in (7, 8) and not ids else cap, dtype) for i, dtype in enumerate(_OUT_DTYPES)
    )


def _run(
    k: KernelInputs,
    builds_only: bool,
    progress: np.ndarray,
    out: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, ...]:
    if out is None:
        cap = max(1024, k.n_rows // 4) if builds_only else k.n_rows
        out = out_buffers(cap, ids=builds_only)
    return run_loop(
        k.graph, k.options, k.initial, k.decided, k.cptr, k.ctimes, k.cvals,
        k.aptr, k.atimes, k.fptr, k.ftimes, k.xptr, k.xtimes, k.iptr, k.itimes, k.sources,
        k.run_at, k.run_profile, k.run_full_refresh, k.run_sel_start, k.run_sel_end,
        k.sel_node, k.sel_failing, k.sel_test_status, k.sel_known, k.sel_rt, k.sel_gap,
        k.sel_bytes, k.sel_cost, k.sel_start, k.threads, k.at_node, k.rt_a, k.rt_b, k.rt_typ,
        k.use_a, k.use_b, k.use_typ,
        k.fix_rt, k.fix_cost, k.fix_us, k.basis, k.fparams, builds_only, *out, progress,
    )  # fmt: skip


#: Rows of the decision log gathered at once while the loop runs.
_CHUNK_ROWS = 1 << 21
#: How many chunks a spilled log's loop may run ahead of what is written (each is ~120 MB
#: of output buffers: two let one be written while the next is made).
_AHEAD_CHUNKS = 2


def ring_rows(k: KernelInputs) -> int:
    """Rows of a spilled log's output ring: the rows the loop may run ahead of its writer,
    two of the longest run and a chunk to spare, so the loop only ever overwrites rows
    already written (see :func:`saosim.replay.kernel.loop.run_loop`); at most the whole log.

    The ring's pages are faulted in once and reused; a year's log in fresh pages was ~0.45 M
    page faults per 25 M rows, most of the replay's system time on this kind of VM.
    """
    per_run = np.diff(k.run_out_start)
    longest = int(per_run.max()) if len(per_run) else 0
    return min(k.n_rows, (_AHEAD_CHUNKS + 1) * _CHUNK_ROWS + 2 * longest)


def _pieces(lo: int, hi: int, gen_base: int, base: int) -> list[tuple[int, int, int]]:
    """Log rows ``lo:hi`` as ``(lo, hi, ring offset)`` pieces: rows before ``base`` (where
    the ring last started again) sit in the generation that started at ``gen_base``.

    >>> _pieces(10, 30, 0, 20)
    [(10, 20, 0), (20, 30, 20)]
    """
    out = []
    if lo < base:
        out.append((lo, min(hi, base), gen_base))
    if hi > base:
        out.append((max(lo, base), hi, base))
    return [p for p in out if p[1] > p[0]]


def _stream(
    k: KernelInputs,
    scenario: str,
    builds_only: bool,
    label: str | None,
    sink: PartWriter | None = None,
) -> tuple[
    tuple[np.ndarray, ...], list[dict[str, pl.Series]], float, tuple | None, tuple[int, int]
]:
    """Run the loop in a thread (it releases the GIL) and, for a full log, gather the log's
    per-row columns of the runs already done meanwhile, so most of the log is built on the
    other core by the time the loop ends. Returns the loop's arrays, the gathered chunks
    (covering the rows from 0 in order), when the loop ended (perf_counter), the output
    buffers (None for a builds-only log, which the loop allocates and may grow) and, for a
    sink, where in the ring the rows not written yet are (``gen_base``, ``base``: see
    :func:`_pieces`).

    With a ``sink`` the gathered rows are written to it as whole log chunks instead (no chunk
    is returned; the rows after ``sink.rows`` are left), from a ring of output buffers
    (:func:`ring_rows`) or, for a log no longer than the ring, from buffers whose pages are
    given back as they are written."""
    ring_size = ring_rows(k) if sink is not None else k.n_rows
    ring = ring_size < k.n_rows
    # runs done; with a sink, rows written and the most rows the loop may run ahead of them;
    # with a ring, the log row at ring row 0
    progress = np.zeros(4 if ring else 3, dtype=np.int64)
    if sink is not None:
        progress[2] = _AHEAD_CHUNKS * _CHUNK_ROWS
    result: list[tuple[np.ndarray, ...]] = []
    error: list[BaseException] = []
    ended: list[float] = []
    out = None if builds_only else out_buffers(ring_size, ids=False)

    def work() -> None:
        try:
            result.append(_run(k, builds_only, progress, out))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)
        finally:
            ended.append(time.perf_counter())

    bar = None
    if label is not None:
        bar = Progress(len(k.run_at), label)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    runs_done = 0
    rows_done = 0
    gen_base = 0  # the log row at ring row 0 for the rows from rows_done on
    chunks: list[dict[str, pl.Series]] = []
    faulted = 0
    # a spilled log faults in a few chunks ahead of the loop only (or its ring, whole): the
    # rest would be memory the spill is there to save
    ahead = _AHEAD_CHUNKS * _CHUNK_ROWS if sink is not None and not ring else k.n_rows
    can_populate = True
    while out is not None and faulted < min(len(out[0]), ahead) and thread.is_alive():
        step = min(len(out[0]), faulted + _CHUNK_ROWS // 2)
        if not _populate(out, faulted, step):
            can_populate = False
            break
        faulted = step
    try:
        while thread.is_alive():
            if out is None or int(k.run_out_start[int(progress[0])]) - rows_done < _CHUNK_ROWS:
                # nothing to gather yet (a backlog is gathered without a pause: it would
                # otherwise grow while this thread sleeps, and be left for after the loop)
                thread.join(0.05)
            now = int(progress[0])
            if bar is not None:
                bar.update(now - runs_done)
            runs_done = now
            # rows of a run are final once the loop has counted it done; the one in progress
            # is never read
            upto = int(k.run_out_start[now])
            if upto - rows_done > 2 * _CHUNK_ROWS:
                # at most about one chunk at a time: the loop may end meanwhile, and what is
                # left after it is gathered on every core
                at = np.searchsorted(k.run_out_start, rows_done + _CHUNK_ROWS)
                upto = int(k.run_out_start[at])
            if out is not None and upto - rows_done >= _CHUNK_ROWS and thread.is_alive():
                if sink is None:
                    rows = tuple(a[rows_done:upto] for a in out)
                    chunks.append(row_columns(k, scenario, rows, first_row=rows_done))
                else:
                    # (the loop publishes where the ring started again before the runs after)
                    base = int(progress[3]) if ring else 0
                    for lo, hi, offset in _pieces(rows_done, upto, gen_base, base):
                        rows = tuple(a[lo - offset : hi - offset] for a in out)
                        sink.write(frame(row_columns(k, scenario, rows, first_row=lo), rows))
                        del rows
                        if not ring:
                            _release(out, lo, hi)
                        progress[1] = hi
                        gen_base = offset
                rows_done = upto
                progress[1] = rows_done
            if (
                sink is not None
                and not ring
                and can_populate
                and faulted < min(k.n_rows, rows_done + ahead)
            ):
                step = min(k.n_rows, rows_done + ahead)
                # never behind the rows written out: their pages are given back
                can_populate = _populate(out, max(faulted, rows_done), step)
                faulted = step
    finally:
        progress[2] = 0  # a writer that failed must not leave the loop waiting for it
    if bar is not None:
        bar.close()
    if error:
        raise error[0]
    codes = result[0]
    if chunks and not np.may_share_memory(codes[0], out[0]):
        chunks = []  # the loop grew its arrays (never for a full log): gather them afresh
    return codes, chunks, ended[0], out, (gen_base, int(progress[3]) if ring else 0)


def _join(
    k: KernelInputs, scenario: str, codes: tuple[np.ndarray, ...], chunks: list
) -> pl.DataFrame:
    """The log from the chunks gathered during the loop and the rows after them."""
    if not chunks:
        return assemble_log(k, scenario, codes)
    rows_done = sum(len(c["action"]) for c in chunks)
    rest = row_columns(
        k, scenario, tuple(a[rows_done:] for a in codes), first_row=rows_done, threads=True
    )
    gathered = {
        name: pl.concat([c[name] for c in chunks] + [rest[name]], rechunk=False) for name in rest
    }
    return frame(gathered, codes)


def _spill_rest(
    k: KernelInputs,
    scenario: str,
    bases: tuple[int, int],
    out: tuple[np.ndarray, ...],
    sink: PartWriter,
) -> pl.DataFrame:
    """Write the rows the loop made after the last chunk written during it (``out``: the
    output buffers, a ring whose generations start at ``bases``, see :func:`_stream`);
    returns the log's empty frame (its columns and types)."""
    gen_base, base = bases
    pieces = []
    for lo, hi, offset in _pieces(sink.rows, k.n_rows, gen_base, base):
        pieces += [(at, min(hi, at + _CHUNK_ROWS), offset) for at in range(lo, hi, _CHUNK_ROWS)]

    def chunk(lo: int, hi: int, offset: int) -> Callable[[], pl.DataFrame]:
        def make() -> pl.DataFrame:
            rows = tuple(a[lo - offset : hi - offset] for a in out)
            return frame(row_columns(k, scenario, rows, first_row=lo), rows)

        return make

    # the loop has ended: both cores make and write chunks
    sink.write_many([chunk(*p) for p in pieces], threads=min(2, os.cpu_count() or 1))
    _release(out, 0, len(out[0]))
    empty = tuple(a[:0] for a in out)
    return frame(row_columns(k, scenario, empty), empty)


def replay_fast(
    estate: Estate,
    scenario: Scenario,
    *,
    timeline: Timeline,
    costs: BuildCosts,
    builds_only: bool = False,
    progress: bool = False,
    sink: PartWriter | None = None,
) -> pl.DataFrame:
    """The decision log of one scenario, as the plain replay makes it, from the kernel.

    Args:
        estate, scenario, timeline, costs: as :func:`saosim.replay.engine.replay`.
        builds_only: keep only build and test-run rows (a much smaller log for long replays;
            reuses, skips and no-ops cost nothing and are left out).
        progress: show a progress bar over the runs.
        sink: where a log of at least ``sink.min_rows`` rows goes, chunk by chunk while the
            loop runs (:class:`saosim.replay.decision_log.PartWriter`); the frame returned is
            then empty (the log's columns only) and ``sink.rows`` holds the count. A smaller
            log, or a ``builds_only`` one, is returned as usual.
    """
    t0 = time.perf_counter()
    k = compile_replay(estate, scenario, timeline, costs)
    t1 = time.perf_counter()
    if sink is not None and (builds_only or k.n_rows < sink.min_rows):
        sink = None
    label = scenario.name if progress else None
    codes, chunks, t2, out, bases = _stream(k, scenario.name, builds_only, label, sink)
    if sink is None:
        log = _join(k, scenario.name, codes, chunks)
        rows = log.height
    else:
        log = _spill_rest(k, scenario.name, bases, out, sink)
        rows = sink.rows
    t3 = time.perf_counter()
    global LAST
    # one new record, bound at once: replays side by side never mix their timings
    LAST = KernelTimings(
        t1 - t0, t2 - t1, t3 - t2, rows, len(codes[0]) if out is None else len(out[0])
    )
    return log
