"""dbt ``run_results.json`` (v4–v6) and ``sources.json`` (v3, dbt-core and Fusion) → history tables.

One file, a list of files, or a folder tree holding many runs (one ``target/`` copy per run, or
dbt Cloud artifact downloads such as ``run_1234_run_results.json``). Each run_results file is
one run: ``run_id`` is ``metadata.invocation_id``; the job is ``DBT_CLOUD_JOB_ID`` from
``metadata.env`` when dbt Cloud wrote the file, else the first folder of a two-level tree
(``<job>/<run>/run_results.json``), else unknown. Statuses are kept as dbt wrote them
(lower-cased): ``reused`` and ``skipped`` stay what they are.

Source arrivals come from successive ``sources.json`` files: each time a source's
``max_loaded_at`` moves past every value seen before, new data landed at that time
(``arrived_at = max_loaded_at``, ``observed_at = snapshotted_at``, ``how = loaded_at_field``).
The first observation counts too: it is a real landing time.

>>> from pathlib import Path
>>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
>>> h = read_runs(fixtures / "runs_tree")
>>> h.runs.height, sorted(h.runs["job_id"].unique().to_list())
(3, ['hourly', 'nightly'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from saosim.artifacts._io import parse_time, read_json, schema_version
from saosim.artifacts.history import History
from saosim.errors import ArtifactError, SchemaError
from saosim.schema import TABLES, empty, validate

__all__ = [
    "RUN_RESULTS_VERSIONS",
    "SOURCES_VERSIONS",
    "arrivals_from_observations",
    "artifact_kind",
    "find_artifacts",
    "read_runs",
    "read_sources",
]

RUN_RESULTS_VERSIONS = range(4, 7)
SOURCES_VERSIONS = range(3, 4)
_KINDS = ("run_results", "sources", "manifest")
_FAILED = frozenset({"error", "fail", "runtime error"})


def artifact_kind(path: Path) -> str | None:
    """``manifest``, ``run_results`` or ``sources`` from a file name, else ``None``.

    >>> artifact_kind(Path("runs/70401/run_70401_run_results.json.gz"))
    'run_results'
    >>> artifact_kind(Path("target/catalog.json")) is None
    True
    """
    name = path.name.lower()
    if not name.endswith((".json", ".json.gz")):
        return None
    # "manifest@2024-09-27_eb2a5783.json.gz": a copy tagged with its date is still a manifest.
    stem = name.removesuffix(".gz").removesuffix(".json").split("@", 1)[0]
    for kind in _KINDS:
        # The kind must end the name: "run_70401_run_results.json" and "target__sources.json"
        # are artifacts, "sources_config.json" is not.
        if stem == kind or stem.endswith(("_" + kind, "-" + kind, "." + kind)):
            return kind
    return None


def find_artifacts(root: str | Path) -> dict[str, list[Path]]:
    """Every manifest, run_results and sources file under a folder (or the one file given)."""
    base = Path(root)
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    found: dict[str, list[Path]] = {kind: [] for kind in _KINDS}
    for file in files:
        kind = artifact_kind(file)
        if kind:
            found[kind].append(file)
    return found


def _job_from_folder(file: Path, root: Path) -> str | None:
    try:
        parts = list(file.parent.relative_to(root).parts)
    except ValueError:
        return None
    # `<job>/<run>/target/run_results.json`: the target/ folder says nothing about the job.
    while parts and parts[-1].lower() == "target":
        parts.pop()
    return parts[0] if len(parts) >= 2 else None


def _check_version(data: dict[str, Any], path: Path, kind: str, versions: range) -> None:
    found, version = schema_version(data, path)
    if found != kind:
        raise ArtifactError(
            f"is a dbt {found} artifact, expected {kind}",
            path=str(path),
            field="metadata.dbt_schema_version",
        )
    if version not in versions:
        raise ArtifactError(
            f"{kind} schema v{version} is not supported; saosim reads "
            f"v{versions.start}–v{versions.stop - 1} (dbt-core ≥ 1.0 / Fusion)",
            path=str(path),
            field="metadata.dbt_schema_version",
        )


def _results(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    results = data.get("results")
    if not isinstance(results, list):
        raise ArtifactError("has no 'results' list", path=str(path), field="results")
    for i, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("unique_id"), str):
            raise ArtifactError(
                "result has no unique_id", path=str(path), field="results.unique_id", row=i
            )
    return results


def _timing(result: dict[str, Any], path: Path, row: int) -> tuple[datetime | None, ...]:
    execute = compile_ = None
    for step in result.get("timing") or []:
        if not isinstance(step, dict):
            continue
        start = parse_time(step.get("started_at"), path=path, field="timing.started_at", row=row)
        end = parse_time(step.get("completed_at"), path=path, field="timing.completed_at", row=row)
        if step.get("name") == "execute":
            execute = (start, end)
        elif step.get("name") == "compile":
            compile_ = (start, end)
    chosen = execute or compile_ or (None, None)
    return chosen


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return None if number < 0 else number  # adapters write -1 for "unknown"


def _selection(args: dict[str, Any]) -> str | None:
    select = args.get("select") or args.get("models")
    if isinstance(select, list | tuple):
        return " ".join(str(s) for s in select) or None
    return str(select) if select else None


def read_run_results(
    path: str | Path, *, job_id: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run_results file → (its ``runs`` row, its ``node_runs`` rows) as plain dicts."""
    file = Path(path)
    data = read_json(file)
    _check_version(data, file, "run-results", RUN_RESULTS_VERSIONS)
    meta = data["metadata"]
    run_id = meta.get("invocation_id")
    if not run_id:
        raise ArtifactError("is missing", path=str(file), field="metadata.invocation_id")
    finished = parse_time(meta.get("generated_at"), path=file, field="metadata.generated_at")
    if finished is None:
        raise ArtifactError("is missing", path=str(file), field="metadata.generated_at")
    env = meta.get("env") or {}
    args = data.get("args") or {}
    node_runs = []
    first_start: datetime | None = None
    failed = False
    for i, result in enumerate(_results(data, file)):
        start, end = _timing(result, file, i)
        if start and (first_start is None or start < first_start):
            first_start = start
        status = str(result.get("status") or "").strip().lower().replace("_", " ")
        failed = failed or status in _FAILED
        adapter = result.get("adapter_response") or {}
        elapsed = result.get("execution_time")
        node_runs.append(
            {
                "run_id": run_id,
                "unique_id": result["unique_id"],
                "status": status or None,
                "started_at": start,
                "completed_at": end,
                "execution_time_s": float(elapsed) if isinstance(elapsed, int | float) else None,
                "rows_affected": _int(adapter.get("rows_affected")),
                "bytes_processed": _int(adapter.get("bytes_processed")),
                "query_id": adapter.get("query_id") or adapter.get("job_id"),
            }
        )
    started = parse_time(
        meta.get("invocation_started_at"), path=file, field="metadata.invocation_started_at"
    )
    if started is None:
        elapsed_total = data.get("elapsed_time")
        started = first_start or (
            finished - timedelta(seconds=float(elapsed_total))
            if isinstance(elapsed_total, int | float)
            else finished
        )
    run = {
        "run_id": run_id,
        "job_id": str(env.get("DBT_CLOUD_JOB_ID") or job_id or "") or None,
        "started_at": started,
        "finished_at": finished,
        "status": "error" if failed else "success",
        "command": args.get("which") or args.get("command") or args.get("rpc_method"),
        "selection": _selection(args),
        "full_refresh": bool(args.get("full_refresh")),
    }
    return run, node_runs


def _as_files(paths: str | Path | Iterable[str | Path], kind: str) -> list[tuple[Path, Path]]:
    if isinstance(paths, str | Path | os.PathLike):
        paths = [paths]
    out = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            out += [(f, root) for f in find_artifacts(root)[kind]]
        elif root.is_file():
            out.append((root, root.parent))
        else:
            raise ArtifactError("does not exist", path=str(root))
    return out


def read_runs(paths: str | Path | Iterable[str | Path]) -> History:
    """Read run_results files (and sources.json files found beside them) into a :class:`History`.

    Args:
        paths: a run_results file, a folder tree of runs, or several of these.

    Raises:
        ArtifactError: a file is unreadable or of an unsupported version.
        SchemaError: two files hold the same ``invocation_id`` (the message names both).
    """
    runs: list[dict[str, Any]] = []
    node_runs: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for file, root in _as_files(paths, "run_results"):
        run, rows = read_run_results(file, job_id=_job_from_folder(file, root))
        if run["run_id"] in seen:
            raise SchemaError(
                f"run id {run['run_id']!r} appears in both {seen[run['run_id']]} and {file}; "
                "the same run was copied twice — keep one of them",
                path=str(file),
                field="metadata.invocation_id",
            )
        seen[run["run_id"]] = file
        runs.append(run)
        for i, row in enumerate(rows):
            row["_row"] = i
            row["_file"] = str(file)
        node_runs += rows
    sources_files = [f for f, _ in _as_files(paths, "sources")] if _any_dir(paths) else []
    return History(
        runs=_frame(runs, "runs").sort("started_at", "run_id"),
        node_runs=_validated_node_runs(node_runs),
        source_arrivals=read_sources(sources_files) if sources_files else empty("source_arrivals"),
    )


def _any_dir(paths: str | Path | Iterable[str | Path]) -> bool:
    if isinstance(paths, str | Path | os.PathLike):
        paths = [paths]
    return any(Path(p).is_dir() for p in paths)


def _frame(rows: list[dict[str, Any]], table: str) -> pl.DataFrame:
    if not rows:
        return empty(table)
    schema = TABLES[table]
    frame = pl.DataFrame({k: [r.get(k) for r in rows] for k in schema}, schema=schema, strict=False)
    return validate(frame, table)


def _validated_node_runs(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return empty("node_runs")
    # Validate file by file so a bad status or a repeated node names the file and its row.
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_file.setdefault(row["_file"], []).append(row)
    frames = [
        validate(_frame_raw(file_rows, "node_runs"), "node_runs", path=file, row_offset=0)
        for file, file_rows in by_file.items()
    ]
    return validate(pl.concat(frames), "node_runs")


def _frame_raw(rows: list[dict[str, Any]], table: str) -> pl.DataFrame:
    schema = TABLES[table]
    return pl.DataFrame({k: [r.get(k) for r in rows] for k in schema}, schema=schema, strict=False)


def read_sources(paths: str | Path | Iterable[str | Path]) -> pl.DataFrame:
    """Source arrivals from one or more ``sources.json`` files (or folders holding them).

    Returns:
        The canonical ``source_arrivals`` table, sorted by source and time.
    """
    observations = []
    for file, _ in _as_files(paths, "sources"):
        data = read_json(file)
        _check_version(data, file, "sources", SOURCES_VERSIONS)
        for i, result in enumerate(_results(data, file)):
            loaded = parse_time(
                result.get("max_loaded_at"), path=file, field="results.max_loaded_at", row=i
            )
            if loaded is None:  # a runtime error: the query did not return a value
                continue
            snapshot = parse_time(
                result.get("snapshotted_at"), path=file, field="results.snapshotted_at", row=i
            )
            observations.append((snapshot or loaded, loaded, result["unique_id"]))
    rows = arrivals_from_observations(observations)
    return _frame(rows, "source_arrivals").sort("unique_id", "arrived_at")


def arrivals_from_observations(
    observations: Iterable[tuple[datetime, datetime, str]],
) -> list[dict[str, Any]]:
    """``(observed_at, max_loaded_at, source id)`` observations → arrival rows.

    An observation is an arrival when its ``max_loaded_at`` is later than every earlier one of
    the same source; the same value seen again, or a value behind one seen, is not new data.

    >>> from datetime import datetime, UTC
    >>> t = lambda h: datetime(2026, 1, 1, h, tzinfo=UTC)
    >>> [r["arrived_at"].hour for r in arrivals_from_observations(
    ...     [(t(2), t(1), "s"), (t(3), t(1), "s"), (t(5), t(4), "s")])]
    [1, 4]
    """
    latest: dict[str, datetime] = {}
    rows = []
    for observed, loaded, uid in sorted(observations):
        if uid in latest and loaded <= latest[uid]:
            continue
        latest[uid] = loaded
        rows.append(
            {
                "unique_id": uid,
                "arrived_at": loaded,
                "observed_at": observed,
                "how": "loaded_at_field",
            }
        )
    return rows
