"""The HTML savings report: self-contained, escaped, with the numbers of the comparison."""

from __future__ import annotations

import dataclasses
import re

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import saosim
from saosim.cli import app
from saosim.replay.engine import Scenario, simulate
from saosim.report import write_report
from saosim.synth.estate import synthetic_estate

EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def evil_cmp():
    """A project with a model named like a script tag, replayed."""
    estate = synthetic_estate(n_models=40, days=2, seed=7)
    project = estate.project
    uid = next(u for u in project.buildable if project.nodes[u].resource_type == "model")
    estate = dataclasses.replace(estate, project=project.replace_node(uid, name=EVIL))
    tuned = Scenario("tuned", "sao", tiers=saosim.Tiers.from_dict(saosim.TUNED_TIERS))
    return simulate(estate, [Scenario("sao"), tuned])


@pytest.fixture(scope="module")
def page(evil_cmp, tmp_path_factory):
    path = write_report(evil_cmp, tmp_path_factory.mktemp("r") / "savings.html")
    return path.read_text(encoding="utf-8")


def test_report_is_self_contained(page):
    # plotly.js inline exactly once (gzip + base64), nothing fetched from the network
    import base64
    import gzip

    assert len(re.findall(r"plotly\.js v\d", page)) == 1
    assert len(re.findall(r"<script[^>]*\bsrc=", page)) == 0
    assert page.count('class="plotly-graph-div"') == 7
    blobs = re.findall(r'<script id="plotly-js-gz"[^>]*>(.*?)</script>', page, flags=re.S)
    assert len(blobs) == 1
    js = gzip.decompress(base64.b64decode(blobs[0])).decode()
    import plotly.offline

    assert js == plotly.offline.get_plotlyjs()


def test_chart_data_is_rounded_json(page):
    import json

    specs = re.findall(r'<script type="application/json" data-chart="[^"]+">(.*?)</script>', page)
    assert len(specs) == 7
    for spec in specs:
        fig = json.loads(spec.replace("<\\/", "</"))
        for trace in fig["data"]:
            for v in trace.get("y") or []:
                if isinstance(v, float) and abs(v) >= 10:
                    assert v == round(v, 2)
            for v in trace.get("x") or []:
                if isinstance(v, str) and v[:2] == "20":
                    assert "+00:00" not in v and "." not in v


def test_project_names_are_escaped(page):
    assert EVIL not in page
    assert "&lt;script&gt;alert(" in page


def test_headline_and_tables_hold_the_summary(evil_cmp, page):
    summary = evil_cmp.summary()
    for r in summary.iter_rows(named=True):
        assert f"{r['cost_usd']:,.0f}" in page
    rows = {r["scenario"]: r for r in summary.iter_rows(named=True)}
    cards = re.findall(r'<div class="card" id="card-\d">(.*?)</div>', page, flags=re.S)
    assert len(cards) == 3
    sentences = [re.sub(r"<[^>]+>", " ", c) for c in cards]
    assert "The bill" in sentences[0] and f"${rows['baseline']['cost_usd']:,.0f}." in sentences[0]
    tuned = rows["tuned"]
    assert "The saving" in sentences[1]
    assert f"${tuned['savings_usd']:,.0f} ({tuned['savings_pct']:.1f}%) less" in sentences[1]
    assert "The freshness cost" in sentences[2]
    assert f"{tuned['staleness_p95_hours']:.1f} h" in sentences[2]
    for card in cards:  # one sentence each
        text = re.sub(r"<h3>.*?</h3>", "", card, flags=re.S)
        text = re.sub(r"<[^>]+>", "", text).strip()
        assert text.count(". ") == 0 and text.endswith(".")
    tiers = evil_cmp.per_tier()
    assert set(tiers["tier"]) <= set(re.findall(r"<td>([a-z_]+)</td>", page))
    assert "Method and assumptions" in page
    assert f"usd_per_hour = {evil_cmp.cost_model.usd_per_hour}" in page


def test_recommended_tiers_yaml_is_the_dbt_export(evil_cmp, page):
    assert saosim.report.recommended_scenario(evil_cmp) == "tuned"
    files = saosim.tiers_to_dbt_yaml(evil_cmp.freshness["tuned"], evil_cmp.estate.project)
    # folded (<details>), each with a copy button that names its <pre>
    blocks = re.findall(
        r'<details><summary>.*?</summary>\s*<button class="copy" data-copy="(yaml-\d+)">copy'
        r'</button>\s*<pre id="(yaml-\d+)">(.*?)</pre></details>',
        page,
        flags=re.S,
    )
    assert len(blocks) == len(files)
    import html

    assert all(button == pre for button, pre, _ in blocks)
    texts = [html.unescape(b) for _, _, b in blocks]
    assert files["dbt_project.yml"] in texts
    assert yaml.safe_load(texts[0])


def test_top_models_table_lists_savings(evil_cmp, page):
    top = saosim.figures.top_models(evil_cmp, "tuned", 20)
    first = top.row(0, named=True)
    assert f"{first['savings_usd']:,.2f}" in page
    assert (top["savings_usd"].diff().drop_nulls() <= 0).all()
    assert "Top models by dollars saved" in page


def test_big_dag_is_drawn_only_on_request(evil_cmp, tmp_path, monkeypatch):
    from saosim.report import html

    monkeypatch.setattr(html, "DAG_DEFAULT_NODES", 10)
    small = write_report(evil_cmp, tmp_path / "no-dag.html").read_text()
    assert small.count('class="plotly-graph-div"') == 6
    assert "is not drawn" in small and "--dag" in small
    drawn = write_report(evil_cmp, tmp_path / "dag.html", dag=True).read_text()
    assert drawn.count('class="plotly-graph-div"') == 7
    assert "DAG coloured by reuse" in drawn and "is not drawn" not in drawn


def test_cli_report_writes_the_file(tmp_path):
    estate = synthetic_estate(n_models=30, days=1, seed=3)
    folder = estate.save(tmp_path / "estate")
    sao = tmp_path / "sao.yml"
    sao.write_text("profile: sao\n")
    tuned = tmp_path / "tuned.yml"
    tuned.write_text(yaml.safe_dump({"profile": "sao", "tiers": saosim.TUNED_TIERS}))
    out = tmp_path / "out" / "r.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(folder),
            "--scenario",
            f"sao={sao}",
            "--scenario",
            f"tuned={tuned}",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and "Savings report" in out.read_text()
    assert "report:" in result.output


def test_cli_report_bad_scenario_is_a_one_line_error(tmp_path):
    folder = synthetic_estate(n_models=20, days=1, seed=3).save(tmp_path / "estate")
    result = CliRunner().invoke(app, ["report", str(folder), "--scenario", "oops"])
    assert result.exit_code == 2
    assert "NAME=CONFIG.yml" in result.output
    assert "Traceback" not in result.output


def test_demo_writes_the_report(tmp_path):
    from saosim.tune.demo import run_demo

    folder = synthetic_estate(n_models=30, days=1, seed=4).save(tmp_path / "estate")
    result = run_demo(folder, tmp_path / "out")
    assert result.files["report"].is_file()
    text = result.files["report"].read_text()
    assert "tuned" in text and "Savings report" in text
    summary = result.comparison.summary()
    assert summary.filter(pl.col("scenario") == "tuned").height == 1
