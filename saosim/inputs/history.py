"""A bundle of history tables read from artifacts, before it meets a project.

>>> h = History()
>>> h.runs.columns[:3]
['run_id', 'job_id', 'started_at']
>>> (h + h).node_runs.height
0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from saosim.inputs.estate import HISTORY_TABLES
from saosim.inputs.schema import empty, validate

__all__ = ["History"]


@dataclass(frozen=True)
class History:
    """Canonical ``runs``, ``node_runs``, ``source_arrivals`` and ``code_changes`` tables."""

    runs: pl.DataFrame = field(default_factory=lambda: empty("runs"))
    node_runs: pl.DataFrame = field(default_factory=lambda: empty("node_runs"))
    source_arrivals: pl.DataFrame = field(default_factory=lambda: empty("source_arrivals"))
    code_changes: pl.DataFrame = field(default_factory=lambda: empty("code_changes"))

    def __add__(self, other: History) -> History:
        """Both histories' rows; keys are checked again (a run id may appear only once)."""
        return History(
            **{
                table: validate(
                    # relaxed: a reader's String ids meet an empty table's Categorical ones
                    pl.concat(
                        [getattr(self, table), getattr(other, table)], how="vertical_relaxed"
                    ),
                    table,
                )
                for table in HISTORY_TABLES
            }
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        return {table: getattr(self, table) for table in HISTORY_TABLES}
