"""The memory a reader takes while it reads one fuzz case, and the bound it must keep.

**The measure.** The growth of the process's resident memory during the read: the kernel's
high-water mark (``VmHWM``, reset by writing ``5`` to ``/proc/self/clear_refs`` just before the
read) less the resident size (``VmRSS``) at that moment. Unlike ``tracemalloc`` it sees every
allocator: Python objects, msgspec's and orjson's buffers, and the native buffers of polars and
Arrow, which live outside Python's heap. An RSS delta under-counts when a read reuses memory an
earlier read freed but the allocator kept, so the run is made to hand freed memory back:

* ``PYTHONMALLOC=malloc`` puts Python objects on glibc's malloc, and every case starts after
  ``gc.collect()`` and ``malloc_trim(0)``, which returns free heap pages to the kernel;
* ``MALLOC_CONF`` / ``_RJEM_MALLOC_CONF`` ``dirty_decay_ms:0,muzzy_decay_ms:0`` makes polars'
  jemalloc return freed pages at once instead of after ten seconds.

:func:`measured_env` is that environment; :func:`ensure_measured` re-executes a script in it.
One-time costs are not the reader's working set and are paid before measuring (:func:`warm`:
imports, polars' thread pool, compiled regexes, decode types), as a long-lived process would.

**The input's size** is the bytes on disk of the file(s) handed to the reader; a gzip file
counts as its compressed size. A gzip file is decoded as it decompresses
(``saosim.inputs._stream``), so its text is never whole in memory — but what a reader keeps
of it can itself be larger than 2× the compressed file: a manifest's kept fields are mostly
its SQL, which compresses 5–10×. Measured (tracemalloc, the pruned decode a reader keeps):
the GitLab manifests keep 31.5 MB of a 3.5 MB file (9×) and their Project alone is 25 MB;
Flipside's 2022 docs manifests keep 2.2–2.9× their compressed size. No parser can hold those
to 2× compressed. The fuzz corpus holds no file over 2 MB, whose gzip cases are at most
250 KB: every case is held to ``bound(on_disk)``, which for those is :data:`FLOOR`, and they
meet it (0.4–0.7 MB) — though for the 2022-04-25 Flipside manifest tracemalloc counts 1.2 MB
of kept objects, which fill heap pages earlier reads left resident (the under-count above).
The GitLab manifests are held apart (``tests/fuzz/test_fuzz_memory.py``) to
:data:`BIG_TEXT_RATIO` × their decompressed text. :func:`input_sizes` gives both sizes.

**The bound** is ``max(2 × input size, FLOOR)``. :data:`FLOOR` covers what a reader allocates
whatever the size of the file (a polars frame per table, the Project's graph, interpreter
frames, the page granularity of RSS); it was set from measurements (``benchmarks/fuzz.py --n
10000 --memory``: the largest growth on a file under 64 KB is 0.4–0.5 MB) and is the smallest
round value above them, with a 2× margin for another machine's allocators — every input larger
than 512 KB (every real manifest in the corpus) is held to 2× its size.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import sys
import zlib
from pathlib import Path

__all__ = [
    "BIG_TEXT_RATIO",
    "FLOOR",
    "Meter",
    "bound",
    "ensure_measured",
    "input_sizes",
    "measurable",
    "measured_env",
]

#: Bytes every read may take whatever its input's size (see the module docstring).
FLOOR = 1 << 20
#: The most a read of a real gzip manifest too big for the fuzz corpus may take, per byte of
#: its decompressed text: the GitLab ones took 1.9× decoded whole, 1.3× decoded as they decompress.
BIG_TEXT_RATIO = 1.5
_DECAY = "dirty_decay_ms:0,muzzy_decay_ms:0"
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def measured_env() -> dict[str, str]:
    """The environment variables under which :class:`Meter` is honest (module docstring)."""
    return {"PYTHONMALLOC": "malloc", "MALLOC_CONF": _DECAY, "_RJEM_MALLOC_CONF": _DECAY}


def measurable() -> bool:
    """True on Linux with a resettable high-water mark and in :func:`measured_env`."""
    # polars prepends its own jemalloc defaults to _RJEM_MALLOC_CONF on import; the last
    # setting of an option wins, so ours must end the variable
    return (
        sys.platform == "linux"
        and _CLEAR_REFS.exists()
        and os.access(_CLEAR_REFS, os.W_OK)
        and all(os.environ.get(k, "").endswith(v) for k, v in measured_env().items())
    )


def ensure_measured(argv: list[str]) -> None:
    """Re-execute this script in :func:`measured_env` unless it already runs in it (the
    allocators read these variables at start-up only)."""
    if measurable() or sys.platform != "linux":
        return
    env = {**os.environ, **measured_env()}
    os.execve(sys.executable, [sys.executable, *argv], env)


def _status_kb(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def _trim() -> None:
    gc.collect()
    # not glibc: freed memory may stay resident, and the measure under-counts
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Meter:
    """``with Meter() as m: read()`` → ``m.peak``, the bytes the read added at its highest."""

    def __init__(self) -> None:
        self.base = 0
        self.peak = 0

    def __enter__(self) -> Meter:
        _trim()
        _CLEAR_REFS.write_text("5")  # VmHWM := VmRSS
        self.base = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = max(0, _status_kb("VmHWM") - self.base) * 1024


def input_sizes(path: Path) -> tuple[int, int]:
    """(bytes on disk, bytes of text): a folder's files summed; gzip counted decompressed in
    the second (see :func:`_decompressed_size`). The bound is on the first."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    on_disk = as_read = 0
    for file in files:
        size = file.stat().st_size
        on_disk += size
        with file.open("rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        if not gzipped:
            as_read += size
            continue
        as_read += _decompressed_size(file)
    return on_disk, as_read


def _decompressed_size(file: Path) -> int:
    """What a gzip file decompresses to, as the reader decompresses it: members one after
    another, stopping at damage (the bytes before it count) or at 1 GiB."""
    total = 0
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with file.open("rb") as handle:
        pending = b""
        while total <= 1 << 30:
            pending = pending or handle.read(1 << 16)
            if not pending:
                break
            try:
                total += len(decomp.decompress(pending, 1 << 16))
            except zlib.error:
                break
            pending = decomp.unconsumed_tail
            if decomp.eof:
                pending = decomp.unused_data.lstrip(b"\x00")
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return total


def bound(size: int) -> int:
    """The most a read of ``size`` input bytes may take: ``max(2 × size, FLOOR)``."""
    return max(2 * size, FLOOR)
