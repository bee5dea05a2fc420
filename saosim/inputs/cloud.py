"""dbt Cloud run exports: the Admin API's runs list plus each run's downloaded artifacts.

A folder holding what the dbt Cloud Admin API v2 returns for runs, and each run's artifacts::

    cloud-export/
      runs.json                 GET /api/v2/accounts/<account>/runs/?job_definition_id=…
      runs-page-2.json          (more pages: any runs*.json)
      70401/run_results.json    GET …/runs/70401/artifacts/run_results.json
      70401/manifest.json       GET …/runs/70401/artifacts/manifest.json   (optional)
      70401/sources.json        GET …/runs/70401/artifacts/sources.json    (optional)

One line makes it::

    for id in $(jq '.data[].id' runs.json); do mkdir -p $id; for a in run_results manifest \\
      sources; do curl -sfH "Authorization: Token $DBT_TOKEN" -o $id/$a.json \\
      "$API/accounts/$ACCOUNT/runs/$id/artifacts/$a.json"; done; done

Each API run (``data`` is a list, or one run object for a single-run response) becomes one row
of ``runs``: ``run_id`` is the dbt Cloud run id, ``job_id`` its ``job_definition_id``, the
times are the API's ``started_at``/``finished_at``, ``status`` is ``error`` for an errored or
cancelled run (API status 20/30) or one with a failed node, the command and selection come from
the ``dbt …`` run step (``Invoke dbt with `dbt build -s tag:hourly```) and ``full_refresh``
from a ``--full-refresh`` in it. Node runs come from ``<id>/run_results.json`` (the artifacts of
the run's last dbt step); arrivals from ``<id>/sources.json``; manifests go to
:func:`saosim.inputs.ingest` for the project and its code changes. A run that is not complete,
or whose run_results was not downloaded, is dropped with a :class:`~saosim.errors.SaosimWarning`
that counts them (a replay cannot know what it built).

>>> from pathlib import Path
>>> folder = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts" / "cloud_runs"
>>> export = read_cloud_export(folder)
>>> export.history.runs.get_column("run_id").to_list(), len(export.manifests)
(['90001', '90002', '90003'], 1)
"""

from __future__ import annotations

import re
import shlex
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from saosim.errors import ArtifactError, SaosimWarning, SchemaError, reading
from saosim.inputs._io import is_json_file, parse_time, read_json
from saosim.inputs._shape import Bool, Int, ListOf, Obj, OneOf, Str, check
from saosim.inputs.history import History
from saosim.inputs.runs import artifact_kind, read_run_results, read_sources
from saosim.inputs.schema import TABLES, empty, validate

__all__ = ["API_RUN", "CloudExport", "cloud_runs", "is_cloud_export", "read_cloud_export"]

_TEXT = Str()
_ID = Int(lo=0)
#: What saosim reads of one run of the dbt Cloud Admin API v2 (its documented field names).
API_RUN = Obj(
    {
        "id": _ID,
        "job_definition_id": _ID,
        "job_id": _ID,
        "status": Int(),
        "status_humanized": _TEXT,
        "created_at": _TEXT,
        "started_at": _TEXT,
        "finished_at": _TEXT,
        "in_progress": Bool(),
        "is_complete": Bool(),
        "is_error": Bool(),
        "is_cancelled": Bool(),
        "git_sha": _TEXT,
        "trigger": Obj({"cause": _TEXT}),
        "job": Obj({"id": _ID, "name": _TEXT}),
        "run_steps": ListOf(Obj({"name": _TEXT, "index": Int(), "status": Int(), "logs": _TEXT})),
    },
    required=("id",),
)
_LIST_RESPONSE = Obj({"data": ListOf(API_RUN)}, required=("data",))
_ONE_RESPONSE = Obj({"data": API_RUN}, required=("data",))
# what is decoded of a listing (either response); checked against one of the two above
_RESPONSE = Obj({"data": OneOf(ListOf(API_RUN), API_RUN, what="runs")})
#: dbt Cloud run statuses (API v2): queued, starting, running, success, error, cancelled.
_STATUS = {1: "queued", 2: "starting", 3: "running", 10: "success", 20: "error", 30: "cancelled"}
_DBT_STEP = re.compile(r"`(dbt\s[^`]+)`|^(dbt\s.+)$")


@dataclass(frozen=True)
class CloudExport:
    """What a dbt Cloud export folder holds: the history, and the manifests the runs wrote."""

    history: History
    manifests: list[Path] = field(default_factory=list)
    dropped: int = 0


def _listing_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if is_json_file(p) and p.name.lower().startswith("runs") and artifact_kind(p) is None
    )


def is_cloud_export(folder: str | Path) -> bool:
    """True for a folder holding a dbt Cloud runs listing (``runs*.json``)."""
    base = Path(folder)
    return base.is_dir() and bool(_listing_files(base))


def cloud_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """The API runs of one or more runs-list responses, checked, in file order.

    Raises:
        ArtifactError: a file is not a runs response, a field has the wrong type, a run id is
            listed twice, or a run finishes before it starts.
    """
    runs: list[dict[str, Any]] = []
    seen: dict[int, Path] = {}
    for path in paths:
        with reading(path):
            data = read_json(path, shape=_RESPONSE)
            many = isinstance(data.get("data"), list)
            check(data, _LIST_RESPONSE if many else _ONE_RESPONSE, path=str(path))
            listed = data["data"] if isinstance(data["data"], list) else [data["data"]]
            for i, run in enumerate(listed):
                where = f"data[{i}]" if isinstance(data["data"], list) else "data"
                if run["id"] in seen:
                    raise SchemaError(
                        f"run {run['id']} is listed in {seen[run['id']]} too; keep one listing",
                        path=str(path),
                        field=f"{where}.id",
                    )
                seen[run["id"]] = path
                runs.append({**run, "_path": path, "_where": where})
    return runs


def _times(run: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    path, where = run["_path"], run["_where"]
    started = parse_time(run.get("started_at"), path=path, field=f"{where}.started_at")
    finished = parse_time(run.get("finished_at"), path=path, field=f"{where}.finished_at")
    if started and finished and finished < started:
        raise ArtifactError(
            f"{finished.isoformat()} is before started_at {started.isoformat()}",
            path=str(path),
            field=f"{where}.finished_at",
        )
    return started, finished


def _dbt_command(run: dict[str, Any]) -> list[str]:
    """The words of the run's last ``dbt …`` step (the one whose artifacts were downloaded)."""
    for step in reversed(run.get("run_steps") or []):
        match = _DBT_STEP.search((step.get("name") or "").strip())
        if match:
            try:
                return shlex.split(match.group(1) or match.group(2))
            except ValueError:  # unbalanced quotes in a step name
                return (match.group(1) or match.group(2)).split()
    return []


def _selection(words: list[str]) -> str | None:
    picked, taking = [], False
    for word in words:
        if word in ("-s", "--select", "-m", "--models"):
            taking = True
        elif word.startswith("-"):
            taking = False
        elif taking:
            picked.append(word)
    return " ".join(picked) or None


def read_cloud_export(folder: str | Path) -> CloudExport:
    """Read a dbt Cloud export folder (see the module docstring for the layout).

    Raises:
        ArtifactError: the listing or an artifact is unreadable, of the wrong shape or version.
        SchemaError: a run is listed twice, or two runs hold the same run_results.
    """
    base = Path(folder)
    listings = _listing_files(base) if base.is_dir() else []
    if not listings:
        raise ArtifactError(
            "holds no dbt Cloud runs listing (runs.json from the Admin API)", path=str(base)
        )
    rows, node_runs, sources, manifests = [], [], [], []
    dropped: dict[str, int] = {"not complete": 0, "no run_results.json": 0}
    invocations: dict[str, int] = {}
    for run in cloud_runs(listings):
        started, finished = _times(run)
        status = _STATUS.get(run.get("status"), "unknown")
        run_dir = base / str(run["id"])
        found = {artifact_kind(p): p for p in run_dir.iterdir()} if run_dir.is_dir() else {}
        if status in ("queued", "starting", "running") or run.get("in_progress"):
            dropped["not complete"] += 1
            continue
        if "run_results" not in found:
            dropped["no run_results.json"] += 1
            continue
        job = run.get("job_definition_id") or run.get("job_id") or (run.get("job") or {}).get("id")
        artifact_run, frame = read_run_results(found["run_results"], job_id=None)
        other = invocations.setdefault(artifact_run["run_id"], run["id"])
        if other != run["id"]:
            raise SchemaError(
                f"holds invocation {artifact_run['run_id']!r}, as run {other}'s does; the same "
                "artifacts were saved under two runs",
                path=str(found["run_results"]),
                field="metadata.invocation_id",
            )
        words = _dbt_command(run)
        failed = status in ("error", "cancelled") or artifact_run["status"] == "error"
        rows.append(
            {
                "run_id": str(run["id"]),
                "job_id": None if job is None else str(job),
                "started_at": started or artifact_run["started_at"],
                "finished_at": finished or artifact_run["finished_at"],
                "status": "error" if failed else "success",
                "command": words[1] if len(words) > 1 else artifact_run["command"],
                "selection": _selection(words) if words else artifact_run["selection"],
                "full_refresh": "--full-refresh" in words or artifact_run["full_refresh"],
                "threads": artifact_run["threads"],
            }
        )
        node_runs.append(frame.with_columns(pl.lit(str(run["id"])).alias("run_id")))
        if "sources" in found:
            sources.append(found["sources"])
        if "manifest" in found:
            manifests.append(found["manifest"])
    if any(dropped.values()):
        counts = ", ".join(f"{n} {why}" for why, n in dropped.items() if n)
        warnings.warn(
            f"{base}: {sum(dropped.values())} dbt Cloud run(s) dropped ({counts}); download "
            "each run's run_results.json into <run id>/ to replay it",
            SaosimWarning,
            stacklevel=2,
        )
    schema = TABLES["runs"]
    runs = (
        validate(
            pl.DataFrame({k: [r[k] for r in rows] for k in schema}, schema=schema, strict=False),
            "runs",
            path=str(listings[0]),
        ).sort("started_at", "run_id")
        if rows
        else empty("runs")
    )
    history = History(
        runs=runs,
        node_runs=pl.concat(node_runs) if node_runs else empty("node_runs"),
        source_arrivals=read_sources(sources) if sources else empty("source_arrivals"),
    )
    return CloudExport(history, manifests, sum(dropped.values()))
