"""Synthetic estates of realistic shape, for demos, tests and benchmarks.

:func:`synthetic_estate` builds a project (:mod:`saosim.synth.dag`) and a history of baseline
``dbt build`` runs for it (:mod:`saosim.synth.history`): sources landing hourly to weekly, jobs on
cron schedules that overlap, per-model runtimes with a heavy tail, incremental models that take
longer the more data they catch up on, failures that skip downstream, and code changes a few times
a week. :func:`synthetic_history` does the history part for a real project's DAG (read from a
``manifest.json``), so a large real project becomes a test case.

Everything is drawn from one seed: the same arguments give identical frames.

>>> est = synthetic_estate(n_models=40, days=2, seed=7)
>>> est.project.counts()["model"], est.project.counts()["source"]
(40, 4)
>>> est.node_runs.equals(synthetic_estate(n_models=40, days=2, seed=7).node_runs)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from saosim.inputs.estate import Estate
from saosim.project.graph import Node
from saosim.synth.dag import generate_project, synthetic_project
from saosim.synth.history import DEFAULT_START, default_jobs, synthetic_history
from saosim.synth.runs import SynthJob
from saosim.synth.sql import with_version

__all__ = [
    "DEFAULT_START",
    "SynthJob",
    "default_jobs",
    "synthetic_estate",
    "synthetic_history",
    "synthetic_project",
]


def synthetic_estate(
    n_models: int = 1500,
    days: float = 90,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    *,
    jobs: Sequence[SynthJob] | None = None,
    source_share: float = 0.10,
    hourly_share: float = 0.10,
    code_changes_per_week: float = 4.0,
    query_ids: bool = False,
    runtime_elasticity: float = 0.5,
    arrival_mix: Sequence[float] | None = None,
) -> Estate:
    """A synthetic project and its run history.

    Args:
        n_models: number of models (sources ≈ ``source_share`` of that; seeds, snapshots and
            1–2 data tests per model on top).
        days: length of the history.
        seed: seed of every draw.
        start: first instant of the history (UTC-aware).
        jobs: scheduled ``dbt build`` jobs; default :func:`default_jobs` (full builds at 06:00
            and 13:00, an hourly job on ``tag:hourly``, a 6-hourly job on one domain's marts
            and their upstream: the overlapping, over-scheduled jobs of a team before SAO).
        source_share: sources per model.
        hourly_share: the share of models tagged ``hourly``.
        code_changes_per_week: mean merged changes a week (each touches 1–4 models; one in five
            only edits comments).
        query_ids: fill ``node_runs.query_id``.
        runtime_elasticity: runtime grows with how often a model's inputs change (see
            :func:`~saosim.synth.history.synthetic_history`; 0 for no relation).
        arrival_mix: shares of source cadences (see
            :func:`~saosim.synth.history.synthetic_history`).

    Returns:
        The :class:`~saosim.inputs.estate.Estate`; its project holds the code as of the end.

    >>> est = synthetic_estate(n_models=30, days=1, seed=1)
    >>> set(est.runs.get_column("job_id")) == {"daily_full", "midday_full", "hourly", "six_hourly"}
    True
    """
    dag_seed, history_seed = np.random.SeedSequence(seed).spawn(2)
    project, specs = generate_project(
        n_models,
        np.random.default_rng(dag_seed),
        source_share=source_share,
        hourly_share=hourly_share,
    )

    def versioner(node: Node, logic: int, cosmetic: int) -> Node:
        return with_version(node, specs[node.unique_id], logic, cosmetic)

    return synthetic_history(
        project,
        days,
        history_seed,
        start=start,
        jobs=jobs,
        code_changes_per_week=code_changes_per_week,
        query_ids=query_ids,
        versioner=versioner,
        runtime_elasticity=runtime_elasticity,
        arrival_mix=arrival_mix,
    )
