"""Create the raw source tables of the jaffle_duckdb example and land new rows, as a loader would.

Run from the repository root (paths are relative to this file, so a copy of the folder works too):

    .venv/bin/python examples/jaffle_duckdb/land.py --init               # (re)create raw.* tables
    .venv/bin/python examples/jaffle_duckdb/land.py shop.orders --rows 5 # 5 orders, loaded_at = now
    .venv/bin/python examples/jaffle_duckdb/land.py billing.payments --at 2025-01-02T08:00:00+00:00
    .venv/bin/python examples/jaffle_duckdb/land.py --init --postgres "host=127.0.0.1 dbname=jaffle"

Every row is a pure function of its id, so two ``--init`` runs give identical tables. ``loaded_at``
is a naive DuckDB ``TIMESTAMP`` holding UTC (the convention saosim's metadata reader assumes).
New rows only reference ids that exist already, so the project's relationship tests keep passing.
With ``--postgres DSN`` the same tables and rows go to a PostgreSQL database instead (the
profile's ``postgres`` target), through psycopg2 (installed with dbt-postgres).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE / "jaffle.duckdb"
#: loaded_at of the initial rows (fixed, so ``--init`` is deterministic).
INITIAL_LOADED_AT = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)

CITIES = ("Brooklyn", "Chicago", "Philadelphia", "San Francisco", "New Orleans", "Los Angeles")
FIRST = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")
LAST = ("Ito", "Khan", "Lopez", "Meyer", "Novak", "Okafor", "Park", "Quinn", "Rossi", "Silva")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "JP")
CATEGORIES = ("jaffle", "beverage", "side")
STATUSES = ("placed", "shipped", "completed", "completed", "completed", "returned")
METHODS = ("credit_card", "credit_card", "bank_transfer", "gift_card", "coupon")

# table -> (columns DDL, initial row count)
TABLES: dict[str, tuple[str, int]] = {
    "shop.stores": ("id INTEGER, name VARCHAR, city VARCHAR, opened_at DATE", 6),
    "shop.products": (
        "id INTEGER, name VARCHAR, category VARCHAR, price_cents INTEGER",
        18,
    ),
    "shop.customers": (
        "id INTEGER, first_name VARCHAR, last_name VARCHAR, email VARCHAR,"
        " country_code VARCHAR, created_at TIMESTAMP",
        60,
    ),
    "shop.orders": (
        "id INTEGER, customer_id INTEGER, store_id INTEGER, ordered_at TIMESTAMP, status VARCHAR",
        240,
    ),
    "shop.order_items": (
        "id INTEGER, order_id INTEGER, product_id INTEGER, quantity INTEGER",
        480,
    ),
    "billing.payments": (
        "id INTEGER, order_id INTEGER, method VARCHAR, amount_cents INTEGER, status VARCHAR",
        260,
    ),
}


def _relation(table: str) -> str:
    """``shop.orders`` → ``raw.orders``: every source's tables live in schema ``raw``."""
    return f"raw.{table.split('.')[1]}"


def _store(i: int, ids: dict[str, int]) -> tuple:
    return (
        i,
        f"Jaffle {CITIES[i % len(CITIES)]} #{i}",
        CITIES[i % len(CITIES)],
        f"2019-0{1 + i % 9}-15",
    )


def _product(i: int, ids: dict[str, int]) -> tuple:
    category = CATEGORIES[i % len(CATEGORIES)]
    return (i, f"{category}-{i:03d}", category, 300 + (i * 137) % 900)


def _customer(i: int, ids: dict[str, int]) -> tuple:
    first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
    created = f"2024-{1 + i % 12:02d}-{1 + (i * 3) % 28:02d} 09:00:00"
    email = f"{first}.{last}{i}@example.com".lower()
    return (i, first, last, email, COUNTRIES[i % len(COUNTRIES)], created)


def _order(i: int, ids: dict[str, int]) -> tuple:
    customer = 1 + (i * 13) % ids["shop.customers"]
    store = 1 + (i * 5) % ids["shop.stores"]
    ordered = (
        f"2024-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d} {8 + i % 12:02d}:{(i * 7) % 60:02d}:00"
    )
    return (i, customer, store, ordered, STATUSES[i % len(STATUSES)])


def _order_item(i: int, ids: dict[str, int]) -> tuple:
    order = 1 + (i * 11) % ids["shop.orders"]
    product = 1 + (i * 7) % ids["shop.products"]
    return (i, order, product, 1 + i % 3)


def _payment(i: int, ids: dict[str, int]) -> tuple:
    order = 1 + (i * 17) % ids["shop.orders"]
    status = "failed" if i % 9 == 0 else "success"
    return (i, order, METHODS[i % len(METHODS)], 500 + (i * 311) % 4000, status)


ROWS: dict[str, Callable[[int, dict[str, int]], tuple]] = {
    "shop.stores": _store,
    "shop.products": _product,
    "shop.customers": _customer,
    "shop.orders": _order,
    "shop.order_items": _order_item,
    "billing.payments": _payment,
}


class _Db:
    """One connection to DuckDB (a file) or PostgreSQL (a DSN), with one parameter style."""

    def __init__(self, db: Path, postgres: str | None) -> None:
        self.postgres = postgres is not None
        if postgres is not None:
            import psycopg2

            self.con: Any = psycopg2.connect(postgres)
        else:
            self.con = duckdb.connect(str(db))

    def execute(self, sql: str) -> list[tuple]:
        if self.postgres:
            with self.con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        return self.con.execute(sql).fetchall()

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        if self.postgres:
            with self.con.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            self.con.executemany(sql, rows)


@contextmanager
def _connect(db: Path, postgres: str | None) -> Iterator[_Db]:
    conn = _Db(db, postgres)
    try:
        yield conn
        if conn.postgres:
            conn.con.commit()
    finally:
        conn.con.close()


def _max_ids(con: _Db) -> dict[str, int]:
    out = {}
    for table in TABLES:
        row = con.execute(f"select coalesce(max(id), 0) from {_relation(table)}")[0]
        out[table] = int(row[0])
    return out


def _naive_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise SystemExit(f"--at {at.isoformat()} has no time zone; add an offset such as +00:00")
    return at.astimezone(UTC).replace(tzinfo=None)


def init(
    db: Path = DEFAULT_DB, *, at: datetime = INITIAL_LOADED_AT, postgres: str | None = None
) -> None:
    """(Re)create every raw table with its initial rows, all with ``loaded_at = at``."""
    with _connect(db, postgres) as con:
        con.execute("create schema if not exists raw")
        ids = {table: 0 for table in TABLES}
        for table, (columns, count) in TABLES.items():
            con.execute(f"drop table if exists {_relation(table)}")
            con.execute(f"create table {_relation(table)} ({columns}, loaded_at TIMESTAMP)")
            _insert(con, table, range(1, count + 1), ids, _naive_utc(at))
            ids[table] = count


def land(
    table: str,
    rows: int = 1,
    *,
    at: datetime | None = None,
    db: Path = DEFAULT_DB,
    postgres: str | None = None,
) -> int:
    """Append ``rows`` new rows to one source table with ``loaded_at = at`` (default: now)."""
    if table not in TABLES:
        raise SystemExit(f"unknown source table {table!r}; choose one of {', '.join(TABLES)}")
    stamp = _naive_utc(at or datetime.now(UTC))
    with _connect(db, postgres) as con:
        ids = _max_ids(con)
        start = ids[table] + 1
        _insert(con, table, range(start, start + rows), ids, stamp)
    return rows


def _insert(con: _Db, table: str, id_range: range, ids: dict[str, int], stamp: datetime) -> None:
    values = [(*ROWS[table](i, ids), stamp) for i in id_range]
    if values:
        marks = ", ".join("?" * len(values[0]))
        con.executemany(f"insert into {_relation(table)} values ({marks})", values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", help="SOURCE_NAME.TABLE_NAME, e.g. shop.orders")
    parser.add_argument("--init", action="store_true", help="create or reset the raw tables")
    parser.add_argument("--rows", type=int, default=1, help="rows to land (default 1)")
    parser.add_argument("--at", type=datetime.fromisoformat, help="loaded_at, ISO with offset")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="DuckDB file")
    parser.add_argument("--postgres", metavar="DSN", help="a PostgreSQL database instead")
    args = parser.parse_args(argv)
    where = "PostgreSQL" if args.postgres else args.db
    if args.init:
        init(args.db, at=args.at or INITIAL_LOADED_AT, postgres=args.postgres)
        print(f"initialised {len(TABLES)} raw tables in {where}")
    if args.table:
        n = land(args.table, args.rows, at=args.at, db=args.db, postgres=args.postgres)
        print(f"landed {n} row(s) in {args.table}")
    if not args.init and not args.table:
        parser.error("give --init or a SOURCE_NAME.TABLE_NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
