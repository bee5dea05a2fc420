"""The fast replay kernel on small hand-made estates: worked examples, times, log shape."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import polars as pl
import pytest

from saosim.core.decision import ProfileOptions
from saosim.cost.runtime import fit_costs
from saosim.inputs.estate import Estate
from saosim.project.freshness import BuildAfter, FreshnessConfig, NodeFreshness
from saosim.project.graph import Project
from saosim.replay.engine import Scenario
from saosim.replay.kernel import fast as kernel
from saosim.replay.kernel.timing import ring_grow
from saosim.replay.kernel.timing import timedelta_us as _timedelta_us
from saosim.replay.plain import PlainReplay
from saosim.replay.timeline import Job, Timeline

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PROFILES = ("baseline", "sao", "dbt_state", "orchestra")


def _orders_estate(arrivals: list[datetime]) -> Estate:
    project = Project.from_spec(
        {"src.orders": [], "stg_orders": ["src.orders"], "fct_orders": ["stg_orders"]}
    )
    return Estate(
        project,
        source_arrivals=pl.DataFrame(
            {"unique_id": ["source.demo.src.orders"] * len(arrivals), "arrived_at": arrivals}
        ),
    )


def _both(estate: Estate, scenario: Scenario, hours: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    timeline = Timeline.from_estate(
        estate, jobs=scenario.jobs, start=T0, end=T0 + timedelta(hours=hours)
    )
    costs = fit_costs(estate)
    plain = PlainReplay(estate, scenario, timeline, costs).run(False)
    fast = kernel.replay_fast(estate, scenario, timeline=timeline, costs=costs)
    return plain, fast


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).cast(pl.String)
        for c, dtype in frame.schema.items()
        if isinstance(dtype, pl.Categorical | pl.Enum)
    )


def test_worked_example_1_new_data_then_reuse() -> None:
    estate = _orders_estate([T0 + timedelta(minutes=10)])
    jobs = (Job("hourly", "0 * * * *"),)
    plain, fast = _both(estate, Scenario("sao", "sao", jobs=jobs), hours=3)
    rows = _strings(fast).select("run_at", "unique_id", "action", "reason").rows()
    stg, fct = "model.demo.stg_orders", "model.demo.fct_orders"
    assert rows == [
        (T0, stg, "build", "never_built"),
        (T0, fct, "build", "never_built"),
        (T0 + timedelta(hours=1), stg, "build", "new_upstream_data"),
        (T0 + timedelta(hours=1), fct, "build", "new_upstream_data"),
        (T0 + timedelta(hours=2), stg, "reuse", "no_new_data"),
        (T0 + timedelta(hours=2), fct, "reuse", "no_new_data"),
    ]
    assert _strings(fast).equals(plain.with_columns(pl.col("status").cast(pl.String)))


@pytest.mark.parametrize("profile", PROFILES)
def test_build_after_window_matches_plain(profile: str) -> None:
    estate = _orders_estate([T0 + timedelta(hours=h, minutes=10) for h in range(10)])
    fresh = FreshnessConfig({"model.demo.fct_orders": NodeFreshness(BuildAfter(6, "hour"))})
    jobs = (Job("hourly", "0 * * * *"), Job("half", "30 */2 * * *"))
    scenario = Scenario(profile, profile, freshness=fresh, jobs=jobs)
    plain, fast = _both(estate, scenario, hours=10)
    assert fast.height == plain.height > 20
    assert _strings(fast).drop("status").equals(plain.drop("status"))
    assert fast["status"].cast(pl.String).equals(plain["status"])
    if profile == "sao":
        reasons = set(_strings(fast).get_column("reason"))
        assert "within_build_after" in reasons


def test_log_columns_are_compact_types() -> None:
    estate = _orders_estate([T0])
    plain, fast = _both(estate, Scenario("sao", "sao", jobs=(Job("h", "0 * * * *"),)), hours=2)
    assert fast.columns == plain.columns
    assert isinstance(fast.schema["action"], pl.Enum)
    assert isinstance(fast.schema["reason"], pl.Enum)
    assert isinstance(fast.schema["status"], pl.Enum)
    assert isinstance(fast.schema["unique_id"], pl.Categorical)
    assert fast.schema["started_at"] == pl.Datetime("us", "UTC")


def test_timedelta_rounding_matches_python() -> None:
    rng = random.Random(5)
    values = [rng.uniform(0, 5000) for _ in range(3000)]
    values += [0.0, 0.5e-6, 1.5e-6, 2.5e-6, 1e-7, 12.3456785, 59.9999995, 3600.0000005]
    for seconds in values:
        expected = timedelta(seconds=seconds) // timedelta(microseconds=1)
        assert _timedelta_us(seconds) == expected, seconds


def test_progress_bar_runs_in_a_thread() -> None:
    estate = _orders_estate([T0])
    timeline = Timeline.from_estate(
        estate, jobs=(Job("h", "0 * * * *"),), start=T0, end=T0 + timedelta(hours=5)
    )
    costs = fit_costs(estate)
    scenario = Scenario("sao", "sao", jobs=(Job("h", "0 * * * *"),))
    with_bar = kernel.replay_fast(estate, scenario, timeline=timeline, costs=costs, progress=True)
    without = kernel.replay_fast(estate, scenario, timeline=timeline, costs=costs)
    assert _strings(with_bar).equals(_strings(without))
    assert kernel.supports(scenario, timeline)
    assert np.isfinite(kernel.LAST.loop_s) and kernel.LAST.rows == without.height


@pytest.mark.parametrize("lag_mode", ["build_age", "data_advance", "data_vs_build"])
@pytest.mark.parametrize("no_metadata", ["always_fresh", "never_fresh"])
def test_dbt_state_source_without_arrivals(lag_mode: str, no_metadata: str) -> None:
    project = Project.from_spec({"src.a": [], "src.b": [], "m": ["src.a", "src.b"], "n": ["m"]})
    estate = Estate(
        project,
        source_arrivals=pl.DataFrame(
            {
                "unique_id": ["source.demo.src.a"] * 4,
                "arrived_at": [T0 + timedelta(hours=h, minutes=50) for h in (0, 2, 3, 5)],
            }
        ),
    )
    options = ProfileOptions(
        lag_mode=lag_mode, no_metadata_source=no_metadata, default_lag_tolerance_s=3600.0
    )
    jobs = (Job("hourly", "0 * * * *"), Job("half", "30 * * * *"))
    scenario = Scenario("dbt_state", "dbt_state", jobs=jobs, options=options)
    plain, fast = _both(estate, scenario, hours=8)
    assert _strings(fast).drop("status").equals(plain.drop("status"))


def test_log_gathered_in_chunks_equals_the_log_at_once() -> None:
    # replay_fast gathers the log of finished runs while the loop runs: any cut of the rows
    # at run boundaries must give the same frame as assembling it after the loop
    from saosim.replay.kernel.compile import compile_replay
    from saosim.replay.kernel.log import assemble_log, row_columns

    estate = _orders_estate([T0 + timedelta(hours=h, minutes=10) for h in range(0, 12, 3)])
    jobs = (Job("hourly", "0 * * * *"), Job("half", "30 */2 * * *"))
    scenario = Scenario("sao", "sao", jobs=jobs)
    timeline = Timeline.from_estate(estate, jobs=jobs, start=T0, end=T0 + timedelta(hours=12))
    k = compile_replay(estate, scenario, timeline, fit_costs(estate))
    codes = kernel._run(k, False, np.zeros(1, dtype=np.int64), kernel.out_buffers(k.n_rows))
    cuts = [int(k.run_out_start[r]) for r in (0, 3, 4, 9)]
    assert len(codes[7]) == len(codes[8]) == 0  # a full log's run and node are not stored
    chunks = [
        row_columns(k, "sao", tuple(a[lo:hi] for a in codes), first_row=lo)
        for lo, hi in pairwise(cuts)
    ]
    joined = kernel._join(k, "sao", codes, chunks)
    whole = assemble_log(k, "sao", codes)
    assert joined.height == whole.height == k.n_rows > cuts[-1]
    assert joined.equals(whole) and joined.schema == whole.schema
    plain = PlainReplay(estate, scenario, timeline, fit_costs(estate)).run(False)
    assert _strings(joined).drop("status").equals(plain.drop("status"))


def test_faulting_in_output_rows_keeps_what_the_loop_wrote() -> None:
    out = kernel.out_buffers(3_000_000)
    start = out[3]
    start[:1000] = np.arange(1000)
    assert kernel._populate(out, 0, 2_000_000) in (True, False)  # False: OS cannot
    assert (start[:1000] == np.arange(1000)).all()
    start[2_000_000:] = 7
    assert (start[2_000_000:] == 7).all() and len(out) == 10


def test_cached_loop_is_forgotten_when_a_module_it_compiles_in_changes(tmp_path) -> None:
    # numba keys a cached function on its own file alone; an edit to the rules it inlines
    # (another file) must still make it compile afresh
    import shutil
    from pathlib import Path

    from saosim import _jit

    root = Path(_jit.__file__).parent
    for name in _jit.COMPILED_SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, tmp_path / name)
    cache = tmp_path / "replay" / "kernel" / "__pycache__"
    cache.mkdir()
    index = cache / "loop.run_loop-80.py311.nbi"
    index.write_bytes(b"x")
    assert _jit.refresh_cache(tmp_path) and not index.exists()
    index.write_bytes(b"x")
    assert not _jit.refresh_cache(tmp_path) and index.exists()
    with (tmp_path / "core" / "rules.py").open("a") as f:
        f.write("\n# changed\n")
    assert _jit.refresh_cache(tmp_path) and not index.exists()


def test_ring_grow_keeps_each_item_at_its_place_in_the_larger_ring() -> None:
    ring = np.arange(8) * 10  # items 5..12 of a ring of 8: 5, 6, 7 at 5..7, then 8.. at 0..
    ring[:5] = [80, 90, 100, 110, 120]
    grown = ring_grow(ring, 5, 13, 16)
    assert [grown[i & 15] for i in range(5, 13)] == [50, 60, 70, 80, 90, 100, 110, 120]


def _dbt_state_hourly(estate: Estate, hours: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both engines' logs of a dbt_state job building every model hourly from the estate's
    first whole hour."""
    start = estate.time_span[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    jobs = (Job("hourly", "0 * * * *", "resource_type:model"),)
    scenario = Scenario("dbt_state", "dbt_state", jobs=jobs)
    timeline = Timeline.from_estate(
        estate, jobs=jobs, start=start, end=start + timedelta(hours=hours)
    )
    costs = fit_costs(estate)
    plain = PlainReplay(estate, scenario, timeline, costs).run(False)
    return plain, kernel.replay_fast(estate, scenario, timeline=timeline, costs=costs)


def test_dbt_state_queue_grows_past_its_first_size_with_the_same_decisions() -> None:
    # 3,000 models: a run's first builds queue more snapshots (and their seen versions) than
    # the loop's pending rings start with (1,024 snapshots, 4,096 versions), so they grow;
    # over 8 runs the snapshots written free their slots and the rings wrap around
    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=3000, days=1, seed=5)
    n_edges = sum(len(estate.project.parents(n)) for n in estate.project.order)
    assert n_edges > 4096
    plain, fast = _dbt_state_hourly(estate, hours=8)
    assert (plain["action"] == "build").sum() > 1024
    assert _strings(fast).equals(_strings(plain)), "the kernel differs from the plain replay"


def test_dbt_state_builds_that_finish_days_later_become_visible_at_the_same_runs() -> None:
    # builds 400x slower than their history: many finish more than 17 hourly runs after
    # their run started, past the few runs the loop steps through to file a snapshot under
    # the run it is due at (it then searches); both engines must show them at the same runs
    import dataclasses

    from saosim.synth.estate import synthetic_estate

    estate = synthetic_estate(n_models=30, days=3, seed=3)
    slow = estate.node_runs.with_columns(
        pl.col("execution_time_s") * 400,
        pl.col("completed_at") + (pl.col("completed_at") - pl.col("started_at")) * 399,
    )
    estate = dataclasses.replace(estate, node_runs=slow)
    plain, fast = _dbt_state_hourly(estate, hours=48)
    builds = plain.filter(pl.col("action") == "build")
    hours = (builds["finished_at"] - builds["run_at"]).dt.total_seconds() / 3600
    assert (hours > 17).sum() > 50
    assert _strings(fast).equals(_strings(plain)), "the kernel differs from the plain replay"
