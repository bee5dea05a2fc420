"""Errors and warnings a user can act on.

Every input problem is a :class:`SaosimInputError` that carries where it was found as fields
(``path``, ``field``, ``row``, ``node_id``) and says in its message what was found, what was
expected and what to do. Internal bugs stay plain ``AssertionError``.

>>> err = SchemaError("has no time zone", path="history.csv", field="started_at", row=1042)
>>> str(err)
'history.csv, row 1042, field "started_at": has no time zone'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

__all__ = [
    "ArtifactError",
    "ConfigError",
    "MissingDependencyError",
    "SaosimError",
    "SaosimInputError",
    "SaosimWarning",
    "SchemaError",
    "SelectionError",
    "current_file",
    "join_problems",
    "reading",
    "require",
    "yaml_error",
]


class SaosimError(Exception):
    """Base class of every error saosim raises on purpose."""


class SaosimInputError(SaosimError):
    """Bad input: a file, a field, a row or a config value that saosim cannot use."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        field: str | None = None,
        row: int | None = None,
        node_id: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.field = field
        self.row = row
        self.node_id = node_id
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.node_id:
            where.append(f"node {self.node_id}")
        if self.field:
            where.append(f'field "{self.field}"')
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ArtifactError(SaosimInputError):
    """An unreadable, truncated or wrong-version artifact file."""


class SchemaError(SaosimInputError):
    """A bad row or column in a canonical table."""


class ConfigError(SaosimInputError):
    """A bad freshness, tier, scenario or cost configuration value."""


class SelectionError(SaosimError):
    """A dbt-style selector that names nothing or cannot be parsed."""


class SaosimWarning(UserWarning):
    """Something saosim assumed on the user's behalf; the message says how to fix or silence it."""


def join_problems(problems: Sequence[str], limit: int = 5) -> str:
    """Join the first ``limit`` problems into one message, counting the rest.

    >>> join_problems(["a", "b", "c"], limit=2)
    'a; b; … and 1 more'
    """
    shown = "; ".join(problems[:limit])
    rest = len(problems) - limit
    return f"{shown}; … and {rest} more" if rest > 0 else shown


class MissingDependencyError(SaosimError):
    """A feature needs an optional extra that is not installed."""


def require(module: str, *, extra: str, feature: str) -> None:
    """Check that an optional dependency imports; raise a clear install hint if not.

    >>> require("json", extra="dbt", feature="the live planner")
    >>> require("no_such_module_x", extra="dbt", feature="the live planner")
    Traceback (most recent call last):
    ...
    saosim.errors.MissingDependencyError: the live planner needs no_such_module_x, from saosim's \
`dbt` extra: pip install -e ".[dbt]" (or make test, which installs every extra)
    """
    import importlib.util

    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise MissingDependencyError(
            f"{feature} needs {module}, from saosim's `{extra}` extra: "
            f'pip install -e ".[{extra}]" (or make test, which installs every extra)'
        )


_READING: ContextVar[str | None] = ContextVar("saosim_reading", default=None)


@contextlib.contextmanager
def reading(path: str | Path | None) -> Iterator[None]:
    """Mark ``path`` as the file being read, so an unexpected error can still name it.

    The command line's error handler prints :func:`current_file` with any exception that is
    not a :class:`SaosimError` (a bug), so the user knows which file triggered it.

    >>> with reading("runs/run_results.json"):
    ...     current_file()
    'runs/run_results.json'
    >>> current_file() is None
    True
    """
    token = _READING.set(None if path is None else str(path))
    try:
        yield
    except BaseException as exc:
        # remember the innermost file on the exception: the context var is reset below
        if not hasattr(exc, "saosim_file") and path is not None:
            with contextlib.suppress(AttributeError, TypeError):
                exc.saosim_file = str(path)  # type: ignore[attr-defined]
        raise
    finally:
        _READING.reset(token)


def current_file() -> str | None:
    """The file :func:`reading` marks as being read now, or ``None``."""
    return _READING.get()


def yaml_error(exc: Exception, path: str | Path | None, *, what: str = "YAML") -> ConfigError:
    """One-line :class:`ConfigError` for a PyYAML error: ``file:line:column: problem``.

    PyYAML's own message spans several lines (context, problem, a caret under the text);
    this keeps the problem and where it is.

    >>> import yaml
    >>> try:
    ...     yaml.safe_load("a: [1, 2")
    ... except yaml.YAMLError as exc:
    ...     print(yaml_error(exc, "s.yml"))
    s.yml:1:9: is not valid YAML: expected ',' or ']', but got '<stream end>'
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    problem = " ".join(str(problem).split())
    where = str(path) if path is not None else "<yaml>"
    if mark is not None:
        where = f"{where}:{mark.line + 1}:{mark.column + 1}"
    error = ConfigError(f"is not valid {what}: {problem}")
    error.path = where
    error.args = (error._render(),)
    return error
