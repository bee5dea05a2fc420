"""examples/jaffle_duckdb/land.py, run as a loader would (a subprocess from the repo root)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.live_fixtures import copy_example, land

pytestmark = pytest.mark.live

TABLES = ("customers", "orders", "order_items", "products", "stores", "payments")


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location("jaffle_land", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"select * from raw.{t} order by id").fetchall() for t in TABLES}


@pytest.mark.slow  # three loader subprocesses
def test_init_is_deterministic_and_resets(tmp_path: Path) -> None:
    project_dir = copy_example(tmp_path)
    db = project_dir / "jaffle.duckdb"
    land(project_dir, "--init")
    first = _snapshot(db)
    assert all(first[t] for t in TABLES)
    land(project_dir, "billing.payments", "--rows", "3")
    land(project_dir, "--init")
    assert _snapshot(db) == first


def test_landed_rows_reference_existing_ids(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    project_dir = copy_example(tmp_path)
    db = project_dir / "jaffle.duckdb"
    loader = _load_module(project_dir / "land.py")  # in-process: one subprocess test is enough
    loader.init(db)
    at = datetime(2025, 2, 1, 12, 30, tzinfo=UTC)
    for table in ("shop.customers", "shop.orders", "shop.order_items", "billing.payments"):
        assert loader.land(table, 5, at=at, db=db) == 5
    with duckdb.connect(str(db), read_only=True) as con:
        orphans = con.execute(
            """
            select
              (select count(*) from raw.orders o
                 where o.customer_id not in (select id from raw.customers)
                    or o.store_id not in (select id from raw.stores)),
              (select count(*) from raw.order_items i
                 where i.order_id not in (select id from raw.orders)
                    or i.product_id not in (select id from raw.products)),
              (select count(*) from raw.payments p
                 where p.order_id not in (select id from raw.orders))
            """
        ).fetchone()
        newest = con.execute(
            "select count(*) from raw.orders where loaded_at = timestamp '2025-02-01 12:30'"
        ).fetchone()
    assert orphans == (0, 0, 0)
    assert newest == (5,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shop.nope"], "unknown source table"),
        (["shop.orders", "--at", "2025-01-01T00:00:00"], "has no time zone"),
        ([], "give --init"),
    ],
)
def test_bad_arguments_fail_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    project_dir = copy_example(tmp_path)
    done = subprocess.run(
        [sys.executable, str(project_dir / "land.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr
