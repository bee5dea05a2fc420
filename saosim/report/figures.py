"""Plotly figures of a :class:`~saosim.replay.comparison.Comparison`: each function returns a
``plotly.graph_objects.Figure`` whose traces hold the numbers of the metrics tables.

Computing happens in :mod:`saosim.metrics.tables`; these functions only pick columns and lay them
out,
so a chart and the table it comes from always agree.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario, simulate
>>> cmp = simulate(synthetic_estate(n_models=40, days=2, seed=3), [Scenario("sao")])
>>> [t.name for t in cost_per_day(cmp).data]
['baseline', 'sao']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import polars as pl

from saosim.report.dag import dag_layout
from saosim.report.frontier import frontier_figure

if TYPE_CHECKING:
    from saosim.replay.comparison import Comparison

__all__ = [
    "builds_per_model",
    "cost_per_day",
    "cost_vs_staleness",
    "dag_reuse",
    "day_timeline",
    "frontier_figure",
    "reuse_per_day",
    "staleness_by_tier",
]

#: one colour per scenario position (the baseline is drawn grey and dashed)
_PALETTE = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728", "#17becf", "#8c564b")
_BASELINE_COLOUR = "#7f7f7f"


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        height=440,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


def _colours(comparison: Comparison) -> dict[str, str]:
    out: dict[str, str] = {}
    others = iter(_PALETTE * 4)
    for s in comparison.scenarios:
        out[s.name] = _BASELINE_COLOUR if s.name == comparison.baseline else next(others)
    return out


def _names(comparison: Comparison) -> list[str]:
    return [s.name for s in comparison.scenarios]


def _per_scenario_lines(comparison: Comparison, frame: pl.DataFrame, y: str) -> list[go.Scatter]:
    colours = _colours(comparison)
    traces = []
    for name in _names(comparison):
        rows = frame.filter(pl.col("scenario") == name).sort("day")
        baseline = name == comparison.baseline
        traces.append(
            go.Scatter(
                x=rows["day"].to_list(),
                y=rows[y].to_list(),
                name=name,
                mode="lines+markers",
                line={"color": colours[name], "dash": "dash" if baseline else "solid"},
                marker={"size": 4},
            )
        )
    return traces


def cost_per_day(comparison: Comparison) -> go.Figure:
    """Compute cost per UTC day, one line per scenario; the baseline dashed as reference.

    y values are ``per_day()["cost_usd"]`` (days with runs only).
    """
    frame = comparison.per_day().filter(pl.col("runs").is_not_null())
    fig = go.Figure(_per_scenario_lines(comparison, frame, "cost_usd"))
    return _layout(fig, "Cost per day", "day (UTC)", "cost (USD)")


def reuse_per_day(comparison: Comparison) -> go.Figure:
    """Share of model decisions that reused the existing table, per day and scenario.

    y = ``100 × reuses / (node_builds + reuses)`` of ``per_day()``.
    """
    frame = (
        comparison.per_day()
        .filter(pl.col("runs").is_not_null())
        .with_columns(
            (100 * pl.col("reuses") / (pl.col("node_builds") + pl.col("reuses")))
            .fill_nan(0.0)
            .alias("reuse_pct")
        )
    )
    fig = go.Figure(_per_scenario_lines(comparison, frame, "reuse_pct"))
    fig = _layout(fig, "Models reused per day", "day (UTC)", "reused (%)")
    fig.update_yaxes(range=[0, 100])
    return fig


def _pick(comparison: Comparison, scenario: str | None) -> str:
    names = _names(comparison)
    if scenario is None:
        others = [n for n in names if n != comparison.baseline]
        if not others:
            return comparison.baseline
        best = comparison.summary().filter(pl.col("scenario").is_in(others))
        return str(best.sort("cost_usd", "scenario")["scenario"][0])
    if scenario not in names:
        raise KeyError(f"no scenario named {scenario!r}; the scenarios are {', '.join(names)}")
    return scenario


def top_models(comparison: Comparison, scenario: str | None = None, top: int = 20) -> pl.DataFrame:
    """The models on which ``scenario`` saves most, with baseline and scenario builds and cost
    (one row per model, most dollars saved first; ties by builds avoided, then name).

    >>> from saosim.synth.estate import synthetic_estate
    >>> from saosim.replay.engine import Scenario, simulate
    >>> cmp = simulate(synthetic_estate(n_models=40, days=2, seed=3), [Scenario("sao")])
    >>> top_models(cmp, "sao", top=3).columns[:4]
    ['unique_id', 'name', 'tier', 'baseline_builds']
    """
    scenario = _pick(comparison, scenario)
    pm = comparison.per_model().filter(pl.col("resource_type") != "test")
    base = pm.filter(pl.col("scenario") == comparison.baseline).select(
        "unique_id",
        "name",
        pl.col("builds").alias("baseline_builds"),
        pl.col("cost_usd").alias("baseline_cost_usd"),
    )
    other = pm.filter(pl.col("scenario") == scenario).select(
        "unique_id", "tier", "builds", "cost_usd"
    )
    return (
        base.join(other, on="unique_id", how="left")
        .with_columns(pl.col("builds").fill_null(0), pl.col("cost_usd").fill_null(0.0))
        .with_columns(
            (pl.col("baseline_builds") - pl.col("builds")).alias("builds_avoided"),
            (pl.col("baseline_cost_usd") - pl.col("cost_usd")).alias("savings_usd"),
        )
        .sort(["savings_usd", "builds_avoided", "name"], descending=[True, True, False])
        .head(top)
        .select(
            "unique_id",
            "name",
            "tier",
            "baseline_builds",
            "builds",
            "builds_avoided",
            "baseline_cost_usd",
            "cost_usd",
            "savings_usd",
        )
    )


def builds_per_model(
    comparison: Comparison, scenario: str | None = None, *, top: int = 20
) -> go.Figure:
    """Builds of the ``top`` models that save most dollars: baseline vs ``scenario``
    (default: the cheapest non-baseline scenario). Bars follow :func:`top_models`."""
    scenario = _pick(comparison, scenario)
    rows = top_models(comparison, scenario, top)
    colours = _colours(comparison)
    names = rows["name"].to_list()
    fig = go.Figure(
        [
            go.Bar(
                x=names,
                y=rows["baseline_builds"].to_list(),
                name=comparison.baseline,
                marker_color=colours[comparison.baseline],
            ),
            go.Bar(
                x=names,
                y=rows["builds"].to_list(),
                name=scenario,
                marker_color=colours[scenario],
            ),
        ]
    )
    fig = _layout(fig, f"Builds per model (top {len(names)} by dollars saved)", "model", "builds")
    fig.update_layout(barmode="group")
    return fig


def staleness_by_tier(
    comparison: Comparison,
    *,
    measure: str = "staleness_max_hours",
    tiers_of: str | None = None,
) -> go.Figure:
    """Distribution over models of their staleness per tier and scenario (box plots), with
    each tier's SLA as a marker line.

    Every scenario's box of a tier holds the same models: the tiers are those of one scenario
    (``tiers_of``; default the first scenario with tiers, else the cheapest non-baseline one)
    and only models with a staleness in every scenario count.

    Args:
        measure: a per-model staleness column: ``staleness_max_hours`` (worst moment; what an
            SLA is about) or ``staleness_mean_hours``.
        tiers_of: the scenario whose tier assignment groups the models.
    """
    names = _names(comparison)
    if tiers_of is None:
        tiered = [s.name for s in comparison.scenarios if s.tiers is not None]
        tiers_of = tiered[0] if tiered else _pick(comparison, None)
    tiers_of = _pick(comparison, tiers_of)
    pm = comparison.per_model().filter(pl.col(measure).is_not_null())
    common = (
        pm.group_by("unique_id")
        .agg(pl.col("scenario").n_unique().alias("n"))
        .filter(pl.col("n") == len(names))
        .select("unique_id")
    )
    groups = (
        pm.filter(pl.col("scenario") == tiers_of)
        .select("unique_id", pl.col("tier").fill_null("(none)").alias("group"), "sla_hours")
        .join(common, on="unique_id")
    )
    pm = pm.join(groups.select("unique_id", "group"), on="unique_id")
    colours = _colours(comparison)
    traces: list[go.BaseTraceType] = []
    for name in names:
        rows = pm.filter(pl.col("scenario") == name).sort("group", "unique_id")
        traces.append(
            go.Box(
                x=rows["group"].to_list(),
                y=rows[measure].to_list(),
                name=name,
                marker_color=colours[name],
                boxpoints=False,
                text=rows["name"].to_list(),
            )
        )
    sla = (
        groups.filter(pl.col("sla_hours").is_not_null() & (pl.col("sla_hours") > 0))
        .group_by("group")
        .agg(pl.col("sla_hours").max())
        .sort("group")
    )
    if sla.height:
        traces.append(
            go.Scatter(
                x=sla["group"].to_list(),
                y=sla["sla_hours"].to_list(),
                name="SLA",
                mode="markers",
                marker={"symbol": "line-ew-open", "size": 40, "color": "#d62728", "line_width": 3},
            )
        )
    fig = go.Figure(traces)
    label = "worst" if measure == "staleness_max_hours" else "mean"
    title = f"Staleness per tier of {tiers_of} ({label} per model, same models in every scenario)"
    fig = _layout(fig, title, "tier", "staleness (hours)")
    fig.update_layout(boxmode="group")
    return fig


def cost_vs_staleness(
    comparison: Comparison,
    *,
    sweep: Comparison | Sequence[Comparison] | None = None,
    staleness: str = "staleness_p95_hours",
) -> go.Figure:
    """The trade-off: one point per scenario (cost vs staleness), plus one line of points per
    sweep (:func:`saosim.tune.tuner.sweep`) if given.

    Args:
        staleness: a summary column (``staleness_p50_hours``, ``staleness_p95_hours``,
            ``staleness_mean_hours``, ``staleness_max_hours``).
    """
    summary = comparison.summary()
    colours = _colours(comparison)
    traces: list[go.BaseTraceType] = []
    for row in summary.iter_rows(named=True):
        traces.append(
            go.Scatter(
                x=[row[staleness]],
                y=[row["cost_usd"]],
                name=row["scenario"],
                mode="markers+text",
                text=[row["scenario"]],
                textposition="top center",
                marker={"size": 14, "color": colours.get(row["scenario"], _BASELINE_COLOUR)},
            )
        )
    sweeps = [] if sweep is None else [sweep] if not isinstance(sweep, Sequence) else list(sweep)
    for i, swept in enumerate(sweeps):
        s = swept.summary().filter(pl.col("scenario") != swept.baseline)
        traces.append(
            go.Scatter(
                x=s[staleness].to_list(),
                y=s["cost_usd"].to_list(),
                name=f"sweep {i + 1}" if len(sweeps) > 1 else "sweep",
                mode="lines+markers+text",
                text=s["scenario"].to_list(),
                textposition="bottom right",
                line={"dash": "dot"},
                marker={"size": 8, "symbol": "diamond"},
            )
        )
    fig = go.Figure(traces)
    label = staleness.removeprefix("staleness_").removesuffix("_hours")
    return _layout(fig, "Cost vs staleness", f"staleness {label} (hours)", "cost (USD)")


def around_top_models(
    comparison: Comparison, scenario: str | None = None, *, top: int = 200
) -> frozenset[str]:
    """The ``top`` models that save most (:func:`top_models`) with their direct parents and
    children: a readable sub-DAG of a big project."""
    project = comparison.estate.project
    chosen = set(top_models(comparison, scenario, top)["unique_id"].to_list())
    around = set(chosen)
    for uid in chosen:
        around.update(project.parents(uid))
        around.update(c for c in project.children(uid) if not project.nodes[c].is_test)
    return frozenset(around)


def _node_stats(comparison: Comparison, scenario: str) -> pl.DataFrame:
    """Per node of one scenario: builds, reuses, skips and its reasons (most frequent first)."""
    log = comparison.decisions_of(scenario)
    reasons = (
        log.group_by("unique_id", "reason")
        .len()
        .with_columns(pl.col("unique_id").cast(pl.String), pl.col("reason").cast(pl.String))
        .sort(["unique_id", "len", "reason"], descending=[False, True, False])
        .group_by("unique_id", maintain_order=True)
        .agg((pl.col("reason") + " ×" + pl.col("len").cast(pl.String)).str.join(", ").alias("why"))
    )
    counts = (
        log.with_columns(pl.col("action").cast(pl.String), pl.col("unique_id").cast(pl.String))
        .group_by("unique_id")
        .agg(
            (pl.col("action") == "build").sum().alias("builds"),
            (pl.col("action") == "reuse").sum().alias("reuses"),
            (pl.col("action") == "skip").sum().alias("skips"),
        )
    )
    return counts.join(reasons, on="unique_id", how="left")


def dag_reuse(
    comparison: Comparison,
    scenario: str | None = None,
    *,
    select: str | None = None,
    nodes: Iterable[str] | None = None,
    max_nodes: int = 2000,
) -> go.Figure:
    """The DAG (or the sub-DAG a dbt ``select`` or a set of ``nodes`` picks), layered by
    topological depth, each model coloured by the share of its decisions that reused it;
    hover shows the reasons.

    Data tests are left out; sources are grey. ``max_nodes`` guards the browser: a bigger
    selection is an error that asks for a narrower ``select``.
    """
    scenario = _pick(comparison, scenario)
    project = comparison.estate.project
    if nodes is not None:
        keep = frozenset(nodes)
    else:
        keep = project.select(select) if select else frozenset(project.nodes)
    ids = [u for u in project.order if u in keep and not project.nodes[u].is_test]
    if len(ids) > max_nodes:
        raise ValueError(
            f"{len(ids)} nodes is more than max_nodes={max_nodes}; pass a narrower select "
            "(e.g. select='+fct_orders') or a larger max_nodes"
        )
    layout = dag_layout(project, ids)
    stats = {r["unique_id"]: r for r in _node_stats(comparison, scenario).iter_rows(named=True)}
    ex, ey = [], []
    index = {u: i for i, u in enumerate(ids)}
    for u in ids:
        for p in project.parents(u):
            if p in index:
                ex += [layout.x[index[p]], layout.x[index[u]], None]
                ey += [layout.y[index[p]], layout.y[index[u]], None]
    edges = go.Scatter(
        x=ex,
        y=ey,
        mode="lines",
        line={"width": 0.5, "color": "#c7c7c7"},
        hoverinfo="skip",
        name="edges",
        showlegend=False,
    )
    reuse, hover = [], []
    for u in ids:
        node = project.nodes[u]
        s = stats.get(u)
        decided = 0 if s is None else s["builds"] + s["reuses"]
        share = float("nan") if not decided else 100.0 * s["reuses"] / decided
        reuse.append(share)
        lines = [f"<b>{_esc(node.name)}</b> ({node.resource_type})"]
        if s is not None:
            lines.append(f"builds {s['builds']:,} · reuses {s['reuses']:,} · skips {s['skips']:,}")
            lines.append(f"why: {_esc(s['why'] or '')}")
        hover.append("<br>".join(lines))
    reuse_arr = np.asarray(reuse, dtype=float)
    has = ~np.isnan(reuse_arr)
    nodes = go.Scatter(
        x=layout.x[has].tolist(),
        y=layout.y[has].tolist(),
        mode="markers",
        name="models",
        marker={
            "color": reuse_arr[has].tolist(),
            "colorscale": "Viridis",
            "cmin": 0,
            "cmax": 100,
            "size": 8,
            "colorbar": {"title": "reused %"},
        },
        text=[h for h, k in zip(hover, has, strict=True) if k],
        hoverinfo="text",
        customdata=[u for u, k in zip(ids, has, strict=True) if k],
    )
    other = go.Scatter(
        x=layout.x[~has].tolist(),
        y=layout.y[~has].tolist(),
        mode="markers",
        name="sources / not decided",
        marker={"color": "#bbbbbb", "size": 6, "symbol": "square"},
        text=[h for h, k in zip(hover, has, strict=True) if not k],
        hoverinfo="text",
        customdata=[u for u, k in zip(ids, has, strict=True) if not k],
    )
    fig = go.Figure([edges, other, nodes])
    fig = _layout(fig, f"DAG coloured by reuse — {scenario}", "depth", "")
    fig.update_layout(height=640)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    return fig


def _esc(text: str) -> str:
    # plotly renders hover text as HTML: project names must show as text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def day_timeline(
    comparison: Comparison, scenario: str | None = None, day: date | str | None = None
) -> go.Figure:
    """One day's job runs of ``scenario``: a row per run (in time order), each built node a bar
    from its start to its finish, each reused node a marker at the time it was decided.

    Args:
        day: a UTC date (default: the busiest day of the replay for this scenario).
    """
    scenario = _pick(comparison, scenario)
    log = comparison.decisions_of(scenario).with_columns(
        pl.col("action").cast(pl.String),
        pl.col("run_id").cast(pl.String),
        pl.col("job_id").cast(pl.String),
        pl.col("unique_id").cast(pl.String),
        pl.col("run_at").dt.date().alias("day"),
    )
    if day is None:
        busiest = log.filter(pl.col("action") == "build").group_by("day").len()
        busiest = busiest.sort(["len", "day"], descending=[True, False])
        day = busiest["day"][0] if busiest.height else log["day"].min()
    elif isinstance(day, str):
        day = date.fromisoformat(day)
    rows = log.filter(pl.col("day") == day).sort("run_at", "run_id", "started_at", "unique_id")
    label = pl.col("run_at").dt.strftime("%H:%M") + " " + pl.col("job_id").fill_null("")
    rows = rows.with_columns(label.alias("run"))
    names = comparison.estate.project.nodes
    built = rows.filter(pl.col("action") == "build")
    duration_ms = (pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 1000
    reused = rows.filter(pl.col("action") == "reuse")
    fig = go.Figure(
        [
            # one horizontal bar per build, from its start (base) for its duration (ms)
            go.Bar(
                base=built["started_at"].to_list(),
                x=built.select(duration_ms)["finished_at"].to_list(),
                y=built["run"].to_list(),
                text=[_esc(names[u].name) for u in built["unique_id"]],
                orientation="h",
                name=f"built ({built.height:,})",
                marker={"color": "#d62728"},
                textposition="none",
                hovertemplate="%{text}<br>%{base|%H:%M:%S} → %{x|%H:%M:%S}<extra></extra>",
            ),
            go.Scatter(
                x=reused["started_at"].to_list(),
                y=reused["run"].to_list(),
                text=[_esc(names[u].name) for u in reused["unique_id"]],
                mode="markers",
                name=f"reused ({reused.height:,})",
                marker={"symbol": "line-ns-open", "size": 8, "color": "#2ca02c"},
                hoverinfo="text+x",
            ),
        ]
    )
    fig = _layout(fig, f"Job runs on {day} — {scenario}", "time (UTC)", "run")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(type="date")
    # rows in time order (the first run at the top), whatever order the traces list them in
    order = rows.group_by("run").agg(pl.col("run_at").min()).sort("run_at", "run")["run"]
    fig.update_yaxes(
        autorange="reversed",
        type="category",
        categoryorder="array",
        categoryarray=order.to_list(),
    )
    return fig
