"""Charts and the HTML savings report of a :class:`~saosim.replay.comparison.Comparison`.

``saosim.report.figures`` holds one function per chart (each returns a plotly ``Figure``);
``saosim.report.html`` writes the report (``saosim.write_report(comparison, "savings.html")``);
``saosim.report.plan_figure`` draws one plan of the live planner as its DAG.
"""

from __future__ import annotations

from saosim.report.html import recommended_scenario, render_report, write_report
from saosim.report.plan_figure import plan_figure

__all__ = ["plan_figure", "recommended_scenario", "render_report", "write_report"]
