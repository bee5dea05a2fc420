"""dbt's own connection for the project's profile and target: the same code reads DuckDB and
PostgreSQL, renders the SQL in the adapter's dialect, and reports a refused query in one line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saosim.cli import app
from saosim.errors import ConfigError, SaosimError
from saosim.live.adapter import dbt_connection, dialect_of
from saosim.live.dbt_runner import dbt_parse
from saosim.live.metadata import source_versions
from saosim.live.store import StateStore
from tests.pg_server import example_on, postgres_server  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.slow]

INIT = datetime(2025, 1, 1, 6, tzinfo=UTC)


def test_adapter_types_map_to_dialects() -> None:
    assert [dialect_of(t) for t in ("duckdb", "postgres", "snowflake", "bigquery")] == [
        "duckdb",
        "postgres",
        "snowflake",
        "bigquery",
    ]
    assert dialect_of("Redshift") == "redshift" and dialect_of("spark") == "databricks"
    with pytest.raises(ConfigError, match="'oracle' has no SQL dialect"):
        dialect_of("oracle")


@pytest.mark.parametrize("name", ["duckdb", "postgres"])
def test_one_connection_path_for_both_warehouses(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server = request.getfixturevalue("postgres_server") if name == "postgres" else None
    with example_on(name, tmp_path, server) as wh:
        project = dbt_parse(wh.project_dir, target=wh.target).project
        with dbt_connection(wh.project_dir, target=wh.target) as con:
            assert (con.adapter_type, con.dialect) == (name, name)
            assert con.schema == "main"
            versions = source_versions(project, con)
            assert len(versions) == 6 and set(versions.values()) == {INIT}
            assert con.query("select count(*) from raw.orders") == [(240,)]
            with pytest.raises(SaosimError, match=f"the {name} warehouse refused"):
                con.query("select * from raw.no_such_table")
        # the connection is closed again: a loader can write (DuckDB takes one writer)
        wh.land_rows("shop.orders", 1, datetime(2025, 1, 3, tzinfo=UTC))
        assert wh.count("raw.orders") == 241
        # the CLI plans the project through the same path, with a lock timeout of its own
        target = ["--target", wh.target] if wh.target else []
        out = CliRunner().invoke(
            app,
            ["plan", str(wh.project_dir), "--format", "json", "--lock-timeout", "30", *target],
        )
        assert out.exit_code == 0, out.output
        assert StateStore.for_project(wh.project_dir).source_arrivals().height == 6
        bad = CliRunner().invoke(app, ["plan", str(wh.project_dir), "--lock-timeout", "0", *target])
        assert bad.exit_code == 2 and "--lock-timeout" in bad.output
