"""saosim's own advisory lock beside a DuckDB warehouse file (readers shared, builds exclusive).

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     with file_lock(pathlib.Path(d) / "w.duckdb", exclusive=True):
...         (pathlib.Path(d) / ".saosim" / "w.duckdb.lock").is_file()
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["file_lock"]


@contextmanager
def file_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory lock on ``.saosim/<file>.lock`` beside the database (shared for readers,
    exclusive for builds).

    DuckDB refuses a writer while any other process has the file open, even read-only, so a
    ``dbt build`` started while another saosim run reads source versions would fail to connect.
    saosim's own readers and builds take this lock to stay out of each other's way; the OS drops
    it when a process dies. A no-op where ``fcntl`` does not exist.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    lock = path.parent / ".saosim" / f"{path.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
