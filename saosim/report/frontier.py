"""The recommender's cost-vs-breach frontier as a plotly figure.

Takes the plain points of a recommendation (``Recommendation.to_dict()``: ``candidates``,
``frontier``, ``baseline``, ``recommended``, ``scenarios``), so the report room needs nothing
from the tuner.

>>> pts = [{"label": "a", "bill_usd": 5.0, "sla_breach_pct": 3.0, "pareto": True},
...        {"label": "b", "bill_usd": 6.0, "sla_breach_pct": 4.0, "pareto": False}]
>>> rec = {"candidates": pts, "baseline": {"bill_usd": 8.0, "sla_breach_pct": 3.0},
...        "recommended": {"label": "a", "bill_usd": 5.0, "sla_breach_pct": 3.0}}
>>> [t.name for t in frontier_figure(rec).data]
['candidates', 'frontier', 'baseline', 'recommended']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["frontier_figure", "price_of"]


def price_of(point: Mapping[str, Any]) -> float:
    """The money a point is judged by: its bill, else its query-seconds cost."""
    bill = point.get("bill_usd")
    return float(point["cost_usd"] if bill is None else bill)


def _scatter(points: Sequence[Mapping[str, Any]], name: str, **style: Any) -> go.Scatter:
    return go.Scatter(
        x=[price_of(p) for p in points],
        y=[p["sla_breach_pct"] for p in points],
        name=name,
        text=[p.get("label", name) for p in points],
        hovertemplate="%{text}<br>$%{x:,.0f}<br>breach %{y:.2f}%<extra></extra>",
        **style,
    )


def frontier_figure(recommendation: Mapping[str, Any]) -> go.Figure:
    """Every candidate scored (bill vs SLA breach), the Pareto frontier as a line, the baseline,
    the user's own scenarios and the recommended point, on the same axes."""
    rec = recommendation
    cands = list(rec.get("candidates") or rec.get("frontier") or [])
    front = sorted((p for p in cands if p.get("pareto")), key=price_of)
    fig = go.Figure()
    fig.add_trace(
        _scatter(cands, "candidates", mode="markers", marker={"color": "#9ecae1", "size": 7})
    )
    fig.add_trace(
        _scatter(front, "frontier", mode="lines+markers", line={"color": "#1f77b4", "shape": "hv"})
    )
    base = dict(rec["baseline"], label="baseline (what ran)")
    fig.add_trace(
        _scatter(
            [base],
            "baseline",
            mode="markers",
            marker={"color": "#7f7f7f", "size": 13, "symbol": "square"},
        )
    )
    for i, s in enumerate(rec.get("scenarios") or []):
        fig.add_trace(
            _scatter(
                [s],
                str(s.get("label", f"scenario {i + 1}")),
                mode="markers",
                marker={"size": 12, "symbol": "diamond"},
            )
        )
    fig.add_trace(
        _scatter(
            [rec["recommended"]],
            "recommended",
            mode="markers",
            marker={"color": "#d62728", "size": 16, "symbol": "star"},
        )
    )
    fig.update_layout(
        title="Bill vs SLA breach of every candidate scored",
        xaxis_title="bill (USD over the replay)",
        yaxis_title="SLA breach (% of model-time)",
        template="plotly_white",
        height=440,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig
