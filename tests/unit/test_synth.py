"""Synthetic estates: determinism, shape, validity, and the baseline history's mechanics."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import sqlglot

from saosim.errors import ConfigError
from saosim.inputs.estate import Estate, project_to_frames
from saosim.inputs.schema import validate
from saosim.project.graph import Project
from saosim.synth.estate import SynthJob, synthetic_estate, synthetic_history, synthetic_project
from saosim.synth.sql import fingerprint_sql

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def estate() -> Estate:
    return synthetic_estate(n_models=600, days=21, seed=5)


def _frames(est: Estate) -> dict[str, pl.DataFrame]:
    nodes, edges = project_to_frames(est.project)
    return {
        "nodes": nodes,
        "edges": edges,
        **{t: getattr(est, t) for t in ("runs", "node_runs", "source_arrivals", "code_changes")},
    }


def test_same_seed_gives_identical_frames() -> None:
    a = _frames(synthetic_estate(n_models=120, days=5, seed=11))
    b = _frames(synthetic_estate(n_models=120, days=5, seed=11))
    for name in a:
        assert a[name].equals(b[name]), name


def test_another_seed_gives_another_estate() -> None:
    a = synthetic_estate(n_models=120, days=5, seed=11)
    b = synthetic_estate(n_models=120, days=5, seed=12)
    assert not a.node_runs.equals(b.node_runs)
    assert sorted(a.project.nodes) != sorted(b.project.nodes)


def test_tables_validate_and_estate_constructs(estate: Estate) -> None:
    for name, frame in _frames(estate).items():
        assert validate(frame, name).equals(frame), name
    again = Estate(estate.project, estate.runs, estate.node_runs, estate.source_arrivals)
    assert again.node_runs.height == estate.node_runs.height


def test_sources_are_a_tenth_of_models_and_feed_staging_one_to_one(estate: Estate) -> None:
    p = estate.project
    counts = p.counts()
    assert counts["model"] == 600
    assert counts["source"] == 60
    for src in p.sources:
        staging = [c for c in p.children(src) if p.nodes[c].path.startswith("models/staging/")]
        assert len(staging) == 1
        assert p.parents(staging[0]) == (src,)


def test_fan_in_is_one_to_six_with_hubs(estate: Estate) -> None:
    p = estate.project
    joins = p.select("path:models/intermediate path:models/marts", exclude="resource_type:test")
    fan_in = Counter(len(p.parents(u)) for u in joins if p.nodes[u].name != "dim_date")
    assert set(fan_in) <= set(range(1, 7))
    assert fan_in[1] > fan_in[6] > 0
    children = [
        len([c for c in p.children(u) if not p.nodes[c].is_test]) for u in p.of_type("model")
    ]
    assert max(children) >= 15  # a few hubs with many children
    assert np.median(children) <= 2


def test_materialization_mix(estate: Estate) -> None:
    p = estate.project
    mats = Counter(p.nodes[u].materialization for u in p.of_type("model"))
    n = sum(mats.values())
    assert 0.25 <= mats["view"] / n <= 0.45
    assert 0.10 <= mats["incremental"] / n <= 0.22
    assert 0 < mats["ephemeral"] / n <= 0.08
    assert p.counts()["seed"] >= 2 and p.counts()["snapshot"] >= 1


def test_data_tests_attached_with_both_severities(estate: Estate) -> None:
    p = estate.project
    tests = p.tests
    tests_per_model = len(tests) / len(p.of_type("model"))
    assert tests_per_model >= 1.0
    assert tests_per_model <= 2.0
    assert {p.nodes[t].severity for t in tests} == {"error", "warn"}
    for t in tests:
        (parent,) = p.parents(t)
        assert p.nodes[parent].is_buildable and not p.nodes[parent].is_ephemeral


def test_paths_and_tags_make_selectors_meaningful(estate: Estate) -> None:
    p = estate.project
    models = set(p.of_type("model"))
    hourly = p.select("tag:hourly")
    assert 0.04 <= len(hourly & models) / len(models) <= 0.25
    # The hourly slice is a domain's marts with everything upstream of them.
    assert hourly | set(p.sources) >= p.select("+tag:hourly")
    assert any(p.nodes[u].path.startswith("models/marts/") for u in hourly)
    assert p.select("path:models/staging") and p.select("path:models/marts")


def test_compiled_sql_parses_and_fingerprints_are_set(estate: Estate) -> None:
    p = estate.project
    models = [u for u in p.of_type("model")][:80]
    for uid in models:
        node = p.nodes[uid]
        assert node.fingerprint and node.checksum
        sqlglot.parse_one(node.compiled_code, read="snowflake")
        for parent in p.parents(uid):
            parent_node = p.nodes[parent]
            if not parent_node.is_ephemeral:
                assert f"{parent_node.schema}.{parent_node.alias}" in node.compiled_code


def test_arrival_cadences_span_hourly_to_weekly(estate: Estate) -> None:
    gaps = (
        estate.source_arrivals.sort("unique_id", "arrived_at")
        .group_by("unique_id")
        .agg(gap=pl.col("arrived_at").diff().dt.total_seconds().median())
    )
    hours = gaps.get_column("gap").to_numpy() / 3600
    assert (hours < 1.5).any()  # hourly
    assert ((hours > 20) & (hours < 28)).any()  # daily
    assert (hours > 24 * 5).any()  # weekly
    first = estate.source_arrivals.group_by("unique_id").agg(pl.col("arrived_at").min())
    assert first.height == len(estate.project.sources)
    assert (first.get_column("arrived_at") < START).all()  # data exists before the first run
    assert set(estate.source_arrivals.get_column("how")) == {"loaded_at_field"}


def test_code_changes_a_few_a_week_and_the_project_holds_the_latest(estate: Estate) -> None:
    changes = estate.code_changes
    per_week = changes.select(pl.col("changed_at").dt.truncate("1m")).n_unique() / 3
    assert per_week >= 1
    assert per_week <= 10
    assert changes.get_column("changed_at").dt.weekday().max() <= 5  # merged on working days
    latest = changes.sort("changed_at").group_by("unique_id").last()
    for row in latest.iter_rows(named=True):
        node = estate.project.nodes[row["unique_id"]]
        assert node.checksum == row["checksum"]
        assert node.fingerprint == row["fingerprint"]
        assert node.fingerprint == fingerprint_sql(node.compiled_code, node.build_config)


def test_comment_only_changes_keep_the_fingerprint() -> None:
    est = synthetic_estate(n_models=200, days=60, seed=3, code_changes_per_week=15)
    rows = est.code_changes.sort("changed_at").partition_by("unique_id")
    same = changed = 0
    for frame in rows:
        checks = frame.get_column("checksum").to_list()
        fps = frame.get_column("fingerprint").to_list()
        for i in range(1, len(checks)):
            assert checks[i] != checks[i - 1]
            same += fps[i] == fps[i - 1]
            changed += fps[i] != fps[i - 1]
    assert same > 0 and changed > same


def test_baseline_builds_every_selected_node_every_run(estate: Estate) -> None:
    per_run = estate.node_runs.group_by("run_id").agg(pl.col("unique_id").sort())
    joined = per_run.join(estate.runs.select("run_id", "job_id"), on="run_id")
    for frame in joined.partition_by("job_id"):
        first = frame.get_column("unique_id")[0].to_list()
        assert all(ids.to_list() == first for ids in frame.get_column("unique_id"))
    assert not any(
        estate.project.nodes[u].is_ephemeral
        for u in estate.node_runs.get_column("unique_id").unique()
    )


def test_jobs_overlap_on_some_models(estate: Estate) -> None:
    by_job = (
        estate.node_runs.join(estate.runs.select("run_id", "job_id"), on="run_id")
        .group_by("job_id")
        .agg(pl.col("unique_id").unique())
    )
    sets = {r[0]: set(r[1]) for r in by_job.iter_rows()}
    assert set(sets) == {"daily_full", "midday_full", "hourly", "six_hourly"}
    assert sets["hourly"] < sets["daily_full"] and sets["six_hourly"] < sets["daily_full"]
    # over-scheduled, as a team before SAO: a second full build every day
    assert sets["midday_full"] == sets["daily_full"]
    assert len(sets["hourly"]) < len(sets["daily_full"]) / 3


def test_failures_skip_children_and_tests_in_the_same_run() -> None:
    est = synthetic_estate(n_models=300, days=30, seed=8)
    p = est.project
    rows = est.node_runs
    failed = rows.filter(pl.col("status") == "error")
    assert failed.height > 0
    status = {(r, u): s for r, u, s in rows.select("run_id", "unique_id", "status").iter_rows()}
    checked = 0
    for run_id, uid in failed.select("run_id", "unique_id").iter_rows():
        for child in p.children(uid):
            if (run_id, child) in status:
                assert status[(run_id, child)] == "skipped", (uid, child)
                checked += 1
    assert checked > 0
    skipped = rows.filter(pl.col("status") == "skipped")
    assert skipped.get_column("started_at").null_count() == skipped.height
    assert est.runs.filter(pl.col("status") == "error").height > 0


def test_timings_follow_the_dag_and_the_thread_limit(estate: Estate) -> None:
    p = estate.project
    run = estate.runs.filter(pl.col("job_id") == "daily_full").row(0, named=True)
    rows = estate.node_runs.filter(
        pl.col("run_id") == run["run_id"], pl.col("started_at").is_not_null()
    )
    start = dict(rows.select("unique_id", "started_at").iter_rows())
    end = dict(rows.select("unique_id", "completed_at").iter_rows())
    for uid, began in start.items():
        assert began >= run["started_at"]
        for parent in p.parents(uid):
            if parent in end:
                assert began >= end[parent]
    events = sorted([(t, 1) for t in start.values()] + [(t, -1) for t in end.values()])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert 2 <= peak <= 12
    assert run["finished_at"] >= max(end.values())


def test_each_run_ends_with_its_last_node_and_fails_with_any_of_them() -> None:
    """A run's finish is its last node's end plus 2 s, its status ``error`` when a node run
    errored or a test failed: checked against the node runs grouped by polars, every run of a
    history with failures."""
    est = synthetic_estate(n_models=300, days=30, seed=8)
    per_run = est.node_runs.group_by("run_id").agg(
        last=pl.col("completed_at").max(), bad=pl.col("status").is_in(["error", "fail"]).any()
    )
    runs = est.runs.join(per_run, on="run_id", how="left")
    assert runs.get_column("last").null_count() == 0
    assert (runs["finished_at"] == runs["last"] + timedelta(seconds=2)).all()
    expected = ["error" if bad else "success" for bad in runs.get_column("bad")]
    assert runs.get_column("status").to_list() == expected
    assert 0 < expected.count("error") < runs.height
    assert est.node_runs.schema["run_id"] == pl.Categorical


def test_runtimes_heavy_tailed_views_cheap_incrementals_grow_with_the_gap(estate: Estate) -> None:
    p = estate.project
    ok = estate.node_runs.filter(pl.col("status") == "success").with_columns(
        mat=pl.col("unique_id").replace_strict(
            {u: p.nodes[u].materialization for u in p.buildable}, default=None
        )
    )
    medians = ok.group_by("unique_id", "mat").agg(pl.col("execution_time_s").median())
    tables = medians.filter(pl.col("mat") == "table").get_column("execution_time_s")
    views = medians.filter(pl.col("mat") == "view").get_column("execution_time_s")
    assert views.median() < tables.median() / 3
    assert tables.quantile(0.99) > 8 * tables.median()  # a heavy tail across models
    assert ok.filter(pl.col("mat") == "view").get_column("bytes_processed").max() == 0
    inc = (
        ok.filter(pl.col("mat") == "incremental")
        .sort("unique_id", "started_at")
        .with_columns(
            gap_h=(
                pl.col("started_at") - pl.col("completed_at").shift(1).over("unique_id")
            ).dt.total_seconds()
            / 3600
        )
        .drop_nulls("gap_h")
    )
    long = (
        inc.filter(pl.col("gap_h") > 8)
        .group_by("unique_id")
        .agg(pl.col("execution_time_s").median())
    )
    short = (
        inc.filter(pl.col("gap_h") < 2)
        .group_by("unique_id")
        .agg(pl.col("execution_time_s").median())
    )
    both = long.join(short, on="unique_id", suffix="_short")
    ratio = (
        both.get_column("execution_time_s") / both.get_column("execution_time_s_short")
    ).median()
    assert ratio > 2


def test_synthetic_history_for_a_given_project() -> None:
    p = Project.from_spec(
        {"raw.orders": [], "raw.customers": [], "stg_orders": ["raw.orders"],
         "stg_customers": ["raw.customers"], "fct": ["stg_orders", "stg_customers"]}
    )  # fmt: skip
    jobs = [SynthJob("every_2h", "0 */2 * * *", "fct+ +fct", threads=2)]
    est = synthetic_history(p, days=3, seed=0, start=START, jobs=jobs)
    assert est.runs.height == 36
    assert set(est.node_runs.get_column("unique_id")) == set(p.buildable)
    assert est.runs.get_column("started_at").min() >= START
    assert est.runs.get_column("started_at").max() < START + timedelta(days=3)


def test_bad_arguments_are_config_errors() -> None:
    p = synthetic_project(40, seed=1)
    with pytest.raises(ConfigError, match="UTC"):
        synthetic_history(p, days=1, start=datetime(2025, 1, 1))
    with pytest.raises(ConfigError, match="cron"):
        SynthJob("x", "every hour")
    with pytest.raises(ConfigError, match="at least 20"):
        synthetic_estate(n_models=5, days=1)
    with pytest.raises(ConfigError, match="positive"):
        synthetic_history(p, days=0)
    with pytest.raises(ConfigError, match="select"):
        synthetic_history(p, days=1, jobs=[SynthJob("x", "0 * * * *", "tag:nope")])


def test_versions_agree_with_the_sqlglot_fingerprint(estate: Estate) -> None:
    from saosim.project.fingerprint import fingerprint_sql as sqlglot_fingerprint
    from saosim.synth.sql import SqlSpec, render_sql

    p = estate.project
    models = [u for u in p.of_type("model") if len(p.parents(u)) >= 2][:10]
    for uid in models:
        node = p.nodes[uid]
        spec = SqlSpec("order", tuple(f"db.s.t{i}" for i in range(len(p.parents(uid)))))
        same = [render_sql(node, spec, 3, c)[1] for c in range(3)]
        other = render_sql(node, spec, 4, 0)[1]
        prints = {sqlglot_fingerprint(sql, dialect="snowflake") for sql in same}
        assert len(prints) == 1  # comment-only edits: one fingerprint
        assert sqlglot_fingerprint(other, dialect="snowflake") not in prints
        assert len({fingerprint_sql(sql) for sql in same}) == 1


def _median_runtime_by_input_rate(estate: Estate) -> tuple[float, float]:
    """Median execution time of tables fed hourly vs at most daily (by their fastest input)."""
    from saosim.synth.history import _input_rates

    arrivals = estate.source_arrivals.group_by("unique_id").len()
    days = 30.0
    rates = _input_rates(estate.project, {u: n / days for u, n in arrivals.iter_rows()})
    tables = [
        u
        for u in estate.project.buildable
        if estate.project.nodes[u].materialization in ("table", "incremental")
    ]
    fast = [u for u in tables if rates[u] >= 12]
    slow = [u for u in tables if rates[u] <= 1.5]
    med = estate.node_runs.group_by("unique_id").agg(pl.col("execution_time_s").median())
    by = dict(med.iter_rows())
    return (
        float(np.median([by[u] for u in fast if u in by])),
        float(np.median([by[u] for u in slow if u in by])),
    )


def test_runtime_grows_with_how_often_inputs_change() -> None:
    related = synthetic_estate(n_models=300, days=30, seed=4)
    flat = synthetic_estate(n_models=300, days=30, seed=4, runtime_elasticity=0.0)
    fast, slow = _median_runtime_by_input_rate(related)
    fast0, slow0 = _median_runtime_by_input_rate(flat)
    # same draws, only the scaling differs: hourly-fed tables get much bigger relative to
    # daily-fed ones
    assert fast / slow > 2.5 * (fast0 / slow0)
    assert related.source_arrivals.equals(flat.source_arrivals)


def test_arrival_mix_sets_the_share_of_source_cadences() -> None:
    daily = synthetic_estate(n_models=200, days=14, seed=2, arrival_mix=(0, 0, 1, 0, 0))
    hourly = synthetic_estate(n_models=200, days=14, seed=2, arrival_mix=(1, 0, 0, 0, 0))
    feeds_hourly = daily.project.select("+tag:hourly")

    def loads(estate: Estate) -> list[int]:
        counts = estate.source_arrivals.group_by("unique_id").len()
        return [n for u, n in counts.iter_rows() if u not in feeds_hourly]

    # 14 days: daily sources load at most once a day (plus the load before the window)
    assert loads(daily) and max(loads(daily)) <= 15
    assert min(loads(hourly)) >= 14 * 20
