"""Exports of the dbt_artifacts (Brooklyn Data) and elementary packages → a project and history.

Both packages log every invocation into warehouse tables; a user exports those tables as CSV or
Parquet (one file per table, named after it) into one folder. Column names are the packages'
own (upper-case exports, as Snowflake writes them, are accepted).

- **dbt_artifacts**: ``invocations``, ``model_executions`` (and ``seed_executions``,
  ``snapshot_executions``, ``test_executions``), ``models``, ``sources`` (and ``seeds``,
  ``snapshots``), ``source_executions`` for arrivals.
- **elementary**: ``dbt_invocations``, ``dbt_run_results`` (or the ``model_run_results`` view),
  ``dbt_models``, ``dbt_sources``, ``dbt_source_freshness_results`` for arrivals.

The project is rebuilt from the models/sources tables (latest row per node); a parent named in
``depends_on_nodes`` that no exported table describes becomes a bare node of the kind its id
says, with a :class:`~saosim.errors.SaosimWarning`. Code changes come from the models table's
``checksum`` history, with the same rules as :mod:`saosim.inputs.changes`.

Timestamps: elementary writes its own ``*_at`` strings in UTC without an offset
(``datetime_now_utc_as_string``), so its reader assumes ``timezone="UTC"``; dbt_artifacts
columns are warehouse timestamps whose zone depends on the export, so naive values are an error
unless ``timezone=`` names it.

>>> from pathlib import Path
>>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
>>> project, history = read_export(fixtures / "dbt_artifacts_export")
>>> history.runs.height, history.source_arrivals.height
(2, 3)
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from saosim.errors import ArtifactError, SaosimWarning, SchemaError
from saosim.inputs._columns import (
    as_counts,
    as_flags,
    as_numbers,
    as_statuses,
    as_text,
    as_times,
    json_field,
    json_list,
    json_obj,
    null_column,
    parse_zone,
    require_columns,
)
from saosim.inputs.history import History
from saosim.inputs.runs import arrivals
from saosim.inputs.schema import UTC_TIME, empty, validate
from saosim.project.graph import Node, Project

__all__ = ["EXPORT_TABLES", "export_kind", "read_export"]

EXPORT_TABLES = {
    "dbt_artifacts": (
        "invocations",
        "model_executions",
        "seed_executions",
        "snapshot_executions",
        "test_executions",
        "source_executions",
        "models",
        "seeds",
        "snapshots",
        "sources",
    ),
    "elementary": (
        "dbt_invocations",
        "dbt_run_results",
        "model_run_results",
        "dbt_models",
        "dbt_sources",
        "dbt_source_freshness_results",
    ),
}
_MARKERS = {"dbt_artifacts": "model_executions", "elementary": "dbt_invocations"}
_FAILED = ["error", "fail", "runtime error"]


def _table_files(folder: Path) -> dict[str, Path]:
    out = {}
    for file in sorted(folder.iterdir()):
        name = file.name.lower()
        for suffix in (".csv", ".parquet", ".csv.gz"):
            if name.endswith(suffix):
                out[name.removesuffix(suffix)] = file
    return out


def export_kind(folder: str | Path) -> str | None:
    """``dbt_artifacts``, ``elementary`` or ``None`` from the table files a folder holds."""
    base = Path(folder)
    if not base.is_dir():
        return None
    tables = _table_files(base)
    if "dbt_run_results" in tables or "model_run_results" in tables:
        return "elementary"
    for kind, marker in _MARKERS.items():
        if marker in tables:
            return kind
    return None


def _read_table(file: Path) -> pl.DataFrame:
    try:
        if file.name.lower().endswith(".parquet"):
            frame = pl.read_parquet(file)
        else:
            frame = pl.read_csv(file, infer_schema=False)  # every column as text; cast below
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise ArtifactError(f"cannot be read ({exc})", path=str(file)) from None
    return frame.rename({c: c.lower() for c in frame.columns})


def read_export(folder: str | Path, *, timezone: str | None = None) -> tuple[Project, History]:
    """Read a folder of dbt_artifacts or elementary table exports.

    Args:
        folder: the folder holding one CSV or Parquet file per table.
        timezone: zone of timestamps written without an offset (elementary defaults to UTC).

    Returns:
        The project rebuilt from the models/sources tables, and the history tables.
    """
    base = Path(folder)
    kind = export_kind(base)
    if kind is None:
        raise ArtifactError(
            "holds neither a dbt_artifacts export (model_executions.csv/.parquet) nor an "
            "elementary export (dbt_run_results or dbt_invocations)",
            path=str(base),
        )
    files = _table_files(base)
    tables = {name: _read_table(f) for name, f in files.items()}
    zone = parse_zone(timezone if timezone is not None or kind != "elementary" else "UTC")
    reader = _dbt_artifacts if kind == "dbt_artifacts" else _elementary
    return reader(tables, files, zone, base)


# -- dbt_artifacts (brooklyn-data) -----------------------------------------------------------
def _dbt_artifacts(
    tables: dict[str, pl.DataFrame], files: dict[str, Path], zone: ZoneInfo | None, base: Path
) -> tuple[Project, History]:
    parts = []
    for table in ("model_executions", "seed_executions", "snapshot_executions", "test_executions"):
        if table not in tables:
            continue
        frame, path = tables[table], files[table]
        require_columns(frame, path, ("command_invocation_id", "node_id", "status"))
        parts.append(
            _node_runs(
                frame,
                path,
                run_id=as_text(frame, "command_invocation_id"),
                unique_id=as_text(frame, "node_id"),
                started=as_times(frame, "compile_started_at", path=path, zone=zone),
                completed=as_times(frame, "query_completed_at", path=path, zone=zone),
                elapsed="total_node_runtime",
                run_started=as_times(frame, "run_started_at", path=path, zone=zone),
                full_refresh=as_flags(frame, "was_full_refresh"),
                query_id=json_field(frame, "adapter_response", ("query_id", "job_id")),
            )
        )
    runs = _runs(
        parts,
        tables.get("invocations"),
        files.get("invocations"),
        zone,
        id_col="command_invocation_id",
        start_col="run_started_at",
        end_col=None,
        command_col="dbt_command",
        refresh_col="full_refresh_flag",
        job_col="dbt_cloud_job_id",
        args_col="invocation_args",
    )
    arrived = _arrivals(tables, files, "source_executions", "node_id", zone)
    catalogue = [
        (tables[t], files[t], kind)
        for t, kind in (
            ("models", "model"),
            ("seeds", "seed"),
            ("snapshots", "snapshot"),
            ("sources", "source"),
        )
        if t in tables
    ]
    project, changes = _project_from_tables(
        catalogue,
        zone=zone,
        base=base,
        id_col="node_id",
        db_col="database",
        schema_col="schema",
        path_col="path",
    )
    return project, History(
        runs=runs, node_runs=_public(parts), source_arrivals=arrived, code_changes=changes
    )


# -- elementary -------------------------------------------------------------------------------
def _elementary(
    tables: dict[str, pl.DataFrame], files: dict[str, Path], zone: ZoneInfo | None, base: Path
) -> tuple[Project, History]:
    table = "dbt_run_results" if "dbt_run_results" in tables else "model_run_results"
    parts = []
    if table in tables:
        frame, path = tables[table], files[table]
        require_columns(frame, path, ("unique_id", "status"))
        if "invocation_id" not in frame.columns:
            require_columns(frame, path, ("model_execution_id",))
        started = as_times(frame, "execute_started_at", path=path, zone=zone)
        generated = as_times(frame, "generated_at", path=path, zone=zone)
        completed = as_times(frame, "execute_completed_at", path=path, zone=zone)
        unique_id = as_text(frame, "unique_id")
        parts.append(
            _node_runs(
                frame,
                path,
                run_id=pl.select(
                    pl.coalesce(as_text(frame, "invocation_id"), _invocation_of(frame, unique_id))
                ).to_series(),
                unique_id=unique_id,
                started=started,
                completed=pl.select(pl.coalesce(completed, generated)).to_series(),
                elapsed="execution_time",
                run_started=pl.select(pl.coalesce(started, generated)).to_series(),
                full_refresh=as_flags(frame, "full_refresh"),
                query_id=as_text(frame, "query_id"),
            )
        )
    runs = _runs(
        parts,
        tables.get("dbt_invocations"),
        files.get("dbt_invocations"),
        zone,
        id_col="invocation_id",
        start_col="run_started_at",
        end_col="run_completed_at",
        command_col="command",
        refresh_col="full_refresh",
        job_col="job_id",
        args_col=None,
    )
    arrived = _arrivals(tables, files, "dbt_source_freshness_results", "unique_id", zone)
    catalogue = [
        (tables[t], files[t], kind)
        for t, kind in (("dbt_models", "model"), ("dbt_sources", "source"))
        if t in tables
    ]
    project, changes = _project_from_tables(
        catalogue,
        zone=zone,
        base=base,
        id_col="unique_id",
        db_col="database_name",
        schema_col="schema_name",
        path_col="original_path",
    )
    return project, History(
        runs=runs, node_runs=_public(parts), source_arrivals=arrived, code_changes=changes
    )


def _invocation_of(frame: pl.DataFrame, unique_id: pl.Series) -> pl.Series:
    # elementary's model_execution_id is "<invocation_id>.<unique_id>" (get_node_execution_id);
    # the model_run_results view has no invocation_id column of its own.
    execution = as_text(frame, "model_execution_id")
    suffix = "." + unique_id
    keep = execution.str.len_chars() - suffix.str.len_chars()
    matches = execution.str.ends_with(suffix)
    prefix = execution.str.slice(0, keep.clip(lower_bound=0))
    return pl.select(pl.when(matches).then(prefix)).to_series().alias("run_id")


# -- shared ----------------------------------------------------------------------------------
def _node_runs(
    frame: pl.DataFrame,
    path: Path,
    *,
    run_id: pl.Series,
    unique_id: pl.Series,
    started: pl.Series,
    completed: pl.Series,
    elapsed: str,
    run_started: pl.Series,
    full_refresh: pl.Series,
    query_id: pl.Series,
) -> pl.DataFrame:
    """One execution table as ``node_runs`` (validated, naming its file) plus run-level columns."""
    table = pl.DataFrame(
        [
            run_id.alias("run_id"),
            unique_id.alias("unique_id"),
            as_statuses(frame, "status").alias("status"),
            started.alias("started_at"),
            completed.alias("completed_at"),
            as_numbers(frame, elapsed, path=path).alias("execution_time_s"),
            as_counts(frame, "rows_affected", path=path).alias("rows_affected"),
            as_counts(frame, "bytes_processed", path=path).alias("bytes_processed"),
            query_id.alias("query_id"),
        ]
    )
    validate(table, "node_runs", path=str(path))
    return table.with_columns(
        run_started.alias("_run_started_at"), full_refresh.alias("_full_refresh")
    )


def _public(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        return empty("node_runs")
    return validate(pl.concat(parts, how="vertical_relaxed"), "node_runs")


def _runs(
    parts: list[pl.DataFrame],
    frame: pl.DataFrame | None,
    path: Path | None,
    zone: ZoneInfo | None,
    *,
    id_col: str,
    start_col: str,
    end_col: str | None,
    command_col: str,
    refresh_col: str,
    job_col: str,
    args_col: str | None,
) -> pl.DataFrame:
    """Runs from the executions (first start, last end, any failure) and the invocations table."""
    from_nodes = (
        pl.concat(parts, how="vertical_relaxed")
        .group_by("run_id")
        .agg(
            pl.col("_run_started_at").min().alias("started_at"),
            pl.col("completed_at").max().alias("finished_at"),
            pl.col("status").is_in(_FAILED).any().alias("failed"),
            pl.col("_full_refresh").any().alias("full_refresh"),
        )
        if parts
        else pl.DataFrame(
            schema={
                "run_id": pl.String,
                "started_at": UTC_TIME,
                "finished_at": UTC_TIME,
                "failed": pl.Boolean,
                "full_refresh": pl.Boolean,
            }
        )
    )
    if frame is None or path is None:
        runs = from_nodes.with_columns(
            pl.lit(None, pl.String).alias(c) for c in ("job_id", "command", "selection")
        )
    else:
        require_columns(frame, path, (id_col,))
        if args_col:
            selection = [
                " ".join(json_list(json_obj(v).get("select"))) or None
                for v in as_text(frame, args_col).to_list()
            ]
        else:
            selection = [" ".join(json_list(v)) or None for v in as_text(frame, "selected")]
        invocations = pl.DataFrame(
            [
                as_text(frame, id_col).alias("run_id"),
                as_times(frame, start_col, path=path, zone=zone).alias("i_started"),
                (
                    as_times(frame, end_col, path=path, zone=zone)
                    if end_col
                    else null_column(frame, "i_finished", UTC_TIME)
                ).alias("i_finished"),
                as_text(frame, command_col).alias("command"),
                as_text(frame, job_col).alias("job_id"),
                as_flags(frame, refresh_col).alias("i_refresh"),
                pl.Series("selection", selection, dtype=pl.String),
            ]
        )
        runs = invocations.join(from_nodes, on="run_id", how="full", coalesce=True).with_columns(
            pl.coalesce("i_started", "started_at").alias("started_at"),
            pl.coalesce("i_finished", "finished_at").alias("finished_at"),
            (pl.col("i_refresh").fill_null(False) | pl.col("full_refresh").fill_null(False)).alias(
                "full_refresh"
            ),
        )
    runs = runs.with_columns(
        pl.when(pl.col("failed").fill_null(False))
        .then(pl.lit("error"))
        .otherwise(pl.lit("success"))
        .alias("status"),
        pl.col("full_refresh").fill_null(False),
    )
    return validate(runs, "runs", path=str(path) if path else None).sort("started_at", "run_id")


def _arrivals(
    tables: dict[str, pl.DataFrame],
    files: dict[str, Path],
    table: str,
    id_col: str,
    zone: ZoneInfo | None,
) -> pl.DataFrame:
    if table not in tables:
        return empty("source_arrivals")
    frame, path = tables[table], files[table]
    require_columns(frame, path, (id_col, "max_loaded_at"))
    observed = pl.DataFrame(
        [
            as_text(frame, id_col).alias("unique_id"),
            as_times(frame, "max_loaded_at", path=path, zone=zone).alias("arrived_at"),
            as_times(frame, "snapshotted_at", path=path, zone=zone).alias("observed_at"),
        ]
    ).filter(pl.col("unique_id").is_not_null() & pl.col("arrived_at").is_not_null())
    return arrivals(observed)


_CATALOGUE_COLUMNS = (
    "name",
    "materialization",
    "package_name",
    "tags",
    "checksum",
    "alias",
    "identifier",
    "loaded_at_field",
    "depends_on_nodes",
)


def _project_from_tables(
    catalogue: list[tuple[pl.DataFrame, Path, str]],
    *,
    zone: ZoneInfo | None,
    base: Path,
    id_col: str,
    db_col: str,
    schema_col: str,
    path_col: str,
) -> tuple[Project, pl.DataFrame]:
    """The project from the models/sources tables, and code changes from their checksums."""
    parts = []
    for frame, path, kind in catalogue:
        _check_ids(frame, path, id_col, kind)
        stamp = "run_started_at" if "run_started_at" in frame.columns else "generated_at"
        parts.append(
            pl.DataFrame(
                [
                    as_text(frame, id_col).alias("unique_id"),
                    as_times(frame, stamp, path=path, zone=zone).alias("at"),
                    pl.Series("kind", [kind] * frame.height, dtype=pl.String),
                    as_text(frame, db_col).alias("database"),
                    as_text(frame, schema_col).alias("schema"),
                    pl.select(pl.coalesce(as_text(frame, path_col), as_text(frame, "path")))
                    .to_series()
                    .alias("path"),
                    *(as_text(frame, c) for c in _CATALOGUE_COLUMNS),
                ]
            ).filter(pl.col("unique_id").is_not_null())
        )
    if not any(p.filter(pl.col("kind") == "model").height for p in parts):
        raise ArtifactError(
            "has no models table (or one without rows) to rebuild the project from; export "
            "models/dbt_models too, or pass a manifest.json alongside",
            path=str(base),
        )
    rows = pl.concat(parts).with_row_index("_order")
    # The latest row per node describes it: later snapshot first, then later row in the file.
    latest = rows.sort("at", "_order", nulls_last=False).unique(
        "unique_id", keep="last", maintain_order=True
    )
    known = set(latest.get_column("unique_id").to_list())
    nodes, edges, missing = [], [], set()
    for row in latest.sort("unique_id").iter_rows(named=True):
        uid, is_source = row["unique_id"], row["kind"] == "source"
        nodes.append(
            Node(
                unique_id=uid,
                name=row["name"] or uid.split(".")[-1],
                resource_type=row["kind"],
                materialization=row["materialization"] or (None if is_source else row["kind"]),
                package=row["package_name"] or uid.split(".")[1],
                path=row["path"] or "",
                tags=tuple(json_list(row["tags"])),
                checksum=row["checksum"],
                database=row["database"],
                schema=row["schema"],
                alias=row["identifier"] if is_source else row["alias"],
                loaded_at_field=row["loaded_at_field"] if is_source else None,
            )
        )
        for parent in json_list(row["depends_on_nodes"]):
            if not parent.startswith("macro."):
                edges.append((parent, uid))
                if parent not in known:
                    missing.add(parent)
    if missing:
        warnings.warn(
            f"{base}: {len(missing)} parent node(s) are named in depends_on_nodes but described "
            f"by no exported table (e.g. {sorted(missing)[0]}); they are added as bare nodes. "
            "Export the matching table (sources, seeds, snapshots) to describe them.",
            SaosimWarning,
            stacklevel=4,
        )
        for uid in sorted(missing):
            nodes.append(
                Node(uid, uid.split(".")[-1], uid.split(".", 1)[0], package=uid.split(".")[1])
            )
    packages = Counter(n.package for n in nodes if n.resource_type == "model")
    name = packages.most_common(1)[0][0] if packages else "project"
    project = Project(nodes, edges, name=name, origin=str(base))
    return project, _changes(rows, project)


def _check_ids(frame: pl.DataFrame, path: Path, id_col: str, kind: str) -> None:
    """Every row of a models/sources table names a node: ``<kind>.<package>.<name>``."""
    require_columns(frame, path, (id_col,))
    ids = as_text(frame, id_col)
    bad = ids.is_null() | ~ids.str.contains(rf"^{kind}\.[^.]+\..")
    if bad.any():
        row = int(bad.arg_true()[0])
        raise SchemaError(
            f"{ids[row]!r:.80} is not a {kind} id like '{kind}.<package>.<name>'"
            + (f" ({int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""),
            path=str(path),
            field=id_col,
            row=row + 1,
        )
    # every parent named in depends_on_nodes is a node id (or a macro's, which is dropped)
    for row, value in enumerate(as_text(frame, "depends_on_nodes").to_list()):
        for parent in json_list(value):
            if not _NODE_ID.match(parent):
                raise SchemaError(
                    f"{parent!r:.80} is not a node id like 'model.<package>.<name>'",
                    path=str(path),
                    field="depends_on_nodes",
                    row=row + 1,
                )


_NODE_ID = re.compile(r"^[a-z_]+\.[^.]+\..")


def _changes(rows: pl.DataFrame, project: Project) -> pl.DataFrame:
    # Same rules as saosim.inputs.changes: the earliest snapshot is the baseline; a changed
    # checksum, or a node first seen after it, is a change at that snapshot's time.
    history = rows.filter((pl.col("kind") != "source") & pl.col("at").is_not_null()).sort(
        "at", "unique_id", "_order"
    )
    if history.height == 0:
        return empty("code_changes")
    baseline = history.get_column("at").min()
    previous = pl.col("checksum").shift(1).over("unique_id")
    first = pl.int_range(pl.len()).over("unique_id") == 0
    changed = history.filter(
        (~first & pl.col("checksum").ne_missing(previous)) | (first & (pl.col("at") > baseline))
    ).filter(pl.col("unique_id").is_in(list(project.nodes)))
    return validate(
        changed.select("unique_id", pl.col("at").alias("changed_at"), "checksum"),
        "code_changes",
    )
