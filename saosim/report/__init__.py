"""Charts and the HTML savings report of a :class:`~saosim.comparison.Comparison`.

``saosim.report.figures`` holds one function per chart (each returns a plotly ``Figure``);
``saosim.report.html`` writes the report (``comparison.report("savings.html")``).
"""

from __future__ import annotations

from saosim.report.html import recommended_scenario, render_report, write_report

__all__ = ["recommended_scenario", "render_report", "write_report"]
