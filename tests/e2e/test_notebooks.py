"""The notebooks run top to bottom (nbclient, a real kernel) and are committed without outputs.

They run on a small synthetic estate through ``SAOSIM_ESTATE`` (each notebook's one parameter);
the quickstart and the tuner also run as committed, on the bundled example.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from saosim.synth.estate import synthetic_estate

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = (
    "01-quickstart.ipynb",
    "02-tune-freshness-tiers.ipynb",
    "03-savings-report.ipynb",
    "04-run-the-planner.ipynb",
    "05-recommend-tiers.ipynb",
)


@pytest.fixture(scope="module")
def small_estate(tmp_path_factory) -> Path:
    return synthetic_estate(n_models=60, days=3, seed=8).save(tmp_path_factory.mktemp("e") / "est")


def _run(name: str, estate: Path | None, out: Path, monkeypatch) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    if estate is not None:
        monkeypatch.setenv("SAOSIM_ESTATE", str(estate))
    else:
        monkeypatch.delenv("SAOSIM_ESTATE", raising=False)
    monkeypatch.setenv("SAOSIM_OUT", str(out))
    client = NotebookClient(
        book, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(out)}}
    )
    client.execute(env=dict(os.environ))
    return book


def _text(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
    code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    # only the public API: no reaching into saosim's modules
    assert "from saosim" not in code and "import saosim." not in code
    assert any(c.cell_type == "markdown" for c in book.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_small_estate(name, small_estate, tmp_path, monkeypatch):
    book = _run(name, small_estate, tmp_path, monkeypatch)
    text = _text(book)
    assert "Traceback" not in text
    if name.startswith("02"):
        assert "updated in" in text
        assert (tmp_path / "tuned-dbt-config" / "dbt_project.yml").is_file()
    if name.startswith("03"):
        assert (tmp_path / "savings.html").is_file()
    if name.startswith("05"):
        assert (tmp_path / "recommend" / "recommend.html").is_file()
        assert "recommended: $" in text
    if name.startswith("01"):
        _figures_read_anywhere(book, tmp_path)


def _figures_read_anywhere(book: nbformat.NotebookNode, tmp_path: Path) -> None:
    """Each figure carries plotly's interactive output and a PNG; exported to HTML (which runs
    no plotly) the PNG is what shows."""
    from nbconvert import HTMLExporter

    figures = [
        o
        for c in book.cells
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert figures, "the quickstart shows at least one figure"
    for output in figures:
        png = output["data"].get("image/png", "")
        assert len(png) > 10_000, "a figure without its static PNG renders empty outside Jupyter"
    page, _ = HTMLExporter().from_notebook_node(book)
    assert page.count("data:image/png;base64,") >= len(figures)
    (tmp_path / "01-quickstart.html").write_text(page)


@pytest.fixture(scope="module")
def untagged_estate(tmp_path_factory) -> Path:
    """A project without a single tag (most real projects have no `hourly` tag)."""
    from saosim.project.graph import Project
    from saosim.synth.history import synthetic_history

    spec = {
        "raw.orders": [],
        "raw.customers": [],
        "stg_orders": ["raw.orders"],
        "stg_customers": ["raw.customers"],
        "fct_orders": ["stg_orders", "stg_customers"],
        "rpt_revenue": ["fct_orders"],
    }
    estate = synthetic_history(Project.from_spec(spec), days=3, seed=4)
    return estate.save(tmp_path_factory.mktemp("u") / "untagged")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[:3])
def test_notebook_runs_on_a_project_without_tags(name, untagged_estate, tmp_path, monkeypatch):
    book = _run(name, untagged_estate, tmp_path, monkeypatch)
    text = _text(book)
    assert "Traceback" not in text
    if name.startswith("01"):
        assert "tuned: saves $" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[:2])
def test_notebook_runs_on_the_bundled_example(name, tmp_path, monkeypatch):
    # as committed: no SAOSIM_ESTATE, so the bundled example (1,500 models, 90 days)
    book = _run(name, None, tmp_path, monkeypatch)
    text = _text(book)
    assert "Traceback" not in text
    if name.startswith("01"):
        assert "saves $" in text
    else:
        assert "updated in" in text
