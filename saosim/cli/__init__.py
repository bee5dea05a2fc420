"""The ``saosim`` command line: thin wrappers that read files and the clock, call one public
function, and render its result. Input errors print a message and exit with code 2."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from saosim.errors import SaosimError

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


def friendly_errors(func: F) -> F:
    """Turn a :class:`SaosimError` into a one-line message and exit code 2 (bad input)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SaosimError as exc:
            # One line whatever the terminal width; the message is escaped because file names
            # and values in it may contain [brackets] that rich would read as markup.
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    """Write JSON to stdout (no rich markup, so it can be piped)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@app.callback()
def main() -> None:
    """saosim: replay dbt history through a state-aware planner."""


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
