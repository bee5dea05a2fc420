"""Replays side by side: results in the order given, at most ``workers`` at once, the first
error raised after the running calls end."""

from __future__ import annotations

import threading
import time

import pytest

from saosim.replay.side_by_side import side_by_side


def test_results_come_in_the_order_given_whatever_order_the_calls_end_in() -> None:
    def call(k: int, pause: float):
        def run() -> int:
            time.sleep(pause)
            return k

        return run

    calls = [call(0, 0.05), call(1, 0.0), call(2, 0.02)]
    assert side_by_side(calls, workers=3) == [0, 1, 2]


def test_no_more_than_workers_calls_run_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def run() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    side_by_side([run] * 6, workers=2)
    assert most == 2


def test_one_worker_runs_the_calls_in_the_calling_thread() -> None:
    caller = threading.get_ident()
    assert side_by_side([threading.get_ident] * 2, workers=1) == [caller, caller]


def test_an_error_stops_calls_not_yet_started_and_is_raised() -> None:
    started: list[int] = []

    def call(k: int):
        def run() -> int:
            started.append(k)
            if k == 0:
                raise ValueError("replay 0 failed")
            time.sleep(0.05)
            return k

        return run

    with pytest.raises(ValueError, match="replay 0 failed"):
        side_by_side([call(k) for k in range(6)], workers=2)
    # the other worker may have started the next call (and then finished it), nothing later
    assert 0 in started
    assert set(started) <= {0, 1}
