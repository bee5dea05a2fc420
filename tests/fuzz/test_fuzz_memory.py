"""The memory half of the fuzz property, in ``make test``: no read of a mutated input takes more
than ``max(2 × its size, FLOOR)`` — the measure (resident growth during the read, every
allocator), the size (on disk; a gzip file's decompressed text) and FLOOR are defined in
``tests/fuzz/memory.py``.

The cases run in a child process (``python -m tests.fuzz.measured``): the measure needs
allocators set at start-up (``PYTHONMALLOC=malloc``, jemalloc returning freed pages at once),
and pytest's own process holds memory freed by earlier tests that a read could reuse unseen.
Four cases per seed input (256 with the real artifacts), so every reader and every real
artifact is measured; ``benchmarks/fuzz.py --n 10000 --memory`` is the long run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fuzz.memory import FLOOR, bound, measured_env
from tests.fuzz.mutate import ROOT, corpus

_CASES = 4 * len(corpus())


def test_no_read_takes_more_than_twice_its_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.measured", "--n", str(_CASES)],
        cwd=ROOT,
        env={**os.environ, **measured_env()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if lines and "unmeasurable" in lines[0]:
        pytest.skip(lines[0]["unmeasurable"])
    assert len(lines) == _CASES
    broken = [c for c in lines if c["result"] not in ("read", "refused")]
    assert not broken, broken[:3]
    over = [c for c in lines if c["peak"] > bound(c["size"])]
    assert not over, [
        f"{c['seed']}: {c['mutation']} took {c['peak']:,} B for {c['size']:,} B" for c in over[:5]
    ]
    # the floor must leave the bound something to check: some cases are held to 2× their size,
    # and the measure sees the reads (a meter that reads 0 would pass any bound)
    assert any(2 * c["size"] > FLOOR for c in lines)
    assert max(c["peak"] for c in lines) > FLOOR // 4
