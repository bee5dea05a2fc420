"""Readers: dbt artifacts, run history and package exports → canonical tables and a Project.

>>> from pathlib import Path
>>> fixtures = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts"
>>> read_manifest(fixtures / "manifest_v12.json").counts()["source"]
2
"""

from __future__ import annotations

from saosim.inputs.changes import code_changes
from saosim.inputs.exports import read_export
from saosim.inputs.history import History
from saosim.inputs.ingest import ingest, load_project
from saosim.inputs.manifest import read_manifest
from saosim.inputs.runs import read_runs, read_sources

__all__ = [
    "History",
    "code_changes",
    "ingest",
    "load_project",
    "read_export",
    "read_manifest",
    "read_runs",
    "read_sources",
]
