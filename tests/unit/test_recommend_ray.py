"""The recommender on Ray: a local Ray with 2 CPUs, the same answer as in-process scoring."""

from __future__ import annotations

import pytest

from saosim.synth.estate import synthetic_estate
from saosim.tune.recommend import recommend
from saosim.tune.recommend_exec import RayExecutor

ray = pytest.importorskip("ray", reason="the scale extra (pip install 'saosim[scale]')")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_scores_the_same_candidates_as_this_process(local_ray) -> None:
    est = synthetic_estate(n_models=20, days=2, seed=4)
    kw = {"budget": 4, "seed": 2, "schedules": ["history"]}
    here = recommend(est, {"default": "26h"}, executor="serial", **kw).to_dict()
    executor = RayExecutor(address=None)  # the Ray this process started
    assert executor.workers == 2
    there = recommend(est, {"default": "26h"}, executor=executor, **kw).to_dict()
    assert there["executor"] == "ray (2 workers)"
    assert here["recommended"] == there["recommended"]
    assert here["candidates"] == there["candidates"]
