"""``saosim arrivals``: past arrivals rebuilt from the warehouse, on DuckDB and PostgreSQL, through
dbt's own connection — the example's landed rows exactly, and tables that carry the audit columns
of Fivetran, Airbyte, Stitch and dlt (one arrival per batch, however long the batch took)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.inputs.estate import load_estate
from saosim.live.store import StateStore
from tests.pg_server import Warehouse, example_on, postgres_server  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.slow]

INIT = datetime(2025, 1, 1, 6, tzinfo=UTC)  # land.py --init's loaded_at
T1 = datetime(2025, 2, 1, 8, tzinfo=UTC)
SINCE = datetime(2024, 12, 1, tzinfo=UTC)
P = "source.jaffle_duckdb"

LOADERS_YML = """\
version: 2
sources:
  - name: loaders
    schema: loaders
    tables:
      - name: fivetran_t
      - name: airbyte_t
      - name: stitch_t
      - name: dlt_t
      - name: nocol_t
"""


def _ts(at: datetime) -> str:
    return f"timestamptz '{at.isoformat(sep=' ')}'"


def _naive(at: datetime) -> str:
    return f"timestamp '{at.replace(tzinfo=None).isoformat(sep=' ')}'"


def _loader_tables(wh: Warehouse) -> dict[str, list[datetime]]:
    """Create tables as each loader writes them; returns the arrivals each should give."""
    b1 = [T1, T1 + timedelta(seconds=20), T1 + timedelta(seconds=50), T1 + timedelta(seconds=110)]
    b2 = [T1 + timedelta(hours=1), T1 + timedelta(hours=1, seconds=30)]
    old = [SINCE - timedelta(days=3)]  # before --since: left out

    def rows(stamps: list[datetime], fmt) -> str:
        return ", ".join(f"({i}, {fmt(t)})" for i, t in enumerate(stamps))

    loads = [
        ("1738396800.1", T1 + timedelta(minutes=5), 0),
        ("1738400400.2", T1 + timedelta(hours=2), 0),
        ("1738404000.3", T1 + timedelta(hours=3), 1),
    ]
    wh.execute(
        "create schema loaders",
        "create table loaders.fivetran_t (id int, _fivetran_synced timestamptz)",
        f"insert into loaders.fivetran_t values {rows(old + b1 + b2, _ts)}",
        "create table loaders.airbyte_t (id int, _airbyte_extracted_at timestamptz)",
        f"insert into loaders.airbyte_t values {rows(b2, _ts)}",
        # Stitch writes a naive timestamp holding UTC
        "create table loaders.stitch_t (id int, _sdc_batched_at timestamp)",
        f"insert into loaders.stitch_t values {rows(b1, _naive)}",
        "create table loaders.dlt_t (id int, _dlt_load_id varchar)",
        # rows of the first two loads, and of a load dlt never completed (status 1)
        "insert into loaders.dlt_t values (1, '1738396800.1'), (2, '1738396800.1'), "
        "(3, '1738400400.2'), (4, '1738404000.3')",
        "create table loaders._dlt_loads (load_id varchar, schema_name varchar, status int, "
        "inserted_at timestamptz)",
        "insert into loaders._dlt_loads values "
        + ", ".join(f"('{i}', 'shop', {s}, {_ts(t)})" for i, t, s in loads),
        "create table loaders.nocol_t (id int, name varchar)",
        "insert into loaders.nocol_t values (1, 'a')",
    )
    return {
        "fivetran_t": [b1[-1], b2[-1]],
        "airbyte_t": [b2[-1]],
        "stitch_t": [b1[-1]],
        "dlt_t": [loads[0][1], loads[1][1]],
    }


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest, tmp_path: Path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    with example_on(request.param, tmp_path, server) as warehouse:
        yield warehouse


def _arrivals(wh: Warehouse, *args: str) -> dict:
    target = ["--target", wh.target] if wh.target else []
    out = CliRunner().invoke(
        app,
        [
            "arrivals",
            str(wh.project_dir),
            "--since",
            SINCE.isoformat(),
            "-f",
            "json",
            *target,
            *args,
        ],
    )
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _by_source(frame: pl.DataFrame) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {}
    for uid, at in frame.sort("arrived_at").select("unique_id", "arrived_at").iter_rows():
        out.setdefault(uid, []).append(at)
    return out


def test_arrivals_rebuild_the_landed_rows_and_the_loaders_batches(
    wh: Warehouse, tmp_path: Path
) -> None:
    landings = [
        ("billing.payments", 3, T1),
        ("billing.payments", 2, T1 + timedelta(hours=5, minutes=17)),
        ("shop.orders", 4, T1 + timedelta(days=1)),
    ]
    for table, rows, at in landings:
        wh.land_rows(table, rows, at)
    (wh.project_dir / "models/staging/_loaders.yml").write_text(LOADERS_YML)
    expected_loaders = _loader_tables(wh)

    estate_dir = tmp_path / "estate"
    report = _arrivals(wh, "--out", str(estate_dir))
    got = _by_source(load_estate(estate_dir).source_arrivals)

    # the example's landed rows, exactly: the initial load and every landing
    assert got[f"{P}.billing.payments"] == [INIT, T1, T1 + timedelta(hours=5, minutes=17)]
    assert got[f"{P}.shop.orders"] == [INIT, T1 + timedelta(days=1)]
    for table in ("customers", "order_items", "products", "stores"):
        assert got[f"{P}.shop.{table}"] == [INIT]
    # the loaders' batches, each counted once, at its last row
    for table, expected in expected_loaders.items():
        assert got[f"{P}.loaders.{table}"] == expected, table
    how = {s["source"]: (s["how"], s["detail"]) for s in report["sources"]}
    assert how[f"{P}.loaders.fivetran_t"] == ("loader_log", "_fivetran_synced (fivetran)")
    assert how[f"{P}.loaders.airbyte_t"] == ("loader_log", "_airbyte_extracted_at (airbyte)")
    assert how[f"{P}.loaders.stitch_t"] == ("loader_log", "_sdc_batched_at (stitch)")
    assert how[f"{P}.loaders.dlt_t"] == ("loader_log", "_dlt_load_id + _dlt_loads (dlt)")
    assert how[f"{P}.billing.payments"] == ("loaded_at_field", "loaded_at")
    estate = load_estate(estate_dir)
    hows = dict(estate.source_arrivals.group_by("unique_id").agg(pl.col("how").first()).iter_rows())
    assert hows[f"{P}.loaders.dlt_t"] == "loader_log"
    assert hows[f"{P}.shop.orders"] == "loaded_at_field"

    nocol = f"{P}.loaders.nocol_t"
    if wh.name == "duckdb":
        # DuckDB keeps no table metadata: no history for a table with no column to read
        assert how[nocol][0] is None and nocol not in got
        return
    # PostgreSQL: pg_stat_user_tables counters; the first reading is the baseline …
    assert how[nocol] == ("metadata", "pg_stat_user_tables change counters")
    assert nocol not in got
    store = StateStore.for_project(wh.project_dir)
    first = _arrivals(wh)  # into the state store this time
    assert {s["source"]: s["arrivals"] for s in first["sources"]}[nocol] == 0
    # … a loader writes, and the next reading sees an arrival
    wh.execute("insert into loaders.nocol_t values (2, 'b')")
    for _ in range(5):  # the server publishes a backend's counters when it ends
        second = _arrivals(wh)
        if {s["source"]: s["arrivals"] for s in second["sources"]}[nocol] == 1:
            break
        time.sleep(1)
    stored = store.source_arrivals().filter(pl.col("unique_id") == nocol)
    assert stored.height == 1 and stored.get_column("how").to_list() == ["metadata"]
    assert store.source_arrivals().filter(pl.col("unique_id") == f"{P}.shop.orders").height == 2
