"""Detect what each input path is and assemble one :class:`~saosim.inputs.estate.Estate`.

Accepted inputs, in any mix:

- a ``manifest.json`` / ``.json.gz`` file, or several taken over time (→ ``code_changes``);
- a dbt ``target/`` folder, or a folder tree holding many runs (``run_results.json``,
  ``sources.json``, ``manifest.json`` per run, or dbt Cloud downloads named by run id);
- single ``run_results.json`` / ``sources.json`` files;
- a folder of dbt_artifacts or elementary table exports (CSV/Parquet);
- a dbt Cloud export: the Admin API's ``runs.json`` and each run's artifacts in ``<run id>/``
  (:mod:`saosim.inputs.cloud`);
- an estate folder (``estate.json`` + Parquet tables).

The project is the newest manifest (by ``metadata.generated_at``), else the estate's, else the
one rebuilt from an export. Runs of compile-only commands (``dbt compile``, ``dbt docs
generate``, ``dbt show``, ``dbt ls``) are dropped with a warning: their results are compile
timings, not builds. Node runs and arrivals of run hooks (``operation.*``) are dropped:
hooks are not DAG nodes. Rows naming any other node the project does not have (a model deleted
since, a disabled one) are dropped with a :class:`~saosim.errors.SaosimWarning` that counts them
and names a few — or raise a :class:`~saosim.errors.SchemaError` with ``strict=True``.

>>> from pathlib import Path
>>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
>>> estate = ingest([fixtures / "manifest_v12.json", fixtures / "runs_tree"])
>>> estate.summary()["runs"], estate.summary()["source_arrivals"]
(3, 3)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from saosim.errors import ArtifactError, SaosimWarning, SchemaError
from saosim.inputs._io import read_json, schema_version
from saosim.inputs._shapes import ARTIFACT_KIND, MANIFEST
from saosim.inputs.changes import code_changes, manifest_versions
from saosim.inputs.cloud import is_cloud_export, read_cloud_export
from saosim.inputs.estate import Estate, load_estate
from saosim.inputs.exports import export_kind, read_export
from saosim.inputs.history import History
from saosim.inputs.manifest import project_from_manifest
from saosim.inputs.runs import artifact_kind, find_artifacts, read_runs, read_sources
from saosim.project.graph import Project

__all__ = ["COMPILE_ONLY_COMMANDS", "ingest", "load_project"]

_KIND_BY_SCHEMA = {"manifest": "manifest", "run-results": "run_results", "sources": "sources"}


def _kind_of_file(file: Path) -> str:
    kind = artifact_kind(file)
    if kind:
        return kind
    if file.name.lower().endswith((".json", ".json.gz")):
        found, _ = schema_version(read_json(file, shape=ARTIFACT_KIND), file)
        if found in _KIND_BY_SCHEMA:
            return _KIND_BY_SCHEMA[found]
    raise ArtifactError(
        "is not a manifest, run_results or sources file; give a dbt artifact, a target/ "
        "folder, an export folder or an estate folder",
        path=str(file),
    )


def _as_list(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    return [Path(p) for p in paths]


def load_project(path: str | Path) -> Project:
    """The :class:`~saosim.project.graph.Project` of a manifest file, a target/ folder or an estate
    folder.

    A folder with several manifests gives the newest one (by ``metadata.generated_at``).

    >>> from pathlib import Path
    >>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
    >>> load_project(fixtures / "manifests_over_time").counts()["model"]
    4
    """
    base = Path(path)
    if base.is_dir() and (base / "estate.json").is_file():
        return load_estate(base).project
    if base.is_file():
        return project_from_manifest(read_json(base, shape=MANIFEST), path=str(base))
    if not base.exists():
        raise ArtifactError("does not exist", path=str(base))
    manifests = find_artifacts(base)["manifest"]
    if not manifests:
        raise ArtifactError(
            "holds no manifest.json; run `dbt parse` and point saosim at the target/ folder",
            path=str(base),
        )
    project, _ = _manifests(manifests)
    assert project is not None
    return project


def _manifests(files: list[Path]) -> tuple[Project | None, pl.DataFrame | None]:
    """The newest manifest's project, and the code changes across all of them."""
    newest: tuple[datetime, Path, dict[str, Any]] | None = None
    versions = []
    for file in files:
        data = read_json(file, shape=MANIFEST)
        at, per_node = manifest_versions(file, data)
        versions.append((at, per_node))
        if newest is None or at > newest[0]:
            newest = (at, file, data)
    if newest is None:
        return None, None
    project = project_from_manifest(newest[2], path=str(newest[1]))
    changes = code_changes(versions) if len(versions) > 1 else None
    return project, changes


def ingest(
    paths: str | Path | Iterable[str | Path],
    *,
    timezone: str | None = None,
    strict: bool = False,
) -> Estate:
    """Read every input, detect what it is, and assemble one estate.

    Args:
        paths: files and folders (see the module docstring for what each may be).
        timezone: zone of export timestamps written without an offset.
        strict: raise instead of dropping rows that name nodes the project does not have.

    Raises:
        ArtifactError: an input is unreadable or of an unknown kind, or no input holds a project.
        SchemaError: a bad row, a run id seen twice, or (``strict``) an unknown node.
    """
    manifests: list[Path] = []
    histories: list[tuple[str, History]] = []
    fallback: Project | None = None
    estate_project: Project | None = None
    for path in _as_list(paths):
        if not path.exists():
            raise ArtifactError("does not exist", path=str(path))
        if path.is_dir() and (path / "estate.json").is_file():
            estate = load_estate(path)
            estate_project = estate_project or estate.project
            histories.append(
                (str(path), History(**{t: getattr(estate, t) for t in History().tables()}))
            )
        elif path.is_dir() and is_cloud_export(path):
            cloud = read_cloud_export(path)
            manifests += cloud.manifests
            histories.append((str(path), cloud.history))
        elif path.is_dir() and export_kind(path):
            project, history = read_export(path, timezone=timezone)
            fallback = fallback or project
            histories.append((str(path), history))
        elif path.is_dir():
            found = find_artifacts(path)
            if not any(found.values()):
                raise ArtifactError(
                    "holds no dbt artifacts (manifest.json, run_results.json, sources.json), "
                    "no export tables and no estate.json",
                    path=str(path),
                )
            manifests += found["manifest"]
            if found["run_results"] or found["sources"]:
                histories.append((str(path), read_runs(path)))
        else:
            kind = _kind_of_file(path)
            if kind == "manifest":
                manifests.append(path)
            elif kind == "run_results":
                histories.append((str(path), read_runs(path)))
            else:
                histories.append((str(path), History(source_arrivals=read_sources(path))))
    project, changes = _manifests(manifests)
    project = project or estate_project or fallback
    if project is None:
        raise ArtifactError(
            "no input holds a project: add the manifest.json (or the target/ folder that holds "
            "it), an export's models table, or an estate folder",
            path=", ".join(str(p) for p in _as_list(paths)),
        )
    history = History()
    owners: dict[str, str] = {}
    for source, part in histories:
        for run_id in part.runs.get_column("run_id").to_list():
            if run_id in owners:
                raise SchemaError(
                    f"run id {run_id!r} is in both {owners[run_id]} and {source}; the same run "
                    "was given twice — keep one of them",
                    field="runs.run_id",
                )
            owners[run_id] = source
        history = history + part
    if changes is not None:
        history = history + History(code_changes=changes)
    tables = _known_only(_builds_only(_deduplicated(history)), project, strict=strict)
    return Estate(project, **tables)


#: dbt commands whose run_results record compile timings, not builds (`dbt docs generate` …).
COMPILE_ONLY_COMMANDS = frozenset({"compile", "generate", "docs", "show", "list", "ls", "parse"})


def _builds_only(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    # A `dbt docs generate` run_results says "success" for every model it only compiled; kept,
    # it would read as a build and make every runtime and cost wrong.
    runs = tables["runs"]
    compile_only = runs.get_column("command").is_in(list(COMPILE_ONLY_COMMANDS))
    if compile_only.any():
        dropped = runs.filter(compile_only)
        commands = ", ".join(sorted(set(dropped.get_column("command").to_list())))
        warnings.warn(
            f"{dropped.height} run(s) of compile-only commands ({commands}) were dropped: their "
            "results are compile timings, not builds",
            SaosimWarning,
            stacklevel=4,
        )
        gone = dropped.get_column("run_id").to_list()
        tables["runs"] = runs.filter(~compile_only)
        tables["node_runs"] = tables["node_runs"].filter(~pl.col("run_id").is_in(gone))
    return tables


def _deduplicated(history: History) -> dict[str, pl.DataFrame]:
    tables = history.tables()
    # The same landing seen by two inputs (a sources.json and an export) is one arrival.
    tables["source_arrivals"] = (
        tables["source_arrivals"]
        .sort("unique_id", "arrived_at", "observed_at", nulls_last=True)
        .unique(["unique_id", "arrived_at"], keep="first", maintain_order=True)
    )
    tables["code_changes"] = (
        tables["code_changes"]
        .sort("unique_id", "changed_at")
        .unique(["unique_id", "changed_at"], keep="first", maintain_order=True)
    )
    return tables


def _known_only(
    tables: dict[str, pl.DataFrame], project: Project, *, strict: bool
) -> dict[str, pl.DataFrame]:
    known = list(project.nodes)
    # Code changes of nodes the newest manifest no longer has are history of deleted code: they
    # cannot affect the replay, so they go without a warning.
    changes = tables["code_changes"]
    tables["code_changes"] = changes.filter(changes.get_column("unique_id").is_in(known))
    for table in ("node_runs", "source_arrivals"):
        frame = tables[table]
        ids = frame.get_column("unique_id").cast(pl.String)
        hook = ids.str.starts_with("operation.")
        unknown = ~ids.is_in(known) & ~hook
        if unknown.any():
            names = sorted(set(ids.filter(unknown).to_list()))
            listed = ", ".join(names[:3]) + (
                f" … and {len(names) - 3} more" if len(names) > 3 else ""
            )
            message = (
                f"{int(unknown.sum())} rows name {len(names)} node(s) the project does not have "
                f"({listed}); they may be deleted or disabled since"
            )
            if strict:
                raise SchemaError(message, field=f"{table}.unique_id")
            warnings.warn(
                f"{table}: {message}. Dropped; pass strict=True (saosim ingest --strict) to "
                "stop instead, or add the manifest those runs used.",
                SaosimWarning,
                stacklevel=3,
            )
        tables[table] = frame.filter(~unknown & ~hook)
    return tables
