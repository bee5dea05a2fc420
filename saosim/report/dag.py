"""A layered layout of a DAG in numpy: x is the node's topological depth, y its slot in the
layer (ordered by the mean slot of its parents, so edges cross less). No graphviz.

>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
>>> dag_layout(p, p.order).x.tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saosim.project.graph import Project

__all__ = ["DagLayout", "dag_layout"]


@dataclass(frozen=True, eq=False)
class DagLayout:
    """Coordinates of ``node_ids`` (same order): ``x`` depth, ``y`` slot centred on 0."""

    node_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    depth: np.ndarray


def dag_layout(project: Project, node_ids: Sequence[str]) -> DagLayout:
    """Lay out the sub-DAG of ``node_ids`` (edges between them only).

    Depth is the longest chain of kept parents above a node, so every edge points right.
    """
    order = [u for u in project.order if u in set(node_ids)]
    index = {u: i for i, u in enumerate(order)}
    n = len(order)
    depth = np.zeros(n, dtype=np.int64)
    parents: list[list[int]] = []
    for i, u in enumerate(order):
        ps = [index[p] for p in project.parents(u) if p in index]
        parents.append(ps)
        if ps:
            depth[i] = depth[ps].max() + 1
    y = np.zeros(n, dtype=float)
    for level in range(int(depth.max(initial=-1)) + 1):
        members = np.flatnonzero(depth == level)
        # barycentre of the parents' slots; roots keep topological order
        key = np.array(
            [y[parents[i]].mean() if parents[i] else float(k) for k, i in enumerate(members)]
        )
        ranked = members[np.lexsort((members, key))]
        y[ranked] = np.arange(len(ranked), dtype=float) - (len(ranked) - 1) / 2
    position = np.array([index[u] for u in node_ids], dtype=np.int64)
    return DagLayout(tuple(node_ids), depth[position].astype(float), y[position], depth[position])
