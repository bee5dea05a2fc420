"""`saosim simulate --rates`, `saosim reconcile` and `saosim sql metering` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.synth.estate import synthetic_estate

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "examples" / "scenarios"


@pytest.fixture(scope="module")
def estate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("estate")
    synthetic_estate(n_models=80, days=3, seed=5).save(folder)
    return folder


def _simulate(estate_dir: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(estate_dir),
            "--scenario",
            f"sao={SCENARIOS / 'sao.yml'}",
            "--format",
            "json",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_rates_file_prices_every_scenario_with_one_billing_model(
    estate_dir: Path, tmp_path: Path
) -> None:
    default = _simulate(estate_dir)
    assert {r["billing"] for r in default} == {"snowflake_warehouse"}  # the honest default
    rates = tmp_path / "rates.yml"
    rates.write_text("billing: query_seconds\nwarehouse_size: M\nusd_per_credit: 3.0\n")
    rows = _simulate(estate_dir, "--rates", str(rates))
    assert [r["scenario"] for r in rows] == ["baseline", "sao"]
    for row in rows:  # query_seconds is today's formula: the bill is the cost column
        assert row["billing"] == "query_seconds"
        assert row["bill_usd"] == pytest.approx(row["cost_usd"], abs=1e-3)
    # uptime is billed once for concurrent queries, so it is below the query-seconds sum here
    assert default[0]["bill_usd"] != rows[0]["bill_usd"]
    rates.write_text("billing: databricks_sql\nwarehouse_size: Small\nauto_stop_min: 5\n")
    dbx = _simulate(estate_dir, "--rates", str(rates))
    assert {r["billing"] for r in dbx} == {"databricks_sql"}
    assert all(r["warehouse_hours"] > 0 for r in dbx)


def test_a_scenario_may_bring_its_own_billing(estate_dir: Path, tmp_path: Path) -> None:
    own = tmp_path / "qs.yml"
    own.write_text("profile: sao\nrates: {billing: query_seconds}\n")
    rows = _simulate(estate_dir, "--scenario", f"qs={own}")
    billing = {r["scenario"]: r["billing"] for r in rows}
    assert billing == {
        "baseline": "snowflake_warehouse",
        "sao": "snowflake_warehouse",
        "qs": "query_seconds",
    }


def test_table_names_the_billing_model(estate_dir: Path, tmp_path: Path) -> None:
    rates = tmp_path / "rates.yml"
    rates.write_text("warehouse_size: L\nauto_suspend_s: 60\nthreads: 8\n")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(estate_dir),
            "--scenario",
            f"sao={SCENARIOS / 'sao.yml'}",
            "--rates",
            str(rates),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bill $" in result.output
    assert "snowflake_warehouse: L (8 credits/h)" in result.output
    assert "auto-suspend 60 s" in result.output and "8 threads" in result.output


def test_bad_rates_file_is_one_line_and_exit_2(estate_dir: Path, tmp_path: Path) -> None:
    rates = tmp_path / "rates.yml"
    rates.write_text("billing: redshift\n")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(estate_dir),
            "--scenario",
            f"sao={SCENARIOS / 'sao.yml'}",
            "--rates",
            str(rates),
        ],
    )
    assert result.exit_code == 2
    assert "rates.yml" in result.output and "rates.billing" in result.output
    assert "Traceback" not in result.output


def test_reconcile_prints_metered_against_the_baseline(tmp_path: Path) -> None:
    from tests.unit.test_cost_reconcile import _estate, _metering_csv, _query_history_csv

    folder = tmp_path / "estate"
    _estate().save(folder)
    rates = tmp_path / "rates.yml"
    rates.write_text("warehouse_size: M\nwarehouses: {default: TRANSFORM_WH}\n")
    files = [_metering_csv(tmp_path), _query_history_csv(tmp_path)]
    args = ["reconcile", str(folder), "--rates", str(rates)]
    for f in files:
        args += ["--metering", str(f)]
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["totals"]["metered_usd"] == pytest.approx(7.5)
    assert out["totals"]["saosim_usd"] == pytest.approx(6.0)
    assert out["totals"]["unexplained_pct"] == pytest.approx(20.0)
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "TRANSFORM_WH" in table.output and "-1.50" in table.output
    missing = CliRunner().invoke(app, ["reconcile", str(folder), "--metering", "nope.csv"])
    assert missing.exit_code == 2 and "nope.csv" in missing.output


def test_sql_metering_prints_both_statements_per_dialect() -> None:
    for dialect, marker in (
        ("snowflake", "WAREHOUSE_METERING_HISTORY"),
        ("bigquery", "INFORMATION_SCHEMA.JOBS"),
        ("databricks", "system.billing.usage"),
    ):
        result = CliRunner().invoke(app, ["sql", "metering", "--dialect", dialect])
        assert result.exit_code == 0, result.output
        assert marker in result.stdout and "-- dbt_queries" in result.stdout


def test_ingest_query_history_fills_node_run_dollars(tmp_path: Path) -> None:
    import polars as pl

    from saosim.inputs.estate import load_estate
    from tests.unit.test_cost_reconcile import COMMENT, M, _estate

    folder = tmp_path / "estate"
    _estate().save(folder)
    qh = tmp_path / "QUERY_HISTORY.csv"
    qh.write_text(
        "QUERY_ID,QUERY_TEXT,WAREHOUSE_NAME,START_TIME,END_TIME\n"
        f'q1,"{(COMMENT % (M, "r1")).replace(chr(34), chr(34) * 2)}",WH,'
        "2025-01-06T00:00:00Z,2025-01-06T00:05:00Z\n"
    )
    rates = tmp_path / "rates.yml"
    rates.write_text("warehouse_size: L\n")  # $24/h: 5 min = $2
    out = tmp_path / "priced"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(folder),
            "--out",
            str(out),
            "--query-history",
            str(qh),
            "--rates",
            str(rates),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "dollars for 1 node runs" in result.output
    cost = dict(load_estate(out).node_runs.select("run_id", "cost").iter_rows())
    assert cost["r1"] == pytest.approx(2.0)
    assert cost["r2"] is None
    assert pl.read_parquet(out / "node_runs.parquet").height == 2
