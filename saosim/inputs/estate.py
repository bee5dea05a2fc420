"""An estate: a :class:`~saosim.project.graph.Project` with its history, saved as a folder of
Parquet.

Folder layout (every file a canonical table from :mod:`saosim.inputs.schema`)::

    estate/
      estate.json          name, dialect, saosim version, time span
      nodes.parquet  edges.parquet
      runs.parquet   node_runs.parquet   source_arrivals.parquet   code_changes.parquet

>>> import tempfile
>>> from saosim.project.graph import Project
>>> estate = Estate(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
>>> with tempfile.TemporaryDirectory() as d:
...     _ = estate.save(d)
...     load_estate(d).project.counts()
{'model': 1, 'source': 1}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from saosim.errors import ArtifactError, SaosimInputError, SchemaError
from saosim.inputs.schema import ID, TABLES, UNIQUE_KEYS, check_rows, empty, validate
from saosim.project.graph import Node, Project

__all__ = [
    "HISTORY_TABLES",
    "Estate",
    "ScannedEstate",
    "load_estate",
    "load_estate_project",
    "project_from_frames",
    "project_to_frames",
]

HISTORY_TABLES = ("runs", "node_runs", "source_arrivals", "code_changes")
ESTATE_FORMAT = 1
_NODE_FIELDS = [f.name for f in fields(Node) if f.name != "meta"]


def project_to_frames(project: Project) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``nodes`` and ``edges`` tables of a project.

    >>> nodes, edges = project_to_frames(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
    >>> edges.row(0)
    ('source.demo.raw.a', 'model.demo.m')
    """
    rows = {name: [] for name in _NODE_FIELDS}
    for uid in project.order:
        node = project.nodes[uid]
        for name in _NODE_FIELDS:
            value = getattr(node, name)
            rows[name].append(list(value) if name == "tags" else value)
    nodes = validate(pl.DataFrame(rows, schema={k: TABLES["nodes"][k] for k in rows}), "nodes")
    edge_list = project.edges
    edges = pl.DataFrame(
        {"parent_id": [p for p, _ in edge_list], "child_id": [c for _, c in edge_list]},
        schema=TABLES["edges"],
    )
    return nodes, edges


def project_from_frames(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    *,
    name: str = "project",
    dialect: str | None = None,
    origin: str | None = None,
) -> Project:
    """Rebuild a :class:`Project` from its ``nodes`` and ``edges`` tables."""
    nodes = validate(nodes, "nodes", path=origin and f"{origin}/nodes.parquet")
    edges = validate(edges, "edges", path=origin and f"{origin}/edges.parquet")
    built = []
    for row in nodes.iter_rows(named=True):
        row["tags"] = tuple(row["tags"] or ())
        row["freshness_declared"] = bool(row["freshness_declared"])
        row["language"] = row["language"] or "sql"
        row["package"] = row["package"] or ""
        row["path"] = row["path"] or ""
        built.append(Node(**row))
    return Project(built, edges.iter_rows(), name=name, dialect=dialect, origin=origin)


@dataclass
class Estate:
    """A project and its history, in canonical tables.

    Attributes:
        project: the DAG.
        runs, node_runs, source_arrivals, code_changes: the history tables (polars).
        synthetic: made by :mod:`saosim.synth`, not collected: results on it are illustrative.
    """

    project: Project
    runs: pl.DataFrame = field(default_factory=lambda: empty("runs"))
    node_runs: pl.DataFrame = field(default_factory=lambda: empty("node_runs"))
    source_arrivals: pl.DataFrame = field(default_factory=lambda: empty("source_arrivals"))
    code_changes: pl.DataFrame = field(default_factory=lambda: empty("code_changes"))
    synthetic: bool = False
    #: work on the history kept with it (:func:`saosim.inputs.history_rows.history_rows`)
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for table in HISTORY_TABLES:
            setattr(self, table, validate(getattr(self, table), table))
        node_runs = self.node_runs
        self._check_references(
            set(node_runs.get_column("unique_id").unique().to_list()),
            set(node_runs.get_column("run_id").unique().to_list()),
        )

    def _check_references(self, node_run_nodes: set[str], node_run_runs: set[str]) -> None:
        """Every table names nodes of the project, and node runs name runs of ``runs``."""
        known = set(self.project.nodes)
        for table in ("node_runs", "source_arrivals", "code_changes"):
            ids = (
                node_run_nodes
                if table == "node_runs"
                else set(getattr(self, table).get_column("unique_id").unique().to_list())
            )
            unknown = sorted(ids - known)
            if unknown:
                raise SchemaError(
                    f"names nodes the project does not have: {', '.join(unknown[:5])}"
                    + (f" … and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
                    field=f"{table}.unique_id",
                )
        orphan = node_run_runs - set(self.runs.get_column("run_id").to_list())
        if orphan:
            raise SchemaError(
                f"node runs of runs not in the runs table: {', '.join(sorted(orphan)[:5])}",
                field="node_runs.run_id",
            )

    @property
    def node_runs_count(self) -> int:
        """How many node runs the history has (a scanned estate reads only the file's footer)."""
        return self.node_runs.height

    def node_runs_column(self, name: str) -> pl.Series:
        """One column of ``node_runs``: a :class:`ScannedEstate` reads only that column."""
        return self.node_runs.get_column(name)

    def scan_node_runs(self) -> pl.LazyFrame:
        """``node_runs`` as a lazy frame: a :class:`ScannedEstate` scans its Parquet file, so
        a query reads only the columns and rows it needs."""
        return self.node_runs.lazy()

    @property
    def history_identity(self) -> tuple[object, ...]:
        """Objects whose identity stands for the history's contents: a memo of work on the
        history is valid while they are the same objects (the tables are never changed in
        place, only replaced)."""
        return (self.project, self.runs, self.node_runs)

    @property
    def time_span(self) -> tuple[datetime, datetime] | None:
        """First and last timestamp seen in runs and arrivals, or ``None`` with no history."""
        stamps = [
            s
            for s in (
                self.runs.get_column("started_at"),
                self.runs.get_column("finished_at"),
                self.source_arrivals.get_column("arrived_at"),
            )
            if s.len() and s.null_count() < s.len()
        ]
        if not stamps:
            return None
        return min(s.min() for s in stamps), max(s.max() for s in stamps)

    def summary(self) -> dict[str, object]:
        """What the estate holds, as plain values (what ``saosim info --format json`` prints)."""
        span = self.time_span
        project = self.project
        with_freshness = sum(
            1
            for n in project.nodes.values()
            if n.is_buildable and (n.build_after_count is not None or n.lag_tolerance_s is not None)
        )
        return {
            "project": project.name,
            "nodes": project.counts(),
            "edges": project.graph.number_of_edges(),
            "runs": self.runs.height,
            "node_runs": self.node_runs_count,
            "source_arrivals": self.source_arrivals.height,
            "code_changes": self.code_changes.height,
            "sources_with_arrivals": self.source_arrivals.get_column("unique_id").n_unique(),
            "models_with_freshness": with_freshness,
            "start": span[0].isoformat() if span else None,
            "end": span[1].isoformat() if span else None,
        }

    @property
    def history_threads(self) -> int | None:
        """dbt's threads as the history ran: the most common ``runs.threads`` (``None`` when
        the runs do not say)."""
        threads = self.runs.get_column("threads").drop_nulls()
        if threads.len() == 0:
            return None
        counts = threads.value_counts(sort=True)
        return int(counts.row(0)[0])

    def save(self, path: str | Path) -> Path:
        """Write the estate as a folder of Parquet files; returns the folder."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        nodes, edges = project_to_frames(self.project)
        nodes.write_parquet(folder / "nodes.parquet")
        edges.write_parquet(folder / "edges.parquet")
        for table in HISTORY_TABLES:
            if table == "node_runs":
                self._save_node_runs(folder / "node_runs.parquet")
            else:
                getattr(self, table).write_parquet(folder / f"{table}.parquet")
        meta = {
            "format": ESTATE_FORMAT,
            "name": self.project.name,
            "dialect": self.project.dialect,
            **{k: v for k, v in self.summary().items() if k in ("start", "end")},
            **({"synthetic": True} if self.synthetic else {}),
        }
        (folder / "estate.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    def _save_node_runs(self, file: Path) -> None:
        self.node_runs.write_parquet(file)


class ScannedEstate(Estate):
    """An estate whose node runs stay in their Parquet file (:func:`load_estate` makes one):
    a year of a big project's history is gigabytes in memory, and a replay needs a few of its
    columns at a time (:meth:`node_runs_column`, :meth:`scan_node_runs`).

    The file is checked as a whole when opened, a batch of rows at a time, with the same
    errors as an estate held in memory. ``node_runs`` still works: it reads the whole table on
    first use and keeps it (what every consumer that does not read by column gets).
    """

    _file: Path | None = None
    _frame: pl.DataFrame | None = None
    _token: object = None

    @classmethod
    def open(cls, project: Project, file: Path, **tables: Any) -> ScannedEstate:
        """Check ``file`` (the ``node_runs`` table, canonical columns and types) and the
        other tables, and keep the node runs on disk."""
        estate = cls.__new__(cls)
        estate._file, estate._frame, estate._token, estate._memo = file, None, object(), {}
        estate.project = project
        estate.synthetic = bool(tables.pop("synthetic", False))
        for table in HISTORY_TABLES:
            if table != "node_runs":
                setattr(estate, table, validate(tables[table], table))
        estate._check_references(*_check_node_runs_file(file, estate._scan()))
        return estate

    @property  # type: ignore[override]
    def node_runs(self) -> pl.DataFrame:
        if self._frame is None:
            self._frame = self._read(lambda scan: scan.collect(engine="streaming"))
        return self._frame

    @node_runs.setter
    def node_runs(self, frame: pl.DataFrame) -> None:
        # a replaced table (dataclasses.replace, the dataclass __init__): held in memory
        self._frame, self._file, self._token = frame, None, object()

    @property
    def node_runs_count(self) -> int:
        if self._frame is not None:
            return self._frame.height
        return self._read(lambda scan: scan.select(pl.len()).collect().item())

    def node_runs_column(self, name: str) -> pl.Series:
        if self._frame is not None:
            return self._frame.get_column(name)
        return self._read(lambda scan: scan.select(name).collect(engine="streaming").to_series())

    def _read(self, query: Callable[[pl.LazyFrame], Any]) -> Any:
        """``query`` of the file, its failure named (the file changed since it was checked)."""
        try:
            return query(self._scan())
        except Exception as exc:  # polars raises several kinds for a missing or damaged file
            raise ArtifactError(
                f"cannot be read any more ({exc}); was it changed or removed after "
                "load_estate? Load the estate again",
                path=str(self._file),
            ) from None

    def _save_node_runs(self, file: Path) -> None:
        if self._frame is not None:
            self._frame.write_parquet(file)
        elif file.resolve() != self._file.resolve():
            # streamed from the file it stays in, never read whole; saved where it was loaded
            # from, the file is already the table
            self._read(lambda scan: scan.sink_parquet(file))

    def scan_node_runs(self) -> pl.LazyFrame:
        return self._scan()

    @property
    def history_identity(self) -> tuple[object, ...]:
        return (self.project, self.runs, self._token)

    def __repr__(self) -> str:
        where = f"node_runs={self._file}" if self._frame is None else "node_runs in memory"
        return f"ScannedEstate(project={self.project.name!r}, runs={self.runs.height}, {where})"

    def _scan(self) -> pl.LazyFrame:
        if self._frame is not None:
            return self._frame.lazy()
        ids = [c for c, dtype in TABLES["node_runs"].items() if dtype == ID]
        columns = [pl.col(c).cast(ID) if c in ids else pl.col(c) for c in TABLES["node_runs"]]
        return pl.scan_parquet(self._file).select(columns)


#: rows of a scanned ``node_runs`` file checked at once
_CHECK_ROWS = 1 << 21


def _scannable(file: Path) -> bool:
    """Whether a ``node_runs`` file has the canonical columns and types (ids as text or
    categories): what :meth:`Estate.save` writes, and what can be read column by column as it
    is. Any other file is read whole and converted by :func:`validate`."""
    try:
        present = pl.scan_parquet(file).collect_schema()
    except Exception:  # unreadable: the whole read names the file and the cause
        return False
    for name, dtype in TABLES["node_runs"].items():
        if name not in present:
            return False
        if present[name] != dtype and not (dtype == ID and present[name] == pl.String):
            return False
    return len(present) == len(TABLES["node_runs"])


def _check_node_runs_file(file: Path, scan: pl.LazyFrame) -> tuple[set[str], set[str]]:
    """Check a scanned ``node_runs`` file a batch of rows at a time (required values, the
    status vocabulary, unique (run, node) pairs, with :func:`validate`'s errors and row
    numbers); returns the node ids and run ids it names."""
    nodes: set[str] = set()
    runs: set[str] = set()
    hashes: list[pl.Series] = []
    key = UNIQUE_KEYS["node_runs"]
    hashed = pl.col(key[0]).hash(seed=0)
    for seed, column in enumerate(key[1:], start=1):
        hashed = hashed ^ pl.col(column).hash(seed=seed)
    offset = 0
    try:
        # the columns the checks read: the file's types are the canonical ones already
        checked = scan.select(*key, "status")
        for batch in checked.collect_batches(chunk_size=_CHECK_ROWS, maintain_order=True):
            # repeated pairs are looked for over the whole file below
            check_rows(batch, "node_runs", path=str(file), row_offset=offset + 1, unique=False)
            nodes.update(batch.get_column("unique_id").unique().to_list())
            runs.update(batch.get_column("run_id").unique().to_list())
            hashes.append(batch.select(hashed).to_series())
            offset += batch.height
    except SaosimInputError:
        raise
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise ArtifactError(f"cannot be read as Parquet ({exc})", path=str(file)) from None
    # a pair repeated across batches: distinct hashes prove distinct pairs (one 8-byte hash
    # per row); a shared hash falls through to the exact check on the key columns
    every = pl.concat(hashes) if hashes else pl.Series([], dtype=pl.UInt64)
    del hashes
    if every.n_unique() < every.len():
        del every
        required = [*key, "status"]
        validate(scan.select(required).collect(engine="streaming"), "node_runs", path=str(file))
    return nodes, runs


def _meta(folder: Path) -> dict:
    meta_path = folder / "estate.json"
    if not meta_path.is_file():
        raise ArtifactError(
            "is not an estate folder (no estate.json); make one with `saosim ingest` or "
            "`saosim synth`",
            path=str(folder),
        )
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"is not valid JSON ({exc})", path=str(meta_path)) from None
    if meta.get("format") != ESTATE_FORMAT:
        raise ArtifactError(
            f"estate format {meta.get('format')!r} is not {ESTATE_FORMAT}; re-create the estate",
            path=str(meta_path),
            field="format",
        )
    return meta


def _read_table(folder: Path, table: str) -> pl.DataFrame:
    file = folder / f"{table}.parquet"
    if not file.is_file():
        raise ArtifactError("is missing from the estate folder", path=str(file))
    ids = [name for name, dtype in TABLES[table].items() if dtype == ID]
    try:
        if not ids:
            return pl.read_parquet(file)
        # ids become categories as each row group is read: an older estate's 25 M string ids
        # are never all in memory at once
        present = pl.scan_parquet(file).collect_schema()
        cast = [
            (pl.col(c) if present[c] in (pl.String, ID) else pl.col(c).cast(pl.String)).cast(ID)
            for c in ids
            if c in present
        ]
        return pl.scan_parquet(file).with_columns(cast).collect(engine="streaming")
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise ArtifactError(f"cannot be read as Parquet ({exc})", path=str(file)) from None


def load_estate_project(path: str | Path) -> Project:
    """Only the project of an estate folder (nodes and edges, no history): enough to check
    selectors in a second before a long history is loaded.

    >>> from pathlib import Path
    >>> load_estate_project(Path(__file__).parents[2] / "data" / "example").counts()["model"]
    1500
    """
    folder = Path(path)
    key = tuple(
        (f.name, f.stat().st_mtime_ns, f.stat().st_size)
        for f in (folder / "estate.json", folder / "nodes.parquet", folder / "edges.parquet")
        if f.is_file()
    )
    return _project_of(folder, key)


@functools.lru_cache(maxsize=4)
def _project_of(folder: Path, _files: tuple[tuple[str, int, int], ...]) -> Project:
    # cached by the files' times and sizes: the CLI checks selectors on the project, then
    # loads the history, and building a big project's graph twice costs seconds
    meta = _meta(folder)
    return project_from_frames(
        _read_table(folder, "nodes"),
        _read_table(folder, "edges"),
        name=meta.get("name") or "project",
        dialect=meta.get("dialect"),
        origin=str(folder),
    )


def load_estate(path: str | Path) -> Estate:
    """Load an estate folder written by :meth:`Estate.save` (or by ``saosim ingest``/``synth``).

    Raises:
        ArtifactError: the folder or one of its files is missing or unreadable.
    """
    folder = Path(path)
    meta = _meta(folder)
    project = load_estate_project(folder)
    synthetic = bool(meta.get("synthetic", False))
    node_runs = folder / "node_runs.parquet"
    scan = node_runs.is_file() and _scannable(node_runs)
    frames = {
        table: _read_table(folder, table)
        for table in HISTORY_TABLES
        if not (scan and table == "node_runs")
    }
    try:
        if scan:
            return ScannedEstate.open(project, node_runs, **frames, synthetic=synthetic)
        return Estate(project, **frames, synthetic=synthetic)
    except SaosimInputError as exc:
        exc.path = exc.path or str(folder)
        raise type(exc)(exc.message, path=exc.path, field=exc.field, row=exc.row) from None
