"""Where the recommender's candidates are scored: in this process, in a pool of local
processes, or on a Ray cluster — one code path, :meth:`CompiledEstate.score`, everywhere.

The compiled estate is shipped to each worker once (the process pool's initializer; Ray's
object store, read by a pool of actors), never per candidate. Scheduling is the library's own
(:class:`concurrent.futures.ProcessPoolExecutor`, :class:`ray.util.ActorPool`). Results come back
in the order the candidates were given, so a search is deterministic for a seed whatever runs it.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.tune.recommend_score import HISTORY, Candidate, CompiledEstate
>>> ce = CompiledEstate.build(synthetic_estate(n_models=30, days=2, seed=3), {"default": "26h"})
>>> with make_executor("serial") as ex:
...     ex.start(ce)
...     [round(s.sla_breach_pct, 6) >= 0 for s in ex.score([Candidate.uniform(ce, 3600)])]
[True]
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from saosim.errors import ConfigError
from saosim.tune.recommend_score import Candidate, CompiledEstate, Score

__all__ = ["Executor", "ProcessExecutor", "RayExecutor", "SerialExecutor", "make_executor"]


class Executor(Protocol):
    """Scores candidates against one compiled estate (given once, to :meth:`start`)."""

    name: str
    workers: int

    def start(self, ce: CompiledEstate) -> None: ...

    def score(self, candidates: Sequence[Candidate]) -> list[Score]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _Base:
    name = "serial"
    workers = 1

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        return None


class SerialExecutor(_Base):
    """In this process (small estates, doctests, one candidate at a time)."""

    def start(self, ce: CompiledEstate) -> None:
        self.ce = ce

    def score(self, candidates: Sequence[Candidate]) -> list[Score]:
        return [self.ce.score(c) for c in candidates]


# the worker process's compiled estate, set once by the pool's initializer
_WORKER: dict[str, CompiledEstate] = {}


def _init_worker(ce: CompiledEstate) -> None:
    _WORKER["ce"] = ce


def _score_in_worker(cand: Candidate) -> Score:
    return _WORKER["ce"].score(cand)


class ProcessExecutor(_Base):
    """A pool of local processes (``spawn``: polars' and numba's threads do not survive
    ``fork``), each given the compiled estate once by its initializer."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self.pool: ProcessPoolExecutor | None = None

    def start(self, ce: CompiledEstate) -> None:
        self.close()
        self.pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(ce,),
        )

    def score(self, candidates: Sequence[Candidate]) -> list[Score]:
        if self.pool is None:
            raise RuntimeError("call start(compiled_estate) first")
        return list(self.pool.map(_score_in_worker, candidates))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


class RayExecutor(_Base):
    """A pool of Ray actors on a cluster (``address``: ``auto``, ``ray://host:port``, or
    ``None`` for the one this process already joined or a local one started here). The
    compiled estate goes into the object store once; each actor reads it once."""

    name = "ray"

    def __init__(self, address: str | None = "auto", workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:  # the optional extra is missing: say how to get it
            raise ConfigError(
                "--ray needs Ray: pip install 'saosim[scale]'", field="--ray"
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            local = address in (None, "local")
            try:
                ray.init(
                    address=None if local else address,
                    num_cpus=workers if local else None,
                    ignore_reinit_error=True,
                    include_dashboard=False,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                # no cluster there: say so in one line (``--ray local`` starts one here)
                raise ConfigError(
                    f"cannot join a Ray cluster at {address!r}: {exc}; start one "
                    "(`ray start --head`) or pass --ray local",
                    field="--ray",
                ) from None
        cpus = int(ray.available_resources().get("CPU", 1)) or 1
        self.workers = max(1, min(workers or cpus, cpus))
        self.pool: Any = None

    def start(self, ce: CompiledEstate) -> None:
        from ray.util import ActorPool

        ref = self.ray.put(ce)
        actor = self.ray.remote(num_cpus=1)(_RayScorer)
        self.actors = [actor.remote(ref) for _ in range(self.workers)]
        self.pool = ActorPool(self.actors)

    def score(self, candidates: Sequence[Candidate]) -> list[Score]:
        if self.pool is None:
            raise RuntimeError("call start(compiled_estate) first")
        return list(self.pool.map(lambda a, c: a.score.remote(c), list(candidates)))

    def close(self) -> None:
        for a in getattr(self, "actors", []):
            self.ray.kill(a)
        self.actors, self.pool = [], None


class _RayScorer:
    """A Ray actor holding one compiled estate (from the object store, read once)."""

    def __init__(self, ce: CompiledEstate) -> None:
        self.ce = ce

    def score(self, cand: Candidate) -> Score:
        return self.ce.score(cand)


def make_executor(spec: str | Executor | None = None, *, workers: int | None = None) -> Any:
    """An executor from a short spec: ``serial``, ``processes`` (the default; ``processes:N``),
    ``ray`` / ``ray:auto`` / ``ray:ADDRESS`` / ``ray:local``; an executor is returned as is.

    >>> make_executor("processes:2").workers, make_executor("serial").name
    (2, 'serial')
    """
    if spec is not None and not isinstance(spec, str):
        return spec
    text = (spec or "processes").strip()
    kind, _, arg = text.partition(":")
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        n = int(arg) if arg else workers
        return SerialExecutor() if n == 1 else ProcessExecutor(n)
    if kind == "ray":
        return RayExecutor(arg or "auto", workers)
    raise ConfigError(f"executor {spec!r}: use serial, processes[:N] or ray[:ADDRESS]", "executor")
