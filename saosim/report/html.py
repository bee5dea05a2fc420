"""The savings report: one self-contained HTML file (plotly's JS inline once, gzip-compressed;
works offline).

Every name that comes from the project (models, tiers, scenarios, jobs) is escaped: Jinja2
autoescapes the page, and the figures escape their hover text.

>>> from saosim.synth.estate import synthetic_estate
>>> from saosim.replay.engine import Scenario, simulate
>>> import tempfile, pathlib
>>> cmp = simulate(synthetic_estate(n_models=40, days=2, seed=3), [Scenario("sao")])
>>> out = write_report(cmp, pathlib.Path(tempfile.mkdtemp()) / "savings.html")
>>> "Savings report" in out.read_text()
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import polars as pl
from markupsafe import Markup

from saosim import __version__
from saosim.project.tiers import tiers_to_dbt_yaml
from saosim.report import figures
from saosim.report.assets import (
    COPY_JS,
    LOADER_JS,
    chart_html,
    plotly_js_banner,
    plotly_js_gz,
)

if TYPE_CHECKING:
    from saosim.replay.comparison import Comparison

__all__ = ["recommended_scenario", "render_report", "write_report"]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
        max-width: 1200px; padding: 1.5rem; color: #222; }
 h1 { margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
 .cards { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
 .card { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; min-width: 14rem; }
 .card h3 { margin: 0 0 .4rem 0; } .big { font-size: 1.8rem; font-weight: 600; }
 .good { color: #2ca02c; } .bad { color: #d62728; }
 table { border-collapse: collapse; margin: .5rem 0 1.5rem 0; font-size: .9rem; }
 th, td { border-bottom: 1px solid #eee; padding: .3rem .6rem; text-align: right; }
 th:first-child, td:first-child, td.name { text-align: left; }
 pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
 .chart { margin: 1rem 0 2rem 0; }
 dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
 dt { font-weight: 600; }
 .card { flex: 1 1 18rem; } .card p { margin: 0; font-size: 1.05rem; line-height: 1.4; }
 details { margin: .5rem 0; } summary { cursor: pointer; }
 button.copy { float: right; margin: .3rem; font-size: .8rem; }
 .loading, .note { color: #888; }
</style>
</head>
<body>
<h1>Savings report — {{ project }}</h1>
<p class="sub">{{ n_models }} models · {{ n_runs }} job runs · {{ start }} → {{ end }} (UTC) ·
saosim {{ version }}</p>
{% if illustrative %}<p class="bad"><b>Illustrative:</b> this estate is synthetic (made by
<code>saosim synth</code>); the figures show how saosim works, not what SAO saves on a real
project.</p>{% endif %}

<h2>Headline — {{ recommended }}</h2>
<div class="cards">
{% for c in cards %}
 <div class="card" id="card-{{ loop.index }}"><h3>{{ c.title }}</h3>
  <p class="{{ c.tone }}">{{ c.sentence }}</p></div>
{% endfor %}
</div>

<p>{{ recommendation }}</p>
{% for line in warnings %}<p class="bad">Cadence: {{ line }}</p>
{% endfor %}
<h2>Scenarios</h2>
{{ summary_table }}
{% if frontier %}
<h2>Recommended tiers — the frontier (saosim recommend)</h2>
<p>{{ frontier.reason }}</p>
<div class="chart">{{ frontier.chart }}</div>
{% if frontier.tiers %}<table><tr><th>tier</th><th>select</th><th>build_after</th>
<th>updates_on</th></tr>
{% for t in frontier.tiers %}<tr><td>{{ t.name }}</td><td><code>{{ t.select }}</code></td>
<td>{{ t.window }}</td><td>{{ t.updates_on }}</td></tr>
{% endfor %}</table>{% endif %}
<p class="note">{{ frontier.note }}</p>
{% endif %}

<h2>Charts</h2>
{% for chart in charts %}<div class="chart">{{ chart }}</div>
{% endfor %}{% if dag_note %}<p class="note">{{ dag_note }}</p>{% endif %}

<h2>Per tier</h2>
{{ tier_table }}

<h2>Top models by dollars saved — {{ recommended }}</h2>
{{ top_table }}

<h2>Method and assumptions</h2>
<dl>
 <dt>What was replayed</dt><dd>The estate's {{ n_runs }} job runs between {{ start }} and
 {{ end }} (UTC), each through saosim's planner under each scenario's profile, state carried
 from run to run (one state shared by all jobs).</dd>
 <dt>Profiles</dt><dd>{{ profiles }}</dd>
 <dt>Cost model</dt><dd>{{ cost_model }}</dd>
 <dt>Bill</dt><dd>{% for line in billing %}{{ line }}<br>{% endfor %}
 The bill columns price each scenario's queries the way the warehouse bills them: Snowflake and
 Databricks SQL bill a running warehouse per second (the union of every job's queries on it,
 plus the idle time before auto-suspend / auto-stop; Snowflake at least 60 s per resume, cloud
 services only above 10% of the day's compute), BigQuery on-demand bills bytes (at least 10 MiB
 per table referenced), editions bill autoscaled slots (50-slot steps, 1-minute minimum) plus
 a fixed baseline. Reuse lowers the bill only where it shortens the time a warehouse is up;
 "cost" is the sum of query runtimes × the hourly rate, which no warehouse bills. Sources:
 docs.snowflake.com/en/user-guide/cost-understanding-compute,
 cloud.google.com/bigquery/pricing, docs.databricks.com/en/compute/sql-warehouse/warehouse-behavior.
 </dd>
 <dt>Cost</dt><dd>Builds and data-test runs priced by the cost model (history runtimes where the
 history has them, fitted runtimes elsewhere) plus per-run overheads; reuses cost nothing.
 Savings are against the baseline scenario <b>{{ baseline }}</b>.</dd>
 <dt>Staleness</dt><dd>For each model, the age of the oldest source data that landed upstream
 and is not yet reflected in it, over the window; p50/p95 over model-time (every model weighted
 equally).</dd>
 <dt>SLAs</dt><dd>Declared once for the whole comparison and scored for every scenario, the
 baseline included: {{ slas }}. SLA breach % = model-time above the SLA ÷ model-time of the
 models with an SLA; "added" is the part a scenario adds to what the baseline already misses (per
 model); models over SLA = models above their SLA at least once. A scenario is recommended only
 if its bill is lower than the baseline's and it breaches no more than it.</dd>
 <dt>Not rebuilt / day</dt><dd>dbt Labs' own measure: for each day, the share of the models a job
 selected that were not rebuilt that day, averaged over days (reuse % counts decisions).</dd>
</dl>

<h2>{{ yaml_heading }}</h2>
{% for file, text in yaml_files %}<details><summary><b>{{ file }}</b>
 ({{ text.splitlines()|length }} lines)</summary>
<button class="copy" data-copy="yaml-{{ loop.index }}">copy</button>
<pre id="yaml-{{ loop.index }}">{{ text }}</pre></details>
{% endfor %}
<!-- {{ plotly_banner }}, gzip + base64: the browser inflates it (DecompressionStream) -->
<script id="plotly-js-gz" type="application/octet-stream">{{ plotly_gz }}</script>
<script>{{ loader_js }}</script>
<script>{{ copy_js }}</script>
</body>
</html>
"""

#: SLA columns: units and denominators in the headings
_BREACH_COLUMNS = (
    ("sla_breach_pct", "SLA breach % of model-time", "{:.1f}"),
    ("sla_breach_models", "models over SLA", "{:,}"),
    ("sla_models", "models with SLA", "{:,}"),
    ("sla_breach_models_pct", "models over SLA %", "{:.1f}"),
    ("sla_breach_model_hours", "model-hours over SLA", "{:,.0f}"),
)
_SUMMARY_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("profile", "profile", "{}"),
    ("runs", "runs", "{:,}"),
    ("node_builds", "builds", "{:,}"),
    ("reuses", "reused", "{:,}"),
    ("reuse_pct", "reuse %", "{:.1f}"),
    ("daily_not_rebuilt_pct", "not rebuilt / day %", "{:.1f}"),
    ("cost_usd", "cost $", "{:,.0f}"),
    ("savings_usd", "saved $", "{:,.0f}"),
    ("savings_pct", "saved %", "{:.1f}"),
    ("bill_usd", "bill $", "{:,.0f}"),
    ("bill_savings_pct", "bill saved %", "{:.1f}"),
    ("test_runs_avoided", "tests avoided", "{:,}"),
    ("staleness_p50_hours", "stale p50 h", "{:.2f}"),
    ("staleness_p95_hours", "stale p95 h", "{:.2f}"),
    ("staleness_max_hours", "stale max h", "{:.1f}"),
    *_BREACH_COLUMNS,
    ("sla_breach_added_pct", "of which added vs baseline %", "{:.1f}"),
)
_TIER_COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("tier", "tier", "{}"),
    ("models", "models", "{:,}"),
    ("node_builds", "builds", "{:,}"),
    ("reuses", "reused", "{:,}"),
    ("reuse_pct", "reuse %", "{:.1f}"),
    ("build_cost_usd", "cost $", "{:,.0f}"),
    ("staleness_p50_hours", "stale p50 h", "{:.2f}"),
    ("staleness_p95_hours", "stale p95 h", "{:.2f}"),
    ("staleness_max_hours", "stale max h", "{:.1f}"),
    *_BREACH_COLUMNS,
)
_TOP_COLUMNS = (
    ("name", "model", "{}"),
    ("tier", "tier", "{}"),
    ("baseline_builds", "baseline builds", "{:,}"),
    ("builds", "builds", "{:,}"),
    ("baseline_cost_usd", "baseline $", "{:,.2f}"),
    ("cost_usd", "cost $", "{:,.2f}"),
    ("savings_usd", "saved $", "{:,.2f}"),
)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return fmt.format(value)


def _table(frame: pl.DataFrame, columns: tuple[tuple[str, str, str], ...]) -> Markup:
    env = _env()
    shown = [c for c in columns if c[0] in frame.columns]
    rows = [[_fmt(r[c], f) for c, _, f in shown] for r in frame.iter_rows(named=True)]
    return Markup(
        env.from_string(
            "<table><thead><tr>{% for h in heads %}<th>{{ h }}</th>{% endfor %}</tr></thead>"
            "<tbody>{% for r in rows %}<tr>{% for v in r %}<td>{{ v }}</td>{% endfor %}</tr>"
            "{% endfor %}</tbody></table>"
        ).render(heads=[h for _, h, _ in shown], rows=rows)
    )


def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def recommended_scenario(comparison: Comparison) -> str:
    """The cheapest scenario that keeps the SLAs, else the baseline
    (:meth:`saosim.replay.comparison.Comparison.recommendation`)."""
    return comparison.recommendation().scenario


def _cards(
    summary: pl.DataFrame, baseline: str, recommended: str, n_runs: str
) -> list[dict[str, str]]:
    """Three cards, one sentence each: the bill, the saving, the freshness it costs."""
    rows = {r["scenario"]: r for r in summary.iter_rows(named=True)}
    base, rec = rows[baseline], rows[recommended]
    bill = (
        f"Rebuilding every selected model at every run, the {n_runs} job runs are billed "
        f"{_fmt(base.get('bill_usd'), '${:,.0f}')} ({base.get('billing')}); their query time "
        f"alone costs {_fmt(base['cost_usd'], '${:,.0f}')}."
    )
    others = [n for n in rows if n != baseline]
    if recommended == baseline and others:
        # nothing beats what ran: the cards show the cheapest alternative and what it costs
        price = "bill_usd" if all(rows[n].get("bill_usd") is not None for n in rows) else "cost_usd"
        name = min(others, key=lambda n: (rows[n][price], n))
        rec = rows[name]
        saving = (
            f"No scenario is recommended over what ran: the cheapest, {name}, would be billed "
            f"{_fmt(rec.get('bill_usd'), '${:,.0f}')} "
            f"({_fmt(rec.get('bill_savings_pct'), '{:.1f}%')} less), with query time "
            f"{_fmt(rec['savings_pct'], '{:.1f}%')} lower."
        )
    else:
        saving = (
            f"{recommended} would cost {_fmt(rec['cost_usd'], '${:,.0f}')}: "
            f"{_fmt(rec['savings_usd'], '${:,.0f}')} ({_fmt(rec['savings_pct'], '{:.1f}%')}) "
            f"less, reusing {_fmt(rec['reuse_pct'], '{:.1f}%')} of model builds; the bill "
            f"{_fmt(rec.get('bill_savings_usd'), '${:,.0f}')} "
            f"({_fmt(rec.get('bill_savings_pct'), '{:.1f}%')}) less."
        )
    b95, r95 = base.get("staleness_p95_hours"), rec.get("staleness_p95_hours")
    b_sla, r_sla = base.get("sla_breach_pct"), rec.get("sla_breach_pct")
    worse = r_sla is not None and b_sla is not None and r_sla > b_sla + 1e-9
    sla_text = (
        "no SLA is declared"
        if r_sla is None
        else f"its SLAs are breached on {r_sla:.1f}% of model-time (baseline {b_sla:.1f}%)"
    )
    if b95 is not None and r95 is not None and r95 <= b95 + 0.005:
        fresh = f"Freshness costs nothing: p95 staleness stays at {r95:.1f} h; {sla_text}."
    else:
        fresh = (
            f"Data gets older: p95 staleness {_fmt(b95, '{:.1f}')} h → {_fmt(r95, '{:.1f}')} h "
            f"(p50 {_fmt(base.get('staleness_p50_hours'), '{:.1f}')} → "
            f"{_fmt(rec.get('staleness_p50_hours'), '{:.1f}')} h); {sla_text}."
        )
    saved = recommended != baseline and (rec.get("savings_usd") or 0) > 0
    return [
        {"title": "The bill", "sentence": bill, "tone": ""},
        {"title": "The saving", "sentence": saving, "tone": "good" if saved else ""},
        {"title": "The freshness cost", "sentence": fresh, "tone": "bad" if worse else ""},
    ]


def _charts(comparison: Comparison, recommended: str, dag: bool | None) -> list[Markup]:
    figs = [
        figures.cost_per_day(comparison),
        figures.reuse_per_day(comparison),
        figures.cost_vs_staleness(comparison),
        figures.staleness_by_tier(comparison, tiers_of=recommended),
        figures.builds_per_model(comparison, recommended),
    ]
    if _draw_dag(comparison, dag):
        figs.append(_dag(comparison, recommended))
    figs.append(figures.day_timeline(comparison, recommended))
    return [chart_html(fig, f"chart-{i + 1}") for i, fig in enumerate(figs)]


#: the whole DAG is drawn up to this many nodes; a bigger one shows the top models' sub-DAG
DAG_MAX_NODES = 3000
#: above this many nodes the DAG is drawn only on request (``dag=True``, ``saosim report --dag``)
DAG_DEFAULT_NODES = 1000


def _dag_size(comparison: Comparison) -> int:
    return sum(1 for node in comparison.estate.project.nodes.values() if not node.is_test)


def _draw_dag(comparison: Comparison, dag: bool | None) -> bool:
    return dag if dag is not None else _dag_size(comparison) <= DAG_DEFAULT_NODES


def _dag(comparison: Comparison, scenario: str) -> Any:
    n = _dag_size(comparison)
    if n <= DAG_MAX_NODES:
        return figures.dag_reuse(comparison, scenario, max_nodes=DAG_MAX_NODES)
    top = max(1, DAG_MAX_NODES // 15)
    nodes = figures.around_top_models(comparison, scenario, top=top)
    fig = figures.dag_reuse(comparison, scenario, nodes=nodes, max_nodes=DAG_MAX_NODES)
    fig.update_layout(title=f"{fig.layout.title.text} (around the {top} models that save most)")
    return fig


def render_report(
    comparison: Comparison,
    *,
    recommended: str | None = None,
    dag: bool | None = None,
    frontier: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    metrics = comparison.metrics()
    summary = comparison.summary()  # the metric summary and the bill columns
    project = comparison.estate.project
    choice = comparison.recommendation()
    recommended = recommended or choice.scenario
    if recommended == choice.scenario:
        yaml_heading = f"Recommended tiers as dbt config — {recommended}"
    else:  # asked for by name: shown, never labelled recommended when it breaches more
        why = choice.why_not(recommended) or "it is not the cheapest scenario that keeps the SLAs"
        yaml_heading = f"Tiers of {recommended} as dbt config — not recommended: {why}"
    n_runs = f"{summary['runs'].max() or 0:,}"
    draw = _draw_dag(comparison, dag)
    yaml_files = tiers_to_dbt_yaml(comparison.freshness[recommended], project)
    cost_model = [
        (f.name, getattr(comparison.cost_model, f.name))
        for f in dataclasses.fields(comparison.cost_model)
        if f.name != "billing"  # shown under "Bill"
    ]
    bill = comparison.bill().summary
    billing = bill.get_column("assumptions").unique(maintain_order=True).to_list()
    if len(billing) > 1:
        billing = [f"{s}: {a}" for s, a in bill.select("scenario", "assumptions").iter_rows()]
    return (
        _env()
        .from_string(_TEMPLATE)
        .render(
            title=f"saosim savings report — {project.name}",
            project=project.name,
            n_models=f"{len(project.buildable):,}",
            n_runs=n_runs,
            start=f"{comparison.start:%Y-%m-%d %H:%M}",
            end=f"{comparison.end:%Y-%m-%d %H:%M}",
            version=__version__,
            cards=_cards(summary, comparison.baseline, recommended, n_runs),
            recommendation=f"Recommended: {choice.scenario} — {choice.reason}.",
            warnings=[w.message() for w in comparison.cadence_warnings()],
            slas=comparison.slas.describe(),
            yaml_heading=yaml_heading,
            illustrative=bool(getattr(comparison.estate, "synthetic", False)),
            summary_table=_table(summary, _SUMMARY_COLUMNS),
            charts=_charts(comparison, recommended, dag),
            dag_note=None
            if draw
            else f"The DAG ({_dag_size(comparison):,} nodes) is not drawn, to keep this file "
            "small: pass --dag to saosim report (or dag=True to write_report) to draw it.",
            tier_table=_table(metrics.per_tier.sort("scenario", "tier"), _TIER_COLUMNS),
            recommended=recommended,
            top_table=_table(figures.top_models(comparison, recommended, 20), _TOP_COLUMNS),
            baseline=comparison.baseline,
            profiles=", ".join(f"{k}: {v}" for k, v in sorted(comparison.profiles.items())),
            cost_model=", ".join(f"{k} = {v}" for k, v in cost_model),
            billing=billing,
            yaml_files=sorted(yaml_files.items()),
            plotly_banner=plotly_js_banner(),
            plotly_gz=plotly_js_gz(),
            loader_js=Markup(LOADER_JS),
            copy_js=Markup(COPY_JS),
            frontier=_frontier(frontier),
        )
    )


def _frontier(rec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The recommender's section: its reason, the frontier chart and the tiers."""
    if not rec:
        return None
    tiers = (rec.get("recommended") or {}).get("tiers") or {}
    rows = []
    for name, spec in tiers.items():
        ba = spec.get("build_after") or {}
        window = f"{ba['count']} {ba['period']}" if ba else "none"
        rows.append(
            {"name": name, "select": spec.get("select", "(every other model)"), "window": window,
             "updates_on": ba.get("updates_on", "any")}
        )  # fmt: skip
    n = rec.get("candidates_scored", 0)
    note = (
        f"{n:,} candidates scored by the same replay and metrics as this report; the line is "
        "the cheapest breach share reached at each bill (the Pareto frontier)."
    )
    chart = chart_html(figures.frontier_figure(rec), "chart-frontier")
    return {"reason": rec.get("reason", ""), "chart": chart, "tiers": rows, "note": note}


def write_report(
    comparison: Comparison,
    path: str | Path,
    *,
    recommended: str | None = None,
    dag: bool | None = None,
    frontier: Mapping[str, Any] | None = None,
) -> Path:
    """Write the savings report of ``comparison`` to ``path`` (one self-contained HTML file).

    Args:
        recommended: the scenario whose tiers are shown as dbt YAML and whose per-model
            savings are listed (default :func:`recommended_scenario`).
        dag: draw the DAG coloured by reuse; default only for projects of at most
            :data:`DAG_DEFAULT_NODES` nodes (a big DAG is most of a report's size).
        frontier: a recommendation (``saosim recommend``'s JSON) to show as a section: its
            reason, its frontier and its tiers.

    Returns:
        The path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(comparison, recommended=recommended, dag=dag, frontier=frontier)
    out.write_text(html, encoding="utf-8")
    return out
