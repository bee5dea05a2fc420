"""What keeps the savings report small and readable: plotly.js inline once, gzip-compressed
(the browser inflates it with ``DecompressionStream``, so the file still opens offline), chart
data as compact JSON (numbers rounded, times to the second), and a copy button for the YAML.

>>> import plotly.graph_objects as go
>>> fig = go.Figure(go.Scatter(x=["2025-01-01T06:00:01.123456+00:00"], y=[1234.56789]))
>>> spec = compact_spec(fig)
>>> spec["data"][0]["x"], spec["data"][0]["y"]
(['2025-01-01 06:00:01'], [1234.57])
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import re
from typing import Any

from markupsafe import Markup

__all__ = ["COPY_JS", "LOADER_JS", "chart_html", "compact_spec", "plotly_js_banner", "plotly_js_gz"]

_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(\+00:00|Z)?$")


def _round(value: float) -> float:
    """Two decimals from 10 up, four significant digits below (0.001234, 3.142)."""
    if value != value or value in (float("inf"), float("-inf")):
        return value
    return round(value, 2) if abs(value) >= 10 else float(f"{value:.4g}")


def _compact(value: Any) -> Any:
    if isinstance(value, float):
        return _round(value)
    if isinstance(value, str):
        m = _ISO.match(value)
        return f"{m.group(1)} {m.group(2)}" if m else value
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def compact_spec(fig: Any) -> dict[str, Any]:
    """A figure's ``{data, layout}`` with numbers rounded and UTC times to the second.

    Trace data only: the layout (titles, ranges) is kept as plotly wrote it.
    """
    spec = json.loads(fig.to_json())
    data = _compact(spec.get("data", []))
    for trace in data:  # a box without points never shows its points' hover text
        if trace.get("type") == "box" and trace.get("boxpoints") is False:
            trace.pop("text", None)
    return {"data": data, "layout": spec.get("layout", {})}


def chart_html(fig: Any, div_id: str) -> Markup:
    """A chart's placeholder ``<div>`` and its data as inert JSON (drawn by :data:`LOADER_JS`)."""
    spec = json.dumps(compact_spec(fig), separators=(",", ":"), allow_nan=False, default=str)
    # JSON in a <script> element: "</" must not close it; it is data, never run
    spec = spec.replace("</", "<\\/").replace("<!--", "<\\!--")
    height = int(fig.layout.height or 440)
    return Markup(
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%">'
        f'<p class="loading">drawing the chart…</p></div>'
        f'<script type="application/json" data-chart="{div_id}">{spec}</script>'
    )


@functools.lru_cache(maxsize=1)
def plotly_js_gz() -> str:
    """plotly.js (the version the installed plotly ships), gzip-compressed, base64."""
    import plotly.offline

    raw = plotly.offline.get_plotlyjs().encode("utf-8")
    return base64.b64encode(gzip.compress(raw, 9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def plotly_js_banner() -> str:
    """``plotly.js vX.Y.Z`` as the library's own banner says."""
    import plotly.offline

    found = re.search(r"plotly\.js v[\d.]+", plotly.offline.get_plotlyjs()[:400])
    return found.group(0) if found else "plotly.js"


#: inflates plotly.js, then draws every chart from its JSON; says so if the browser cannot
LOADER_JS = """
(async function () {
  const charts = document.querySelectorAll('script[data-chart]');
  function say(text) {
    charts.forEach(function (s) {
      const div = document.getElementById(s.dataset.chart);
      if (div) { div.innerHTML = '<p class="loading"></p>'; div.firstChild.textContent = text; }
    });
  }
  if (typeof DecompressionStream === 'undefined') {
    say('This browser cannot unpack the charts (they need DecompressionStream: Chrome 80+, ' +
        'Firefox 113+, Safari 16.4+). The tables hold the same numbers.');
    return;
  }
  const b64 = document.getElementById('plotly-js-gz').textContent.trim();
  const bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  const code = await new Response(stream).text();
  const lib = document.createElement('script');
  lib.textContent = code;
  document.head.appendChild(lib);
  const config = {displaylogo: false, responsive: true};
  for (const s of charts) {
    const div = document.getElementById(s.dataset.chart);
    div.innerHTML = '';
    const fig = JSON.parse(s.textContent);
    await Plotly.newPlot(div, fig.data, fig.layout, config);
  }
})();
"""

#: the copy buttons beside the dbt YAML (clipboard API, else select + copy)
COPY_JS = """
document.querySelectorAll('button[data-copy]').forEach(function (b) {
  b.addEventListener('click', function () {
    const text = document.getElementById(b.dataset.copy).textContent;
    function done() {
      b.textContent = 'copied';
      setTimeout(function () { b.textContent = 'copy'; }, 1500);
    }
    function fallback() {
      const area = document.createElement('textarea');
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand('copy'); area.remove(); done();
    }
    if (navigator.clipboard) { navigator.clipboard.writeText(text).then(done, fallback); }
    else { fallback(); }
  });
});
"""
