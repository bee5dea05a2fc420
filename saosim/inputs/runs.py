"""dbt ``run_results.json`` (v4–v6) and ``sources.json`` (v3, dbt-core and Fusion) → history tables.

One file, a list of files, or a folder tree holding many runs (one ``target/`` copy per run, or
dbt Cloud artifact downloads such as ``run_1234_run_results.json``). Each run_results file is
one run: ``run_id`` is ``metadata.invocation_id``; the job is ``DBT_CLOUD_JOB_ID`` from
``metadata.env`` when dbt Cloud wrote the file, else the first folder of a two-level tree
(``<job>/<run>/run_results.json``), else — when the folder given holds one folder per run — that
folder's own name; a file given by itself has no job. Statuses are kept as dbt wrote them
(lower-cased): ``reused`` and ``skipped`` stay what they are.

Source arrivals come from successive ``sources.json`` files: each time a source's
``max_loaded_at`` moves past every value seen before, new data landed at that time
(``arrived_at = max_loaded_at``, ``observed_at = snapshotted_at``, ``how = loaded_at_field``).
The first observation counts too: it is a real landing time.

Every file is checked against its shape (:mod:`saosim.inputs._shapes`) before it is read, and
against plausibility rules: a negative ``execution_time``, a step that completes before it
starts, a run whose ``generated_at`` is before its start, and a ``max_loaded_at`` more than
:data:`CLOCK_SKEW` after the query that observed it (data from the future) are errors naming
the file, the row and the field.

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

from saosim.errors import ArtifactError, SchemaError, reading
from saosim.inputs._io import parse_time, parse_times, read_json, schema_version
from saosim.inputs._shape import check
from saosim.inputs._shapes import RUN_RESULTS, SOURCES
from saosim.inputs.history import History
from saosim.inputs.schema import TABLES, UTC_TIME, empty, validate

__all__ = [
    "CLOCK_SKEW",
    "RUN_RESULTS_VERSIONS",
    "SOURCES_VERSIONS",
    "arrivals",
    "arrivals_from_observations",
    "artifact_kind",
    "find_artifacts",
    "read_runs",
    "read_sources",
]

RUN_RESULTS_VERSIONS = range(4, 7)
#: How far a source's ``max_loaded_at`` may be after the query that saw it (warehouse and dbt
#: clocks differ a little); more is data from the future — usually a loaded_at_field in a local
#: zone read as UTC.
CLOCK_SKEW = timedelta(hours=1)
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
    if stem.endswith("semantic_manifest"):
        return None  # MetricFlow's file beside manifest.json in every target/ since dbt 1.6
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
    if len(parts) >= 2:
        return parts[0]  # <job>/<run>/run_results.json
    # <run>/run_results.json: the folder given holds the runs of one job, and names it.
    return root.name if parts else None


def _check_version(data: dict[str, Any], path: Path, kind: str, versions: range) -> None:
    """The kind and version, then the type of every field read (the shape of ``kind``)."""
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
    shape = RUN_RESULTS if kind == "run-results" else SOURCES
    check(data, shape, path=str(path), row_lists=frozenset({"results"}))


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


def _timing(result: dict[str, Any]) -> tuple[Any, Any]:
    """The execute step's (start, end) as written; the compile step's when there is none."""
    chosen: tuple[Any, Any] = (None, None)
    for step in result.get("timing") or ():
        if isinstance(step, dict):
            name = step.get("name")
            if name == "execute":
                return step.get("started_at"), step.get("completed_at")
            if name == "compile" and chosen == (None, None):
                chosen = (step.get("started_at"), step.get("completed_at"))
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
) -> tuple[dict[str, Any], pl.DataFrame]:
    """One run_results file → (its ``runs`` row as a dict, its canonical ``node_runs`` table)."""
    file = Path(path)
    with reading(file):
        return _read_run_results(file, job_id)


def _read_run_results(file: Path, job_id: str | None) -> tuple[dict[str, Any], pl.DataFrame]:
    data = read_json(file, shape=RUN_RESULTS)
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
    columns: dict[str, list[Any]] = {name: [] for name in _NODE_RUN_COLUMNS}
    steps: dict[str, list[Any]] = {"start": [], "end": [], "row": []}
    for row, result in enumerate(_results(data, file)):
        for step in result.get("timing") or ():
            if step.get("started_at") and step.get("completed_at"):
                steps["start"].append(step["started_at"])
                steps["end"].append(step["completed_at"])
                steps["row"].append(row)
        start, end = _timing(result)
        adapter = result.get("adapter_response") or {}
        elapsed = result.get("execution_time")
        columns["unique_id"].append(result["unique_id"])
        columns["status"].append(str(result.get("status") or "").strip().lower())
        columns["started_at"].append(start)
        columns["completed_at"].append(end)
        columns["execution_time_s"].append(
            float(elapsed) if isinstance(elapsed, int | float) else None
        )
        columns["rows_affected"].append(_int(adapter.get("rows_affected")))
        columns["bytes_processed"].append(_int(adapter.get("bytes_processed")))
        query_id = adapter.get("query_id") or adapter.get("job_id")
        columns["query_id"].append(None if query_id is None else str(query_id))
    node_runs = _node_runs_frame(run_id, columns, file)
    _steps_forward(steps, file)
    started = parse_time(
        meta.get("invocation_started_at"), path=file, field="metadata.invocation_started_at"
    )
    if started is None:
        first_start = node_runs.get_column("started_at").min()
        elapsed_total = data.get("elapsed_time")
        started = first_start or (
            finished - timedelta(seconds=float(elapsed_total))
            if isinstance(elapsed_total, int | float)
            else finished
        )
    if started > finished:
        raise ArtifactError(
            f"{finished.isoformat()} is before the run started ({started.isoformat()})",
            path=str(file),
            field="metadata.generated_at",
        )
    failed = node_runs.get_column("status").is_in(list(_FAILED)).any()
    run = {
        "run_id": run_id,
        "job_id": str(env.get("DBT_CLOUD_JOB_ID") or job_id or "") or None,
        "started_at": started,
        "finished_at": finished,
        "status": "error" if failed else "success",
        "command": args.get("which") or args.get("command") or args.get("rpc_method"),
        "selection": _selection(args),
        "full_refresh": bool(args.get("full_refresh")),
        "threads": _int(args.get("threads")) or None,
    }
    return run, node_runs


def _steps_forward(steps: dict[str, list[Any]], file: Path) -> None:
    """Every timing step (compile and execute) completes no earlier than it starts."""
    if not steps["row"]:
        return
    parsed = []
    for key in ("start", "end"):
        field = "timing.started_at" if key == "start" else "timing.completed_at"
        try:
            parsed.append(
                parse_times(pl.Series(steps[key], dtype=pl.String), path=file, field=field)
            )
        except ArtifactError as exc:  # number the result, not the step
            row = None if exc.row is None else steps["row"][exc.row]
            raise ArtifactError(exc.message, path=str(file), field=field, row=row) from None
    start, end = parsed
    backwards = end < start
    if backwards.any():
        i = int(backwards.arg_true()[0])
        raise ArtifactError(
            f"{end[i].isoformat()} is before started_at {start[i].isoformat()}"
            + (f" (and {int(backwards.sum()) - 1} more steps)" if backwards.sum() > 1 else ""),
            path=str(file),
            field="timing.completed_at",
            row=steps["row"][i],
        )


_NODE_RUN_COLUMNS = (
    "unique_id",
    "status",
    "started_at",
    "completed_at",
    "execution_time_s",
    "rows_affected",
    "bytes_processed",
    "query_id",
)


def _node_runs_frame(run_id: str, columns: dict[str, list[Any]], file: Path) -> pl.DataFrame:
    height = len(columns["unique_id"])
    frame = pl.DataFrame(
        {
            "run_id": pl.Series([run_id] * height, dtype=pl.String),
            "unique_id": pl.Series(columns["unique_id"], dtype=pl.String),
            # dbt writes "runtime error"; tolerate "runtime_error" from other writers.
            "status": pl.Series(columns["status"], dtype=pl.String).str.replace_all("_", " "),
            "started_at": parse_times(
                pl.Series(columns["started_at"], dtype=pl.String),
                path=file,
                field="timing.started_at",
            ),
            "completed_at": parse_times(
                pl.Series(columns["completed_at"], dtype=pl.String),
                path=file,
                field="timing.completed_at",
            ),
            "execution_time_s": pl.Series(columns["execution_time_s"], dtype=pl.Float64),
            "rows_affected": pl.Series(columns["rows_affected"], dtype=pl.Int64),
            "bytes_processed": pl.Series(columns["bytes_processed"], dtype=pl.Int64),
            "query_id": pl.Series(columns["query_id"], dtype=pl.String),
        }
    ).with_columns(pl.when(pl.col("status") != "").then(pl.col("status")).alias("status"))
    backwards = frame.get_column("completed_at") < frame.get_column("started_at")
    if backwards.any():
        row = int(backwards.arg_true()[0])
        raise ArtifactError(
            f"{frame['completed_at'][row].isoformat()} is before started_at "
            f"{frame['started_at'][row].isoformat()}"
            + (f" (and {int(backwards.sum()) - 1} more rows)" if backwards.sum() > 1 else ""),
            path=str(file),
            field="timing.completed_at",
            row=row,
        )
    # Validated file by file so a bad status or a repeated node names the file and its row.
    return validate(frame, "node_runs", path=str(file), row_offset=0)


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
    if not isinstance(paths, str | os.PathLike):
        paths = list(paths)  # read twice below (run_results, then sources): not a generator
    runs: list[dict[str, Any]] = []
    node_runs: list[pl.DataFrame] = []
    seen: dict[str, Path] = {}
    for file, root in _as_files(paths, "run_results"):
        run, frame = read_run_results(file, job_id=_job_from_folder(file, root))
        if run["run_id"] in seen:
            raise SchemaError(
                f"run id {run['run_id']!r} appears in both {seen[run['run_id']]} and {file}; "
                "the same run was copied twice — keep one of them",
                path=str(file),
                field="metadata.invocation_id",
            )
        seen[run["run_id"]] = file
        runs.append(run)
        node_runs.append(frame)
    sources_files = [f for f, _ in _as_files(paths, "sources")] if _any_dir(paths) else []
    return History(
        runs=_frame(runs, "runs").sort("started_at", "run_id"),
        node_runs=pl.concat(node_runs) if node_runs else empty("node_runs"),
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


def read_sources(paths: str | Path | Iterable[str | Path]) -> pl.DataFrame:
    """Source arrivals from one or more ``sources.json`` files (or folders holding them).

    Returns:
        The canonical ``source_arrivals`` table, sorted by source and time.

    >>> from pathlib import Path
    >>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
    >>> read_sources(fixtures / "sources_fusion.json").get_column("unique_id").to_list()
    ['source.shop.raw.customers', 'source.shop.raw.orders']
    """
    frames = []
    for file, _ in _as_files(paths, "sources"):
        with reading(file):
            frames.append(_observations(file))
    if not frames:
        return empty("source_arrivals")
    return arrivals(pl.concat(frames))


def _observations(file: Path) -> pl.DataFrame:
    data = read_json(file, shape=SOURCES)
    _check_version(data, file, "sources", SOURCES_VERSIONS)
    results = _results(data, file)
    ids = pl.Series("unique_id", [r["unique_id"] for r in results], dtype=pl.String)
    loaded = parse_times(
        pl.Series([r.get("max_loaded_at") for r in results], dtype=pl.String),
        path=file,
        field="results.max_loaded_at",
    )
    seen = parse_times(
        pl.Series([r.get("snapshotted_at") for r in results], dtype=pl.String),
        path=file,
        field="results.snapshotted_at",
    )
    written = parse_time(
        data["metadata"].get("generated_at"), path=file, field="metadata.generated_at"
    )
    observed = seen if written is None else seen.fill_null(written)
    future = (loaded - observed) > CLOCK_SKEW
    if future.any():
        row = int(future.arg_true()[0])
        raise ArtifactError(
            f"{loaded[row].isoformat()} is after the freshness query ran "
            f"({observed[row].isoformat()}): data from the future. Is the source's "
            "loaded_at_field in a local time zone? Convert it to UTC in the source's "
            "loaded_at_field expression"
            + (f" ({int(future.sum()) - 1} more rows)" if future.sum() > 1 else ""),
            path=str(file),
            field="results.max_loaded_at",
            row=row,
        )
    return (
        pl.DataFrame({"unique_id": ids, "arrived_at": loaded, "observed_at": seen})
        # a runtime error: the query returned no max_loaded_at
        .filter(pl.col("arrived_at").is_not_null())
    )


def arrivals(observations: pl.DataFrame) -> pl.DataFrame:
    """Observations (``unique_id``, ``arrived_at`` = max_loaded_at, ``observed_at``) → arrivals.

    An observation is an arrival when its ``max_loaded_at`` is later than every earlier one of
    the same source (earlier by ``observed_at``); the same value seen again, or a value behind
    one already seen, is not new data. A missing ``observed_at`` counts as ``arrived_at``.

    >>> from datetime import datetime, UTC
    >>> t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(4)]
    >>> seen = pl.DataFrame({"unique_id": ["s", "s", "s"], "arrived_at": [t[0], t[0], t[2]],
    ...                      "observed_at": [t[1], t[2], t[3]]})
    >>> [a.hour for a in arrivals(seen).get_column("arrived_at")]
    [0, 2]
    """
    frame = observations.with_columns(
        pl.coalesce("observed_at", "arrived_at").alias("observed_at")
    ).sort("unique_id", "observed_at", "arrived_at")
    latest_before = pl.col("arrived_at").cum_max().shift(1).over("unique_id")
    new = frame.filter(latest_before.is_null() | (pl.col("arrived_at") > latest_before))
    return validate(
        new.with_columns(pl.lit("loaded_at_field").alias("how")), "source_arrivals"
    ).sort("unique_id", "arrived_at")


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
    items = list(observations)
    frame = pl.DataFrame(
        {
            "unique_id": [uid for _, _, uid in items],
            "arrived_at": [loaded for _, loaded, _ in items],
            "observed_at": [observed for observed, _, _ in items],
        },
        schema={"unique_id": pl.String, "arrived_at": UTC_TIME, "observed_at": UTC_TIME},
    )
    return arrivals(frame).sort("observed_at", "unique_id").to_dicts()
