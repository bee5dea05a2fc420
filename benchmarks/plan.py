"""Time the plain planner on a generated 5,000-node project, for each profile.

The project: 250 sources and 5,000 models (a fifth of them views, some ephemeral, a third with a
``build_after``), each model with one to three parents among the nodes before it. The state comes
from a full build; then new data lands in a tenth of the sources and 1% of the models change.

Run: ``.venv/bin/python benchmarks/plan.py [--nodes 5000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from saosim.core.planner import State, plan
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Node, Project

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def generate(n_models: int, seed: int = 7) -> tuple[Project, FreshnessConfig]:
    rnd = random.Random(seed)
    n_sources = max(1, n_models // 20)
    nodes = [Node(f"source.bench.raw.s{i}", f"s{i}", "source") for i in range(n_sources)]
    ids = [n.unique_id for n in nodes]
    edges = []
    per_node = {}
    for i in range(n_models):
        uid = f"model.bench.m{i:05d}"
        roll = rnd.random()
        mat = "view" if roll < 0.2 else "ephemeral" if roll < 0.25 else "table"
        nodes.append(Node(uid, f"m{i:05d}", "model", mat))
        # parents mostly among the recent nodes, as layers of a real project
        lo = max(0, len(ids) - 400)
        for parent in rnd.sample(ids[lo:], k=min(len(ids) - lo, rnd.randint(1, 3))):
            edges.append((parent, uid))
        ids.append(uid)
        if rnd.random() < 0.33:
            count, period = rnd.choice([(1, "hour"), (6, "hour"), (1, "day")])
            per_node[uid] = NodeFreshness(BuildAfter(count, period, rnd.choice(["any", "all"])))
    return Project(nodes, edges, name="bench"), FreshnessConfig(per_node)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    project, cfg = generate(args.nodes)
    built_s = time.perf_counter() - start
    rnd = random.Random(11)
    versions = {s: T0 - timedelta(hours=1) for s in project.sources}
    start = time.perf_counter()
    state = plan(project, State.empty(), at=T0, source_versions=versions, profile="baseline").apply(
        finished_at=T0
    )
    first_s = time.perf_counter() - start
    at = T0 + timedelta(hours=2)
    for s in rnd.sample(project.sources, k=len(project.sources) // 10):
        versions[s] = T0 + timedelta(hours=1)
    fingerprints = {
        u: "edited" for u in rnd.sample(project.buildable, k=len(project.buildable) // 100)
    }
    print(f"project: {project!r}")
    print(
        f"generate + Project: {built_s:.2f} s; "
        f"first plan (compiles the project) + apply: {first_s:.2f} s"
    )
    print(
        f"{'profile':<10} {'decisions':>9} {'built':>6} {'best s':>8} "
        f"{'decisions/s':>12} {'apply s':>8}"
    )
    for profile in ("baseline", "sao", "dbt_state", "orchestra"):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = plan(
                project,
                state,
                at=at,
                source_versions=versions,
                freshness=cfg,
                profile=profile,
                fingerprints=fingerprints,
            )
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        result.apply(finished_at=at)
        apply_s = time.perf_counter() - t
        best = min(times)
        n = len(result.decisions)
        print(
            f"{profile:<10} {n:>9} {len(result.built):>6} {best:>8.3f} {n / best:>12,.0f} "
            f"{apply_s:>8.3f}"
        )


if __name__ == "__main__":
    main()
