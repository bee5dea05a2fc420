"""A comparison's decision log, one part per scenario, in memory or as Parquet files on disk.

A year of hourly runs over 10,000 models is ~88 M decisions — ~6 GB as a frame. A scenario
whose log would pass :data:`SPILL_ROWS` rows is therefore written to Parquet files as the
replay makes it (:class:`PartWriter`, a file per few million rows) and read back lazily: the
metrics, staleness and the bill scan it (:meth:`DecisionLog.scan`), so what stays in memory is
the estate and one chunk at a time, not the log. Small logs (tests, the bundled example's
scenarios, the plain engine's) stay frames. Files live in a temporary folder removed when the
log is garbage-collected.

>>> log = DecisionLog()
>>> log.add("a", pl.DataFrame({"scenario": ["a"], "unique_id": ["m"]}))
>>> w = log.writer("b", min_rows=0)
>>> w.write(pl.DataFrame({"scenario": ["b", "b"], "unique_id": ["m", "n"]}))
>>> log.add("b", pl.DataFrame(schema={"scenario": pl.String, "unique_id": pl.String}), w)
>>> log.scenarios, log.height, log.on_disk("b"), log.frame("b").height
(('a', 'b'), 3, True, 2)
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

__all__ = ["SPILL_ROWS", "DecisionLog", "PartWriter"]

#: A scenario log of at least this many rows goes to disk (~250 MB as a frame).
SPILL_ROWS = 4_000_000


@dataclass(eq=False)
class PartWriter:
    """Writes one scenario's log as numbered Parquet files, chunk by chunk, in a folder made
    on the first write (``make_folder()``).

    ``min_rows`` is the size from which a replay should write here at all (a smaller log is
    kept as a frame); :func:`saosim.replay.kernel.fast.replay_fast` reads it.
    """

    make_folder: Callable[[], Path]
    min_rows: int = SPILL_ROWS
    folder: Path | None = None
    rows: int = 0
    parts: int = 0

    def write(self, chunk: pl.DataFrame) -> None:
        """Append ``chunk`` (a frame of log rows, in log order) as the next file."""
        self.write_many([lambda: chunk])

    def write_many(self, chunks: Sequence[Callable[[], pl.DataFrame]], threads: int = 1) -> None:
        """Append the chunks ``chunks`` make, in order, as the next files; with ``threads``
        more than one, several are made and written at once (polars writes without the GIL).
        """
        if self.folder is None:
            self.folder = self.make_folder()
        first = self.parts
        self.parts += len(chunks)

        def put(k: int) -> int:
            chunk = chunks[k]()
            # uncompressed: scratch files read back once or twice; lz4 took 1.35x the time
            # (Arrow IPC writes faster still, but a scan of it maps the file into the RSS)
            chunk.write_parquet(
                self.folder / f"part-{first + k:05d}.parquet", compression="uncompressed"
            )
            return chunk.height

        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                self.rows += sum(pool.map(put, range(len(chunks))))
        else:
            self.rows += sum(put(k) for k in range(len(chunks)))

    def files(self) -> list[Path]:
        if self.folder is None:
            return []
        return [self.folder / f"part-{k:05d}.parquet" for k in range(self.parts)]


@dataclass(eq=False)
class DecisionLog:
    """Every scenario's decision log, each a frame in memory or Parquet parts on disk, in the
    order the scenarios were replayed."""

    _parts: dict[str, pl.DataFrame | PartWriter] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _schema: pl.Schema | None = field(default=None, repr=False)
    # scenarios are replayed side by side: their writers make folders from several threads
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, frame: pl.DataFrame) -> DecisionLog:
        """A log held in memory, split by its ``scenario`` column (in order of appearance).

        >>> DecisionLog.of(pl.DataFrame({"scenario": ["x", "y", "x"]})).scenarios
        ('x', 'y')
        """
        log = cls()
        if "scenario" not in frame.columns or frame.height == 0:
            log._parts[""] = frame
            log._schema = frame.schema
            return log
        names = frame.get_column("scenario").cast(pl.String).unique(maintain_order=True)
        if names.len() == 1:
            log._parts[str(names[0])] = frame
        else:
            for part in frame.partition_by("scenario", maintain_order=True):
                log._parts[str(part.get_column("scenario").cast(pl.String)[0])] = part
        log._schema = frame.schema
        return log

    @classmethod
    def of_scenarios(cls, frames: Mapping[str, pl.DataFrame]) -> DecisionLog:
        """A log held in memory, one frame per scenario (in the mapping's order).

        >>> DecisionLog.of_scenarios({"b": pl.DataFrame({"x": [1]})}).height
        1
        """
        log = cls()
        for name, frame in frames.items():
            log.add(name, frame)
        return log

    def writer(self, scenario: str, *, min_rows: int = SPILL_ROWS) -> PartWriter:
        """A writer for ``scenario``'s parts in this log's temporary folder (made, with the
        folder, only if the replay writes)."""
        return PartWriter(lambda: self._folder(scenario), min_rows)

    def _folder(self, scenario: str) -> Path:
        with self._lock:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="saosim-log-")
            root = Path(self._tmp.name)
            folder = root / f"scenario-{len(list(root.iterdir())):03d}"
            folder.mkdir()
        return folder

    def add(self, scenario: str, frame: pl.DataFrame, writer: PartWriter | None = None) -> None:
        """Record ``scenario``'s log: the parts ``writer`` wrote if it wrote any, else ``frame``."""
        if scenario in self._parts:
            raise ValueError(f"the log already has a scenario named {scenario!r}")
        self._parts[scenario] = writer if writer is not None and writer.parts else frame
        if self._schema is None:
            self._schema = frame.schema

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(self._parts)

    @property
    def height(self) -> int:
        """Rows over every scenario (no file is read)."""
        return sum(p.rows if isinstance(p, PartWriter) else p.height for p in self._parts.values())

    def on_disk(self, scenario: str) -> bool:
        return isinstance(self._part(scenario), PartWriter)

    def scan(self, scenario: str | None = None) -> pl.LazyFrame:
        """One scenario's log, or every one in order, as a lazy frame (files scanned, not read)."""
        names = self.scenarios if scenario is None else (scenario,)
        frames = [self._lazy(self._part(name)) for name in names]
        if not frames:
            return pl.LazyFrame(schema=self._schema or {})
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")

    def frame(self, scenario: str | None = None) -> pl.DataFrame:
        """The log of one scenario, or of all, read into memory."""
        parts = [self._part(name) for name in (self.scenarios if scenario is None else (scenario,))]
        if len(parts) == 1 and isinstance(parts[0], pl.DataFrame):
            return parts[0]
        return self.scan(scenario).collect()

    def write_parquet(self, path: Path) -> None:
        """The whole log as one Parquet file, streamed from the parts."""
        self.scan().sink_parquet(path)

    def _part(self, scenario: str) -> pl.DataFrame | PartWriter:
        try:
            return self._parts[scenario]
        except KeyError:
            raise KeyError(f"no scenario named {scenario!r}") from None

    def _lazy(self, part: pl.DataFrame | PartWriter) -> pl.LazyFrame:
        if isinstance(part, pl.DataFrame):
            return part.lazy()
        return pl.scan_parquet(part.files())
