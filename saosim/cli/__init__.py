"""The ``saosim`` command line: thin wrappers that read files and the clock, call one public
function, and render its result.

Errors are always one line: bad input (a :class:`~saosim.errors.SaosimError`) prints its message
and exits with code 2; anything else is a bug, printed as one line naming the command, the file
being read and the exception type, exit code 3. ``saosim --debug …`` (or ``SAOSIM_DEBUG=1``)
shows the traceback instead."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from saosim.errors import SaosimError, current_file

app = typer.Typer(
    name="saosim",
    help="What would dbt state-aware orchestration save you, at what freshness?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output has no terminal width; give tables room instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


_DEBUG = {"on": False}


def _debug() -> bool:
    return _DEBUG["on"] or os.environ.get("SAOSIM_DEBUG", "") not in ("", "0")


def _say(message: str) -> None:
    # One line whatever the terminal width; the message is escaped because file names and
    # values in it may contain [brackets] that rich would read as markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def bug_message(exc: BaseException, command: str | None, file: str | None) -> str:
    """The one line printed for an unexpected exception (a bug, not bad input).

    >>> print(bug_message(KeyError("x"), "saosim info", "m.json"))  # doctest: +ELLIPSIS
    saosim info failed while reading m.json: KeyError: 'x' — this is a bug in saosim, ...
    """
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    where = f" while reading {file}" if file else ""
    return (
        f"{command or 'saosim'} failed{where}: {type(exc).__name__}"
        + (f": {text}" if text else "")
        + " — this is a bug in saosim, not in your files; run again with --debug for the "
        "traceback and report it"
    )


def friendly_errors(func: F) -> F:
    """One-line errors: a :class:`SaosimError` exits 2 (bad input), anything else 3 (a bug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors, --help, exits
            raise
        except SaosimError as exc:
            if _debug():
                raise
            _say(str(exc))
            raise typer.Exit(code=2) from None
        except Exception as exc:
            if _debug():
                raise
            command = "saosim " + func.__name__.replace("_", "-")
            _say(bug_message(exc, command, getattr(exc, "saosim_file", None) or current_file()))
            raise typer.Exit(code=3) from None

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    """Write JSON to stdout (no rich markup, so it can be piped)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="show the traceback of an unexpected error (also SAOSIM_DEBUG=1)"
    ),
) -> None:
    """saosim: replay dbt history through a state-aware planner."""
    _DEBUG["on"] = debug


@app.command()
def version() -> None:
    """Print saosim's version."""
    from saosim import __version__

    console.print(__version__)


def _load_commands() -> None:
    import importlib
    import pkgutil

    # every module of this package but the renderer registers commands on ``app``
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module != "render":
            importlib.import_module(f"{__name__}.{module}")


_load_commands()
