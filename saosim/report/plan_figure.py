"""A plan drawn as its DAG: each node coloured by what the plan decided, hover says why.

>>> from datetime import datetime, timezone
>>> from saosim.project.graph import Project
>>> from saosim.core.planner import State, plan
>>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> fig = plan_figure(plan(p, State.empty(), at=t, source_versions={"source.demo.raw.a": t}))
>>> [trace.name for trace in fig.data]
['edges', 'build', 'source']
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from saosim.core.planner import Plan
from saosim.report.dag import dag_layout

__all__ = ["ACTION_COLOURS", "plan_figure"]

#: One colour per action (and grey for sources), the same in every plan figure.
ACTION_COLOURS = {
    "build": "#2ca02c",
    "run": "#17becf",
    "reuse": "#9ecae1",
    "skip": "#d62728",
    "no_op": "#c7c7c7",
    "source": "#7f7f7f",
}


def plan_figure(plan: Plan, *, tests: bool = False, title: str | None = None) -> go.Figure:
    """The plan's DAG, layered by depth, one colour per action; hover shows the explanation.

    Args:
        plan: a plan (from :func:`saosim.plan` or :func:`saosim.live.plan`).
        tests: also draw data tests.
        title: the figure title; default the plan's time and counts.
    """
    inputs = plan._inputs
    if inputs is None:
        raise ValueError("this plan carries no project; make it with saosim.plan")
    project = inputs.project
    decided = {d.node_id: d for d in plan.decisions}
    ids = [
        u
        for u in project.order
        if (u in decided or project.nodes[u].resource_type == "source")
        and (tests or not project.nodes[u].is_test)
    ]
    layout = dag_layout(project, ids)
    index = {u: i for i, u in enumerate(ids)}
    ex: list[float | None] = []
    ey: list[float | None] = []
    for u in ids:
        for p in project.parents(u):
            if p in index:
                ex += [layout.x[index[p]], layout.x[index[u]], None]
                ey += [layout.y[index[p]], layout.y[index[u]], None]
    traces = [
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"width": 0.7, "color": "#d0d0d0"},
            hoverinfo="skip",
            name="edges",
            showlegend=False,
        )
    ]
    groups: dict[str, list[int]] = {}
    for i, u in enumerate(ids):
        key = decided[u].action.value if u in decided else "source"
        groups.setdefault(key, []).append(i)
    for key in ACTION_COLOURS:
        members = groups.get(key)
        if not members:
            continue
        hover = []
        for i in members:
            node = project.nodes[ids[i]]
            why = plan.explain(ids[i]) if ids[i] in decided else "source"
            hover.append(
                f"<b>{html.escape(node.name)}</b> ({node.resource_type})<br>{html.escape(why)}"
            )
        traces.append(
            go.Scatter(
                x=layout.x[members].tolist(),
                y=layout.y[members].tolist(),
                mode="markers+text",
                name=key,
                marker={
                    "color": ACTION_COLOURS[key],
                    "size": 12,
                    "symbol": "square" if key == "source" else "circle",
                },
                text=[project.nodes[ids[i]].name for i in members],
                textposition="top center",
                textfont={"size": 9},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    counts = ", ".join(f"{k} {v}" for k, v in plan.counts().items())
    fig = go.Figure(traces)
    fig.update_layout(
        title=title or f"plan at {plan.at:%Y-%m-%d %H:%M} UTC — {counts}",
        template="plotly_white",
        height=520,
        legend={"title": "action"},
    )
    fig.update_xaxes(title="depth", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return fig
