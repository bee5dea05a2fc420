"""Run a few long calls side by side in daemon threads, their results in the order given.

:func:`saosim.replay.engine.simulate` replays its scenarios this way: the compiled loop and the
log's writer release the GIL, so two replays keep two cores busy where one alone leaves the
writer's core half idle. Daemon threads, not a pool: the calling thread waits in short joins, so
Ctrl-C stops the call at once (a pool's threads would be joined at exit, keeping the process
alive until every replay finished).

>>> side_by_side([lambda: 1, lambda: 2, lambda: 3], workers=2)
[1, 2, 3]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["side_by_side"]

T = TypeVar("T")


def side_by_side(calls: Sequence[Callable[[], T]], workers: int) -> list[T]:
    """The results of ``calls``, at most ``workers`` running at once (one: in this thread).

    The first error raised stops further calls from starting and is raised here once the
    calls already running have ended.

    >>> side_by_side([lambda: 1 / 0], workers=2)
    Traceback (most recent call last):
    ...
    ZeroDivisionError: division by zero
    """
    if workers <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []
    lock = threading.Lock()
    todo = iter(range(len(calls)))

    def work() -> None:
        while True:
            with lock:
                k = None if errors else next(todo, None)
            if k is None:
                return
            try:
                results[k] = calls[k]()
            except BaseException as exc:  # raised in the caller's thread
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(calls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.1)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
