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
``checksum`` history, with the same rules as :mod:`saosim.artifacts.changes`.

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

import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import polars as pl

from saosim.artifacts._io import _HAS_ZONE, parse_time
from saosim.artifacts.history import History
from saosim.artifacts.runs import arrivals_from_observations
from saosim.errors import ArtifactError, ConfigError, SaosimWarning, SchemaError
from saosim.graph import Node, Project
from saosim.schema import TABLES, empty, validate

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
_FAILED = frozenset({"error", "fail", "runtime error"})


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


def _col(frame: pl.DataFrame, name: str) -> list[Any]:
    return frame.get_column(name).to_list() if name in frame.columns else [None] * frame.height


def _times(
    frame: pl.DataFrame, name: str, *, path: Path, zone: ZoneInfo | None
) -> list[datetime | None]:
    values = _col(frame, name)
    out = []
    for row, value in enumerate(values, start=1):
        if isinstance(value, str) and zone is not None and value.strip():
            text = value.strip()
            if not _HAS_ZONE.search(text):
                try:
                    value = datetime.fromisoformat(text[:26]).replace(tzinfo=zone)
                except ValueError:
                    raise SchemaError(
                        f"{value!r} is not an ISO 8601 timestamp",
                        path=str(path),
                        field=name,
                        row=row,
                    ) from None
        elif isinstance(value, datetime) and value.tzinfo is None and zone is not None:
            value = value.replace(tzinfo=zone)
        try:
            out.append(parse_time(value, path=path, field=name, row=row))
        except ArtifactError as exc:
            raise SchemaError(
                exc.message + "; pass timezone='UTC' (or the zone the export used)",
                path=str(path),
                field=name,
                row=row,
            ) from None
    return out


def _json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if not text:
        return []
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Snowflake exports arrays as JSON; some tools write "a,b" — accept both.
        return [t.strip().strip("'\"") for t in text.strip("[]").split(",") if t.strip()]
    return [str(v) for v in parsed] if isinstance(parsed, list) else [str(parsed)]


def _status(value: Any) -> str | None:
    return str(value).strip().lower().replace("_", " ") if value not in (None, "") else None


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "t", "yes")


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None or number < 0 else int(number)


def _frame(rows: list[dict[str, Any]], table: str, path: Path | None = None) -> pl.DataFrame:
    if not rows:
        return empty(table)
    schema = TABLES[table]
    frame = pl.DataFrame({k: [r.get(k) for r in rows] for k in schema}, schema=schema, strict=False)
    return validate(frame, table, path=str(path) if path else None)


def _zone(timezone: str | None) -> ZoneInfo | None:
    if timezone is None:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{timezone!r} is not a time zone name", field="timezone") from None


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
    tables = {name: _read_table(f) for name, f in _table_files(base).items()}
    files = _table_files(base)
    zone = _zone(timezone if timezone is not None or kind != "elementary" else "UTC")
    if kind == "dbt_artifacts":
        return _dbt_artifacts(tables, files, zone, base)
    return _elementary(tables, files, zone, base)


# -- dbt_artifacts (brooklyn-data) -----------------------------------------------------------
def _dbt_artifacts(
    tables: dict[str, pl.DataFrame], files: dict[str, Path], zone: ZoneInfo | None, base: Path
) -> tuple[Project, History]:
    node_runs: list[dict[str, Any]] = []
    validated: list[pl.DataFrame] = []
    for table in ("model_executions", "seed_executions", "snapshot_executions", "test_executions"):
        if table not in tables:
            continue
        frame, path = tables[table], files[table]
        _require(frame, path, ("command_invocation_id", "node_id", "status"))
        first = len(node_runs)
        starts = _times(frame, "compile_started_at", path=path, zone=zone)
        ends = _times(frame, "query_completed_at", path=path, zone=zone)
        for i, row in enumerate(frame.iter_rows(named=True)):
            response = _json_obj(row.get("adapter_response"))
            node_runs.append(
                {
                    "run_id": row.get("command_invocation_id"),
                    "unique_id": row.get("node_id"),
                    "status": _status(row.get("status")),
                    "started_at": starts[i],
                    "completed_at": ends[i],
                    "execution_time_s": _float(row.get("total_node_runtime")),
                    "rows_affected": _int(row.get("rows_affected")),
                    "bytes_processed": _int(row.get("bytes_processed")),
                    "query_id": response.get("query_id") or response.get("job_id"),
                    "_full_refresh": _bool(row.get("was_full_refresh")),
                    "_run_started_at": None,
                }
            )
        for i, at in enumerate(_times(frame, "run_started_at", path=path, zone=zone)):
            node_runs[first + i]["_run_started_at"] = at
        validated.append(_frame([_public(r) for r in node_runs[first:]], "node_runs", path))
    runs = _runs_from(
        node_runs,
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
    arrivals = []
    if "source_executions" in tables:
        frame, path = tables["source_executions"], files["source_executions"]
        loaded = _times(frame, "max_loaded_at", path=path, zone=zone)
        seen = _times(frame, "snapshotted_at", path=path, zone=zone)
        ids = _col(frame, "node_id")
        arrivals = [(s or m, m, u) for s, m, u in zip(seen, loaded, ids, strict=True) if m and u]
    catalogue = [
        (t, kind)
        for t, kind in (
            ("models", "model"),
            ("seeds", "seed"),
            ("snapshots", "snapshot"),
            ("sources", "source"),
        )
        if t in tables
    ]
    project, changes = _project_from_tables(
        [(tables[t], files[t], kind) for t, kind in catalogue],
        zone=zone,
        base=base,
        id_col="node_id",
        db_col="database",
        schema_col="schema",
        path_col="path",
    )
    return project, History(
        runs=runs,
        node_runs=validate(pl.concat(validated), "node_runs") if validated else empty("node_runs"),
        source_arrivals=_frame(arrivals_from_observations(arrivals), "source_arrivals").sort(
            "unique_id", "arrived_at"
        ),
        code_changes=changes,
    )


# -- elementary -------------------------------------------------------------------------------
def _elementary(
    tables: dict[str, pl.DataFrame], files: dict[str, Path], zone: ZoneInfo | None, base: Path
) -> tuple[Project, History]:
    table = "dbt_run_results" if "dbt_run_results" in tables else "model_run_results"
    node_runs: list[dict[str, Any]] = []
    if table in tables:
        frame, path = tables[table], files[table]
        _require(frame, path, ("unique_id", "status"))
        if "invocation_id" not in frame.columns:
            _require(frame, path, ("model_execution_id",))
        starts = _times(frame, "execute_started_at", path=path, zone=zone)
        ends = _times(frame, "execute_completed_at", path=path, zone=zone)
        generated = _times(frame, "generated_at", path=path, zone=zone)
        for i, row in enumerate(frame.iter_rows(named=True)):
            node_runs.append(
                {
                    "run_id": row.get("invocation_id")
                    or _invocation_of(row.get("model_execution_id"), row.get("unique_id")),
                    "unique_id": row.get("unique_id"),
                    "status": _status(row.get("status")),
                    "started_at": starts[i],
                    "completed_at": ends[i] or generated[i],
                    "execution_time_s": _float(row.get("execution_time")),
                    "rows_affected": _int(row.get("rows_affected")),
                    "query_id": row.get("query_id") or None,
                    "_full_refresh": _bool(row.get("full_refresh")),
                    "_run_started_at": starts[i] or generated[i],
                }
            )
    runs = _runs_from(
        node_runs,
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
    arrivals = []
    if "dbt_source_freshness_results" in tables:
        frame, path = tables["dbt_source_freshness_results"], files["dbt_source_freshness_results"]
        loaded = _times(frame, "max_loaded_at", path=path, zone=zone)
        seen = _times(frame, "snapshotted_at", path=path, zone=zone)
        ids = _col(frame, "unique_id")
        arrivals = [(s or m, m, u) for s, m, u in zip(seen, loaded, ids, strict=True) if m and u]
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
        runs=runs,
        node_runs=_frame([_public(r) for r in node_runs], "node_runs", files.get(table)),
        source_arrivals=_frame(arrivals_from_observations(arrivals), "source_arrivals").sort(
            "unique_id", "arrived_at"
        ),
        code_changes=changes,
    )


# -- shared ----------------------------------------------------------------------------------
def _require(frame: pl.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise SchemaError(
                f"required column is missing (has: {', '.join(frame.columns[:8])}"
                + (" …" if frame.width > 8 else "")
                + ")",
                path=str(path),
                field=column,
            )


def _invocation_of(execution_id: Any, unique_id: Any) -> str | None:
    # elementary's model_execution_id is "<invocation_id>.<unique_id>" (get_node_execution_id);
    # the model_run_results view has no invocation_id column of its own.
    text, suffix = str(execution_id or ""), f".{unique_id}"
    return text[: -len(suffix)] if unique_id and text.endswith(suffix) else None


def _json_obj(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = orjson.loads(str(value))
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _runs_from(
    node_runs: list[dict[str, Any]],
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
    by_run: dict[str, dict[str, Any]] = {}
    for row in node_runs:
        run = by_run.setdefault(row["run_id"], {"run_id": row["run_id"], "status": "success"})
        for key, pick in (("started_at", min), ("finished_at", max)):
            value = row["_run_started_at"] if key == "started_at" else row["completed_at"]
            if value is not None:
                run[key] = pick(run[key], value) if run.get(key) else value
        if row["status"] in _FAILED:
            run["status"] = "error"
        if row["_full_refresh"]:
            run["full_refresh"] = True
    if frame is not None:
        starts = _times(frame, start_col, path=path, zone=zone)
        ends = _times(frame, end_col, path=path, zone=zone) if end_col else [None] * frame.height
        for i, row in enumerate(frame.iter_rows(named=True)):
            run_id = row.get(id_col)
            run = by_run.setdefault(run_id, {"run_id": run_id, "status": "success"})
            run["started_at"] = starts[i] or run.get("started_at")
            run["finished_at"] = ends[i] or run.get("finished_at")
            run["command"] = row.get(command_col)
            run["job_id"] = str(row[job_col]) if row.get(job_col) not in (None, "") else None
            refresh = _bool(row.get(refresh_col))
            run["full_refresh"] = bool(refresh or run.get("full_refresh"))
            if args_col:
                select = _json_obj(row.get(args_col)).get("select")
                run["selection"] = " ".join(_json_list(select)) or None
            else:
                run["selection"] = " ".join(_json_list(row.get("selected"))) or None
    return _frame(list(by_run.values()), "runs", path).sort("started_at", "run_id")


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
    latest: dict[str, tuple[datetime | None, dict[str, Any], str]] = {}
    checksums: list[tuple[datetime, str, str | None]] = []
    for frame, path, kind in catalogue:
        stamps = (
            _times(frame, "run_started_at", path=path, zone=zone)
            if "run_started_at" in frame.columns
            else _times(frame, "generated_at", path=path, zone=zone)
        )
        for at, row in zip(stamps, frame.iter_rows(named=True), strict=True):
            uid = row.get(id_col)
            if not uid:
                continue
            if uid not in latest or (at and (latest[uid][0] is None or at >= latest[uid][0])):
                latest[uid] = (at, row, kind)
            if kind != "source" and at is not None:
                checksums.append((at, uid, row.get("checksum") or None))
    nodes, edges, missing = [], [], set()
    for uid, (_, row, kind) in sorted(latest.items()):
        is_source = kind == "source"
        nodes.append(
            Node(
                unique_id=uid,
                name=row.get("name") or uid.split(".")[-1],
                resource_type=kind,
                materialization=row.get("materialization") or (None if is_source else kind),
                package=row.get("package_name") or uid.split(".")[1],
                path=row.get(path_col) or row.get("path") or "",
                tags=tuple(_json_list(row.get("tags"))),
                checksum=row.get("checksum") or None,
                database=row.get(db_col),
                schema=row.get(schema_col),
                alias=row.get("identifier") if is_source else row.get("alias"),
                loaded_at_field=row.get("loaded_at_field") if is_source else None,
            )
        )
        for parent in _json_list(row.get("depends_on_nodes")):
            if parent.startswith("macro."):
                continue
            edges.append((parent, uid))
            if parent not in latest:
                missing.add(parent)
    if missing:
        warnings.warn(
            f"{base}: {len(missing)} parent node(s) are named in depends_on_nodes but described "
            f"by no exported table (e.g. {sorted(missing)[0]}); they are added as bare nodes. "
            "Export the matching table (sources, seeds, snapshots) to describe them.",
            SaosimWarning,
            stacklevel=3,
        )
        for uid in sorted(missing):
            kind = uid.split(".", 1)[0]
            nodes.append(Node(uid, uid.split(".")[-1], kind, package=uid.split(".")[1]))
    if not nodes:
        raise ArtifactError(
            "has no models table to rebuild the project from; export models/dbt_models too, "
            "or pass a manifest.json alongside",
            path=str(base),
        )
    packages = Counter(n.package for n in nodes if n.resource_type == "model")
    name = packages.most_common(1)[0][0] if packages else None
    project = Project(nodes, edges, name=name or "project", origin=str(base))
    return project, _changes_from_checksums(checksums, project)


def _changes_from_checksums(
    checksums: list[tuple[datetime, str, str | None]], project: Project
) -> pl.DataFrame:
    # Same rules as saosim.artifacts.changes: the earliest snapshot is the baseline; a changed
    # checksum, or a node first seen after it, is a change at that snapshot's time.
    if not checksums:
        return empty("code_changes")
    checksums.sort(key=lambda t: (t[0], t[1]))
    baseline = checksums[0][0]
    last: dict[str, str | None] = {}
    rows = []
    for at, uid, checksum in checksums:
        if uid in last and last[uid] == checksum:
            continue
        if uid in last or at > baseline:
            rows.append({"unique_id": uid, "changed_at": at, "checksum": checksum})
        last[uid] = checksum
    rows = [r for r in rows if r["unique_id"] in project.nodes]
    return _frame(rows, "code_changes")
