"""Run dbt-core in-process through its programmatic runner (``dbt.cli.main.dbtRunner``).

:func:`dbt_parse` writes and reads ``target/manifest.json``; :func:`dbt_build` runs
``dbt build --select …`` for the nodes a plan builds and returns every node's status, in the
form :meth:`saosim.core.planner.Plan.apply` takes (``outcome`` and ``finished_at``).

Not re-entrant, not thread-safe: dbt-core keeps process-global state (flags, the event logger,
the adapter registry), and dbt-duckdb opens a relative ``path`` from the current directory, so
each invocation changes into the project folder and back. A module lock serialises invocations
within one process; run concurrent builds in separate processes (and note that a DuckDB file
takes one writer at a time).

dbt's console output is silenced (``--log-level none``); its file log still goes to the
project's ``logs/dbt.log`` at ``info`` level, and artifacts to the project's ``target/``.

>>> dbt_selectors(["seed.p.country_codes"])
['country_codes']
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from saosim.errors import SaosimError, SaosimInputError, require
from saosim.inputs.manifest import read_manifest
from saosim.project.graph import Project

__all__ = [
    "BuildResult",
    "DbtRunError",
    "NodeResult",
    "ParseResult",
    "dbt_build",
    "dbt_parse",
    "dbt_selectors",
    "dbt_session",
    "release_duckdb",
]

_LOCK = threading.Lock()


class DbtRunError(SaosimError):
    """dbt itself could not run (a bad project, profile or argument), as opposed to a node
    failing inside a run, which is a status in :class:`BuildResult`."""


@dataclass(frozen=True, slots=True)
class NodeResult:
    """One node of a dbt invocation, as dbt reported it."""

    unique_id: str
    #: dbt's status, lower case: success, error, skipped, pass, fail, warn, no-op, reused.
    status: str
    execution_time_s: float
    started_at: datetime | None = None
    completed_at: datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class BuildResult:
    """The outcome of one ``dbt build``.

    ``success`` is dbt's own verdict (every node passed); ``results`` lists the nodes dbt ran
    or skipped in execution order; ``run_results_path`` is the ``run_results.json`` it wrote
    (``None`` when nothing was selected, so dbt was not invoked).
    """

    success: bool
    results: tuple[NodeResult, ...]
    run_results_path: Path | None
    invocation_id: str | None = None
    started_at: datetime | None = None
    elapsed_s: float = 0.0
    args: tuple[str, ...] = field(default=(), compare=False)

    @property
    def statuses(self) -> dict[str, str]:
        """``{unique_id: status}`` — the ``outcome`` argument of ``Plan.apply``."""
        return {r.unique_id: r.status for r in self.results}

    @property
    def finished_at(self) -> dict[str, datetime]:
        """``{unique_id: completed_at}`` for nodes dbt timed — ``Plan.apply(finished_at=…)``."""
        return {r.unique_id: r.completed_at for r in self.results if r.completed_at is not None}

    def by_status(self) -> dict[str, int]:
        """How many nodes ended in each status."""
        return dict(sorted(Counter(r.status for r in self.results).items()))


@dataclass(frozen=True)
class ParseResult:
    """A parsed project: the manifest file dbt wrote and the :class:`Project` read from it."""

    manifest_path: Path
    project: Project
    elapsed_s: float = 0.0


def dbt_selectors(unique_ids: Iterable[str], project: Project | None = None) -> list[str]:
    """dbt ``--select`` terms that pick exactly the given nodes.

    dbt has no unique-id selector. A node's name selects it (dbt matches the last part of its
    fqn); when another package has a node of that name, the term is narrowed with an
    intersection (``package:pkg,name``). Without a project, names are taken from the ids.

    >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"]}, name="shop")
    >>> dbt_selectors(["model.shop.stg", "source.shop.raw.a"], p)
    ['stg', 'source:raw.a']
    """
    terms = []
    names: Counter[str] = Counter()
    if project is not None:
        names.update(n.name for n in project.nodes.values() if n.resource_type != "source")
    for uid in sorted(set(unique_ids)):
        node = project.nodes.get(uid) if project is not None else None
        if node is None and project is not None:
            raise SaosimInputError("is not a node of the project", node_id=uid, field="select")
        resource_type, package, *rest = uid.split(".")
        if resource_type == "source":
            terms.append(f"source:{'.'.join(rest)}")
            continue
        name = node.name if node is not None else rest[0]
        package = node.package if node is not None and node.package else package
        terms.append(name if names[name] <= 1 else f"package:{package},{name}")
    return terms


def _invoke(project_dir: Path, args: list[str]) -> Any:
    full = [
        *args,
        "--project-dir",
        str(project_dir),
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        "--log-path",
        str(project_dir / "logs"),
    ]
    with dbt_session(project_dir):
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(full)
    if result.exception is not None:
        raise DbtRunError(f"dbt {args[0]} in {project_dir} failed: {result.exception}") from None
    return result


@contextmanager
def dbt_session(project_dir: Path) -> Iterator[None]:
    """One use of dbt-core in this process: the module lock held, the current directory in the
    project folder, the root logger and the warehouse connections restored afterwards.

    Raises:
        SaosimError: dbt-core is not installed (``pip install 'saosim[dbt]'``).
    """
    with _LOCK:
        before = os.getcwd()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        # Importing dbt (and running it) installs a stderr handler on the root logger.
        require("dbt.cli.main", extra="dbt", feature="running dbt")
        # dbt-duckdb resolves a relative database path from the current directory.
        os.chdir(project_dir)
        try:
            yield
        finally:
            os.chdir(before)
            _release_connections()
            # a notebook's logging stays its own
            root.handlers[:] = handlers
            root.setLevel(level)


def _release_connections() -> None:
    """Close the warehouse connections dbt keeps open after an invocation.

    dbt-duckdb holds its DuckDB database open in a class-level environment until the process
    exits, which locks the file against a loader in another process and against a read-only
    connection in this one. Closing it after each invocation makes the runner behave like the
    ``dbt`` command, which exits.
    """
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    release_duckdb()


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in its class-level environment."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing held
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    close = getattr(env, "close", None)
    if close is not None:
        close()


def _project_dir(project_dir: str | Path) -> Path:
    folder = Path(project_dir).resolve()
    if not (folder / "dbt_project.yml").is_file():
        raise SaosimInputError("is not a dbt project (no dbt_project.yml)", path=str(folder))
    return folder


def _common(profiles_dir: str | Path | None, target: str | None, folder: Path) -> list[str]:
    args = ["--profiles-dir", str(Path(profiles_dir).resolve() if profiles_dir else folder)]
    if target:
        args += ["--target", target]
    return args


def dbt_parse(
    project_dir: str | Path,
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
) -> ParseResult:
    """Run ``dbt parse`` and read the manifest it writes.

    Args:
        project_dir: the dbt project folder.
        profiles_dir: where ``profiles.yml`` is; default the project folder.
        target: the profile target; default the profile's own.

    Raises:
        DbtRunError: dbt could not parse the project.
    """

    folder = _project_dir(project_dir)
    started = time.perf_counter()
    _invoke(folder, ["parse", *_common(profiles_dir, target, folder)])
    manifest = folder / "target" / "manifest.json"
    return ParseResult(manifest, read_manifest(manifest), time.perf_counter() - started)


def dbt_build(
    project_dir: str | Path,
    select: Iterable[str] | str | None = None,
    *,
    project: Project | None = None,
    exclude: str | None = None,
    full_refresh: bool = False,
    indirect_selection: str = "eager",
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
) -> BuildResult:
    """Run ``dbt build`` for some nodes and return each node's status.

    Args:
        project_dir: the dbt project folder.
        select: unique ids (turned into dbt selectors with :func:`dbt_selectors`), or one dbt
            selector string; ``None`` builds everything. An empty collection invokes nothing.
        project: the parsed project, so names that repeat across packages stay exact.
        exclude: a dbt ``--exclude`` selector.
        full_refresh: pass ``--full-refresh``.
        indirect_selection: dbt's ``--indirect-selection`` (``eager`` runs the tests of
            selected nodes; ``empty`` runs only the ids listed, tests included).
        profiles_dir, target: as for :func:`dbt_parse`.
        dbt_vars: ``--vars``.

    Raises:
        DbtRunError: dbt itself failed (a node failing is a status, not an error).
    """
    import json

    folder = _project_dir(project_dir)
    args = ["build", *_common(profiles_dir, target, folder)]
    if isinstance(select, str):
        args += ["--select", select]
    elif select is not None:
        terms = dbt_selectors(select, project)
        if not terms:
            return BuildResult(True, (), None)
        args += ["--select", *terms]
    if exclude:
        args += ["--exclude", exclude]
    if full_refresh:
        args.append("--full-refresh")
    args += ["--indirect-selection", indirect_selection]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    result = _invoke(folder, args)
    elapsed = time.perf_counter() - started
    execution = result.result
    results = tuple(_node_result(r) for r in getattr(execution, "results", ()) or ())
    run_results = folder / "target" / "run_results.json"
    return BuildResult(
        bool(result.success),
        results,
        run_results,
        _invocation_id(run_results),
        started_at,
        elapsed,
        tuple(args),
    )


def _invocation_id(run_results: Path) -> str | None:
    try:
        return orjson.loads(run_results.read_bytes())["metadata"]["invocation_id"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None


def _utc(value: datetime | None) -> datetime | None:
    # dbt stamps timings with naive UTC (datetime.utcnow()).
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _node_result(result: Any) -> NodeResult:
    timing = {t.name: t for t in result.timing or ()}
    execute = timing.get("execute") or timing.get("compile")
    compile_ = timing.get("compile") or execute
    status = getattr(result.status, "value", result.status)
    return NodeResult(
        unique_id=result.node.unique_id,
        status=str(status).lower(),
        execution_time_s=float(result.execution_time or 0.0),
        started_at=_utc(compile_.started_at) if compile_ else None,
        completed_at=_utc(execute.completed_at) if execute else None,
        message=result.message,
    )
