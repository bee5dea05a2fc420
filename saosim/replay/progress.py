"""Progress bars on stderr for long replays, shown only where someone watches.

Replays run side by side share one live display (rich allows one at a time): each replay is a
task of it, and the display stops when the last one closes.

>>> want_progress(False)
False
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["Progress", "want_progress"]


def want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and "pytest" not in sys.modules


_lock = threading.Lock()
_display: list[Any] = []  # the shared rich display and how many bars it shows, while any does


class Progress:
    """A bar for one long replay, on the display every open bar shares."""

    def __init__(self, total: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import Progress as Display

        with _lock:
            if not _display:
                display = Display(console=Console(stderr=True), transient=True)
                display.start()
                _display[:] = [display, 0]
            self._bar = _display[0]
            _display[1] += 1
            self._task = self._bar.add_task(f"replay {label}", total=total)

    def update(self, n: int) -> None:
        self._bar.advance(self._task, n)

    def close(self) -> None:
        with _lock:
            self._bar.remove_task(self._task)
            _display[1] -= 1
            if _display[1] == 0:
                self._bar.stop()
                _display.clear()
