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
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

import orjson
import polars as pl

from saosim.errors import ArtifactError, SaosimInputError, SchemaError
from saosim.inputs.schema import ID, TABLES, empty, validate
from saosim.project.graph import Node, Project

__all__ = [
    "HISTORY_TABLES",
    "Estate",
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

    def __post_init__(self) -> None:
        for table in HISTORY_TABLES:
            setattr(self, table, validate(getattr(self, table), table))
        known = set(self.project.nodes)
        for table in ("node_runs", "source_arrivals", "code_changes"):
            ids = set(getattr(self, table).get_column("unique_id").unique().to_list())
            unknown = sorted(ids - known)
            if unknown:
                raise SchemaError(
                    f"names nodes the project does not have: {', '.join(unknown[:5])}"
                    + (f" … and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
                    field=f"{table}.unique_id",
                )
        run_ids = set(self.runs.get_column("run_id").to_list())
        orphan = set(self.node_runs.get_column("run_id").unique().to_list()) - run_ids
        if orphan:
            raise SchemaError(
                f"node runs of runs not in the runs table: {', '.join(sorted(orphan)[:5])}",
                field="node_runs.run_id",
            )

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
            "node_runs": self.node_runs.height,
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
    frames = {table: _read_table(folder, table) for table in HISTORY_TABLES}
    try:
        return Estate(project, **frames, synthetic=bool(meta.get("synthetic", False)))
    except SaosimInputError as exc:
        exc.path = exc.path or str(folder)
        raise type(exc)(exc.message, path=exc.path, field=exc.field, row=exc.row) from None
