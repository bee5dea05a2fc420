"""A progress bar on stderr for long replays, shown only where someone watches.

>>> want_progress(False)
False
"""

from __future__ import annotations

import sys

__all__ = ["Progress", "want_progress"]


def want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and "pytest" not in sys.modules


class Progress:
    """A rich progress bar on stderr for a long replay."""

    def __init__(self, total: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(f"replay {label}", total=total)

    def update(self, n: int) -> None:
        self._bar.advance(self._task, n)

    def close(self) -> None:
        self._bar.stop()
