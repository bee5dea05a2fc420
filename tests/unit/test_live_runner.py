"""saosim.live without dbt: plans of a small project from given source versions, the
fingerprint cache, the dbt profile reader, and the lock protocol (wait, re-plan, reuse)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import saosim.live as live
from saosim.core.state import NodeState
from saosim.errors import ConfigError, SaosimInputError
from saosim.live.dbt_runner import DbtRunError
from saosim.live.execution import lock_plan
from saosim.live.fingerprints import live_fingerprints
from saosim.live.profiles import warehouse_target
from saosim.live.shadow import VERDICTS, verdict
from saosim.live.store import StateStore
from saosim.project.graph import Project

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SRC = "source.demo.raw.orders"


def _project() -> Project:
    p = Project.from_spec({"raw.orders": [], "stg": ["raw.orders"], "fct": ["stg"]})
    p = p.replace_node("model.demo.stg", raw_code="select * from {{ source('raw', 'orders') }}")
    return p.replace_node("model.demo.fct", raw_code="select id from {{ ref('stg') }}")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: demo\nprofile: demo\n")
    return tmp_path


def test_plan_reads_state_from_the_store_and_records_arrivals(folder: Path) -> None:
    first = live.plan(folder, project=_project(), at=T0, source_versions={SRC: T0})
    assert isinstance(first, live.LivePlan)
    assert first.built == ("model.demo.stg", "model.demo.fct")
    first.store.save_state(first.apply(finished_at=T0 + timedelta(minutes=1)))
    # a version later than `at` counts as landing at `at`
    again = live.plan(
        folder, project=_project(), at=T0 + timedelta(hours=1), source_versions={SRC: T0}
    )
    assert again.reused == ("model.demo.stg", "model.demo.fct")
    assert again.explain("fct").startswith("reused")
    arrivals = again.store.source_arrivals()
    assert arrivals.height == 1 and arrivals["arrived_at"][0] == T0


def test_naive_at_and_non_projects_are_input_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no time zone"):
        live.plan(folder, project=_project(), at=datetime(2025, 1, 1), source_versions={})
    with pytest.raises(SaosimInputError, match=r"no dbt_project\.yml"):
        live.plan(tmp_path / "nowhere", project=_project(), source_versions={})


def test_fingerprint_cache_parses_only_changed_code(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.duckdb")
    p = _project()
    first, parsed = live_fingerprints(p, store)
    assert parsed == 2
    again, parsed = live_fingerprints(p, store)
    assert parsed == 0
    assert again.nodes["model.demo.fct"].fingerprint == first.nodes["model.demo.fct"].fingerprint
    # a cosmetic edit (new checksum) is parsed again and keeps its fingerprint
    edited = p.replace_node(
        "model.demo.fct", raw_code="SELECT id -- ids\nFROM {{ ref('stg') }}", checksum="c2"
    )
    cosmetic, parsed = live_fingerprints(edited, store)
    assert parsed == 1
    assert cosmetic.nodes["model.demo.fct"].fingerprint == first.nodes["model.demo.fct"].fingerprint
    logic = edited.replace_node(
        "model.demo.fct", raw_code="select id from {{ ref('stg') }} where id > 1", checksum="c3"
    )
    changed, _ = live_fingerprints(logic, store)
    assert changed.nodes["model.demo.fct"].fingerprint != first.nodes["model.demo.fct"].fingerprint


def test_compiled_code_is_ignored_so_parse_and_compile_agree(tmp_path: Path) -> None:
    p = _project()
    compiled = p.replace_node("model.demo.fct", compiled_code='select id from "db"."main"."stg"')
    a, _ = live_fingerprints(p, None)
    b, _ = live_fingerprints(compiled, None)
    assert a.nodes["model.demo.fct"].fingerprint == b.nodes["model.demo.fct"].fingerprint


def test_warehouse_target_reads_the_duckdb_path_and_rejects_what_it_cannot_open(
    folder: Path,
) -> None:
    profiles = folder / "profiles.yml"
    profiles.write_text(
        "demo:\n  target: dev\n  outputs:\n"
        "    dev: {type: duckdb, path: data/w.duckdb}\n"
        "    mem: {type: duckdb, path: ':memory:'}\n"
        "    sf: {type: snowflake, account: x}\n"
    )
    dev = warehouse_target(folder)
    assert dev.path == folder.resolve() / "data" / "w.duckdb"
    assert warehouse_target(folder, target="sf").adapter == "snowflake"
    with pytest.raises(ConfigError, match="not a file saosim can open"):
        warehouse_target(folder, target="mem")
    with pytest.raises(ConfigError, match="no output 'prod'"):
        warehouse_target(folder, target="prod")
    # source versions are read through dbt's own adapter: without dbt-snowflake installed,
    # dbt says so (one line, no traceback at the CLI)
    with pytest.raises(DbtRunError, match="Could not find adapter type snowflake"):
        live.plan(folder, project=_project(), target="sf")


def test_a_run_waits_for_nodes_another_run_builds_then_reuses_them(folder: Path) -> None:
    store = StateStore.for_project(folder)
    made = live.plan(folder, project=_project(), at=T0, source_versions={SRC: T0})
    assert set(made.built) == {"model.demo.stg", "model.demo.fct"}
    # another run holds both nodes
    store.acquire(made.built, holder="other-run")
    result: dict[str, object] = {}

    def run() -> None:
        result["plan"], result["waits"] = lock_plan(made, holder="me", wait_timeout_s=30)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    assert worker.is_alive()  # waiting for the other run
    # the other run finishes: its state is written and its locks released in one go
    built = NodeState(T0 + timedelta(minutes=1), None, {SRC: T0}, T0 + timedelta(minutes=1))
    fps = made.project.nodes
    store.update_state(
        {
            "model.demo.stg": NodeState(
                built.built_at, fps["model.demo.stg"].fingerprint, {SRC: T0}, built.built_at
            ),
            "model.demo.fct": NodeState(
                built.built_at,
                fps["model.demo.fct"].fingerprint,
                {"model.demo.stg": built.built_at},
                built.built_at,
            ),
        }
    )
    store.release(holder="other-run")
    worker.join(timeout=30)
    replanned = result["plan"]
    assert result["waits"] == 1
    assert replanned.built == () and set(replanned.reused) == set(made.built)
    assert store.locks().height == 0


def test_verdicts() -> None:
    cases = [("reuse", False), ("reuse", True), ("build", True), ("build", False)]
    assert [verdict(p, c) for p, c in cases] == list(VERDICTS)


def test_shadow_report_per_model_and_latest(folder: Path) -> None:
    import polars as pl

    from saosim.live.store_tables import SHADOW_SCHEMA

    store = StateStore.for_project(folder)

    def rows(plan_id: str, at: datetime, changed: dict[str, bool], predicted: str) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "plan_id": plan_id,
                    "run_id": f"r-{plan_id}",
                    "run_at": at,
                    "unique_id": f"model.demo.{name}",
                    "name": name,
                    "predicted": predicted,
                    "reason": "within_build_after" if predicted == "reuse" else "never_built",
                    "status": "success",
                    "rows_before": 1,
                    "rows_after": 2 if moved else 1,
                    "hash_before": "a",
                    "hash_after": "b" if moved else "a",
                    "changed": moved,
                }
                for name, moved in changed.items()
            ],
            schema=SHADOW_SCHEMA,
        )

    store.record_shadow(rows("p1", T0, {"stg": True, "fct": False}, "build"))
    store.record_shadow(rows("p2", T0 + timedelta(hours=1), {"stg": True, "fct": False}, "reuse"))
    report = live.shadow_report(folder)
    assert report.summary() == {
        "correct_reuse": 1,
        "false_reuse": 1,
        "needed_build": 1,
        "wasted_build": 1,
    }
    per_model = {r["name"]: r for r in report.per_model().iter_rows(named=True)}
    assert per_model["stg"]["needed_build"] == 1 and per_model["stg"]["false_reuse"] == 1
    assert per_model["fct"]["wasted_build"] == 1 and per_model["fct"]["correct_reuse"] == 1
    latest = live.shadow_report(folder, latest=True)
    assert latest.rows.get_column("plan_id").unique().to_list() == ["p2"]
    # a reuse inside the build_after window is the staleness the config asks for
    assert latest.rows.filter(pl.col("verdict") == "false_reuse")["deliberate"].to_list() == [True]


def test_shadow_report_tells_deliberate_reuse_from_wrong_prediction(folder: Path) -> None:
    import polars as pl
    from typer.testing import CliRunner

    from saosim.cli import app
    from saosim.live.store_tables import SHADOW_SCHEMA

    project = Project.from_spec(
        {"raw.a": [], "stg": ["raw.a"], "fct": ["stg"], "lone": ["raw.a"], "dim": ["raw.a"],
         "side": ["raw.a"]},
        name="demo",
    )  # fmt: skip
    cases = {  # name: (predicted, reason, changed)
        "stg": ("reuse", "within_build_after", True),  # the window chose it
        "fct": ("reuse", "no_new_data", True),  # stale because stg was held back
        "lone": ("reuse", "no_new_data", True),  # nothing explains it
        "dim": ("build", "new_upstream_data", False),  # built for nothing
        "side": ("reuse", "no_new_data", False),  # right
    }
    store = StateStore.for_project(folder)
    store.record_shadow(
        pl.DataFrame(
            [
                {"plan_id": "p", "run_id": "r", "run_at": T0, "unique_id": f"model.demo.{n}",
                 "name": n, "predicted": p, "reason": r, "status": "success", "rows_before": 1,
                 "rows_after": 2 if c else 1, "hash_before": "a", "hash_after": "b" if c else "a",
                 "changed": c}
                for n, (p, r, c) in cases.items()
            ],
            schema=SHADOW_SCHEMA,
        )
    )  # fmt: skip
    report = live.shadow_report(folder, project=project)
    mismatch = dict(report.rows.select("name", "mismatch").rows())
    assert mismatch == {
        "stg": "deliberate_reuse",
        "fct": "deliberate_reuse",
        "lone": "wrong_prediction",
        "dim": "wrong_prediction",
        "side": None,
    }
    assert report.mismatches() == {"deliberate_reuse": 2, "wrong_prediction": 2}
    # predicted reuse 4 of 5 nodes, actually unchanged 2 of 5: 40 points apart
    assert report.reuse() == {"predicted_pct": 80.0, "actual_pct": 40.0, "within_points": 40.0}
    # without the DAG, only the node's own reason counts
    alone = dict(live.shadow_report(folder).rows.select("name", "mismatch").rows())
    assert alone["fct"] == "wrong_prediction" and alone["stg"] == "deliberate_reuse"
    out = CliRunner().invoke(app, ["shadow-report", str(folder)])
    assert out.exit_code == 0, out.output
    assert "predicted reuse 80.0 % vs actual 40.0 % (within 40.0 points)" in out.output
