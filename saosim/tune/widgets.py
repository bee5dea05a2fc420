"""The tier tuner: ipywidgets to edit freshness tiers, with the savings and staleness charts
and the summary replayed on every change (a :class:`saosim.tune.tuner.Tuner` underneath).

In a notebook::

    tuner = saosim.TierTuner(saosim.load_estate("data/example"), tiers=saosim.tune.demo.TUNED_TIERS)
    tuner          # shows the controls, the summary and the charts
    tuner.dbt_yaml()   # the chosen tiers as dbt_project.yml / properties YAML

Every control can also be set from code (``tuner.rows[0].count.value = 2``); the view
updates the same way.

>>> from saosim.synth.estate import synthetic_estate
>>> t = TierTuner(synthetic_estate(n_models=40, days=2, seed=3),
...               tiers={"default": {"build_after": {"count": 1, "period": "day"}, "sla": "26h"}})
>>> t.tiers()["default"]["build_after"]
{'count': 1, 'period': 'day', 'updates_on': 'any'}
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl

from saosim.errors import SaosimError, require
from saosim.inputs.estate import Estate
from saosim.project.tiers import Tiers, tiers_to_dbt_yaml
from saosim.replay.comparison import Comparison
from saosim.report import figures
from saosim.tune.tuner import Tuner, _tiers_mapping

require("ipywidgets", extra="notebook", feature="the tier tuner widget")
import ipywidgets as w  # noqa: E402 - only once the check above has named the extra to install

__all__ = ["TierRow", "TierTuner"]

_PERIODS = ("minute", "hour", "day")
_PROFILES = ("sao", "dbt_state", "orchestra")


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class TierRow:
    """The controls of one tier: name, selector, build_after count + period, updates_on, SLA."""

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        ba = spec.get("build_after") or {}
        self.name = w.Text(value=name, description="tier", layout=w.Layout(width="12rem"))
        self.select = w.Text(
            value=spec.get("select") or "",
            placeholder="every other model" if name == "default" else "tag:hourly",
            description="select",
            disabled=name == "default",
            layout=w.Layout(width="16rem"),
        )
        self.count = w.BoundedIntText(
            value=int(ba.get("count", 1)),
            min=1,
            max=10_000,
            description="every",
            layout=w.Layout(width="9rem"),
        )
        self.period = w.Dropdown(
            options=_PERIODS, value=ba.get("period", "hour"), layout=w.Layout(width="6rem")
        )
        self.enabled = w.Checkbox(
            value=bool(ba), description="build_after", indent=False, layout=w.Layout(width="7rem")
        )
        self.updates_on = w.Dropdown(
            options=("any", "all"),
            value=ba.get("updates_on", "any"),
            description="updates_on",
            layout=w.Layout(width="11rem"),
        )
        sla = spec.get("sla")
        self.sla = w.Text(
            value="" if sla is None else str(sla),
            placeholder="26h",
            description="SLA",
            layout=w.Layout(width="9rem"),
        )
        self.models = w.HTML(value="")
        self.remove = w.Button(description="remove", layout=w.Layout(width="5.5rem"))
        self.box = w.HBox(
            [
                self.name,
                self.select,
                self.enabled,
                self.count,
                self.period,
                self.updates_on,
                self.sla,
                self.models,
                self.remove,
            ]
        )

    @property
    def controls(self) -> tuple[w.ValueWidget, ...]:
        return (
            self.name,
            self.select,
            self.enabled,
            self.count,
            self.period,
            self.updates_on,
            self.sla,
        )

    def spec(self) -> dict[str, Any]:
        """This tier's YAML mapping."""
        out: dict[str, Any] = {}
        if self.select.value.strip() and self.name.value != "default":
            out["select"] = self.select.value.strip()
        if self.enabled.value:
            out["build_after"] = {
                "count": int(self.count.value),
                "period": self.period.value,
                "updates_on": self.updates_on.value,
            }
        if self.sla.value.strip():
            out["sla"] = self.sla.value.strip()
        return out


class TierTuner:
    """Edit tiers, see cost, reuse and staleness move (baseline replayed once, then only the
    tuned scenario, with the compiled kernel).

    Args:
        estate: what to replay; or a :class:`saosim.tune.tuner.Tuner` already prepared.
        tiers: the starting tiers (YAML mapping or :class:`~saosim.project.tiers.Tiers`).
        profile: ``sao``, ``dbt_state`` or ``orchestra``.
        auto: replay on every change (else only on the "replay" button).
    """

    def __init__(
        self,
        estate: Estate | Tuner,
        *,
        tiers: Mapping[str, Any] | Tiers | None = None,
        profile: str = "sao",
        auto: bool = True,
    ) -> None:
        self.tuner = estate if isinstance(estate, Tuner) else Tuner(estate)
        start = _tiers_mapping(tiers) if tiers is not None else {"default": {}}
        self.rows: list[TierRow] = []
        self.profile = w.Dropdown(options=_PROFILES, value=profile, description="profile")
        self.auto = w.Checkbox(value=auto, description="replay on change", indent=False)
        self.add_button = w.Button(description="add tier", icon="plus")
        self.run_button = w.Button(description="replay", button_style="primary")
        self.export_button = w.Button(description="show dbt YAML")
        self.status = w.HTML()
        self.summary_view = w.HTML()
        self.charts = w.Output()
        self.yaml_view = w.Output()
        self.rows_box = w.VBox()
        for name, spec in start.items():
            self._add_row(name, spec)
        self.add_button.on_click(lambda _: self._on_add())
        self.run_button.on_click(lambda _: self.refresh())
        self.export_button.on_click(lambda _: self._show_yaml())
        self.profile.observe(self._changed, names="value")
        self.widget = w.VBox(
            [
                w.HTML(
                    "<b>Tiers</b> — the first tier that selects a model wins; "
                    "<i>default</i> takes the rest"
                ),
                self.rows_box,
                w.HBox(
                    [self.add_button, self.profile, self.auto, self.run_button, self.export_button]
                ),
                self.status,
                self.summary_view,
                self.charts,
                self.yaml_view,
            ]
        )
        self.last_update_s: float | None = None
        self.error: str | None = None
        self.refresh()

    # -- rows -----------------------------------------------------------------------------
    def _add_row(self, name: str, spec: Mapping[str, Any]) -> TierRow:
        row = TierRow(name, spec)
        for control in row.controls:
            control.observe(self._changed, names="value")
        row.remove.on_click(lambda _, r=row: self._on_remove(r))
        self.rows.append(row)
        self.rows_box.children = [r.box for r in self.rows]
        return row

    def _on_add(self) -> None:
        n = len(self.rows)
        self._add_row(f"tier_{n}", {"select": "", "build_after": {"count": 1, "period": "hour"}})

    def _on_remove(self, row: TierRow) -> None:
        self.rows.remove(row)
        self.rows_box.children = [r.box for r in self.rows]
        self._changed(None)

    def _changed(self, _change: Any) -> None:
        if self.auto.value:
            self.refresh()

    # -- state ----------------------------------------------------------------------------
    def tiers(self) -> dict[str, dict[str, Any]]:
        """The tiers as set in the controls (YAML mapping, in row order)."""
        return {r.name.value.strip(): r.spec() for r in self.rows}

    @property
    def comparison(self) -> Comparison | None:
        """Baseline vs the current tiers (``None`` until a setting replays without error)."""
        return self.tuner.comparison

    def dbt_yaml(self) -> dict[str, str]:
        """The current tiers as dbt YAML files (see :func:`saosim.tiers_to_dbt_yaml`)."""
        project = self.tuner.estate.project
        return tiers_to_dbt_yaml(Tiers.from_dict(self.tiers()).resolve(project), project)

    def write_dbt_yaml(self, folder: str | Path) -> list[Path]:
        """Write :meth:`dbt_yaml` under ``folder`` (paths as in a dbt project)."""
        out = []
        for name, text in self.dbt_yaml().items():
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            out.append(path)
        return out

    # -- view -----------------------------------------------------------------------------
    def refresh(self) -> Comparison | None:
        """Replay the current setting and redraw; errors show in the status line."""
        t0 = time.perf_counter()
        try:
            comparison = self.tuner.update(self.tiers(), profile=self.profile.value)
            self._count_models()
            figs = self.figures()
            summary = comparison.summary()
        except SaosimError as exc:
            self.error = str(exc)
            self.status.value = f"<span style='color:#d62728'>{html.escape(self.error)}</span>"
            return None
        self.error = None
        self.last_update_s = time.perf_counter() - t0
        self.summary_view.value = _summary_html(summary) + "".join(
            f"<p style='color:#d62728'>{html.escape(w.message())}</p>"
            for w in comparison.cadence_warnings()
        )
        self._draw(figs)
        timings = self.tuner.timings
        self.status.value = (
            f"updated in {self.last_update_s:.2f} s (replay {timings.replay_s:.2f} s, "
            f"metrics {timings.metrics_s:.2f} s{', cached' if timings.cached else ''})"
        )
        return comparison

    def _draw(self, figs: list[go.Figure]) -> None:
        from IPython import get_ipython

        if get_ipython() is None:  # plain Python: nothing shows widgets, nothing to draw on
            return
        # outputs set as widget state, not captured from display(): nothing waits on a frontend
        self.charts.outputs = ()
        for fig in figs:
            self.charts.append_display_data(fig)

    def _count_models(self) -> None:
        assigned = Tiers.from_dict(self.tiers()).assign(self.tuner.estate.project)
        counts: dict[str | None, int] = {}
        for tier in assigned.values():
            counts[tier] = counts.get(tier, 0) + 1
        for r in self.rows:
            r.models.value = f"{counts.get(r.name.value.strip(), 0):,} models"

    def figures(self) -> list[go.Figure]:
        """The tuner's charts for the current comparison."""
        comparison = self.comparison
        if comparison is None:
            return []
        return [
            figures.cost_vs_staleness(comparison),
            figures.staleness_by_tier(comparison),
            figures.cost_per_day(comparison),
        ]

    def to_html(self) -> str:
        """The current summary and charts as one HTML page (for a screenshot or a share)."""
        parts = [
            "<html><head><meta charset='utf-8'><title>saosim tier tuner</title></head>"
            "<body style='font-family:system-ui,sans-serif;max-width:1100px;margin:auto'>",
            "<h2>Tier tuner</h2><pre>" + html.escape(_tiers_yaml(self.tiers())) + "</pre>",
            self.summary_view.value,
        ]
        for i, fig in enumerate(self.figures()):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, default_height=440))
        parts.append(f"<p>{self.status.value}</p></body></html>")
        return "\n".join(parts)

    def _show_yaml(self) -> None:
        self.yaml_view.clear_output()
        with self.yaml_view:
            try:
                files = self.dbt_yaml()
            except SaosimError as exc:
                print(exc)
                return
            for name, text in files.items():
                print(f"# {name}\n{text}")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _tiers_yaml(tiers: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump({"tiers": dict(tiers)}, sort_keys=False)


_SUMMARY_COLUMNS = (
    ("scenario", "{}"),
    ("node_builds", "{:,}"),
    ("reuse_pct", "{:.1f}"),
    ("cost_usd", "{:,.0f}"),
    ("savings_pct", "{:.1f}"),
    ("staleness_p50_hours", "{:.2f}"),
    ("staleness_p95_hours", "{:.2f}"),
    ("sla_breach_pct", "{:.1f}"),
    ("sla_breach_models", "{:,}"),
)


def _summary_html(summary: pl.DataFrame) -> str:
    heads = "".join(f"<th style='padding:0 .6rem'>{c}</th>" for c, _ in _SUMMARY_COLUMNS)
    body = []
    for r in summary.iter_rows(named=True):
        cells = []
        for c, fmt in _SUMMARY_COLUMNS:
            v = r.get(c)
            text = "–" if v is None else fmt.format(v)
            cells.append(f"<td style='padding:0 .6rem;text-align:right'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{heads}</tr>{''.join(body)}</table>"
