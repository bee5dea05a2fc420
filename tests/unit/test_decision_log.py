"""A spilled decision log (Parquet parts on disk) gives the same log and the same numbers as
one held in memory, and bad rows in a scanned log are named."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from saosim.cost.runtime import fit_costs
from saosim.errors import SchemaError
from saosim.metrics.staleness import staleness
from saosim.replay import decision_log
from saosim.replay.decision_log import DecisionLog
from saosim.replay.engine import Scenario, simulate
from saosim.replay.kernel import fast
from saosim.replay.timeline import Timeline
from saosim.synth.estate import synthetic_estate


@pytest.fixture(scope="module")
def estate():
    return synthetic_estate(n_models=120, days=6, seed=5)


def _scenarios():
    return [Scenario("sao", "sao"), Scenario("dbt_state", "dbt_state")]


def test_a_spilled_log_gives_the_same_log_and_numbers(estate, monkeypatch):
    kept = simulate(estate, _scenarios(), engine="fast")
    assert not any(kept.log.on_disk(s) for s in kept.log.scenarios)
    # small chunks, so a log is several files (and some are written while the loop runs)
    monkeypatch.setattr(fast, "_CHUNK_ROWS", 1_009)
    spilled = simulate(estate, _scenarios(), engine="fast", spill_rows=0)
    assert all(spilled.log.on_disk(s) for s in spilled.log.scenarios)
    assert spilled.log.scenarios == ("baseline", "sao", "dbt_state")
    parts = spilled.log._parts["sao"]
    assert parts.parts > 1 and parts.rows == kept.decisions_of("sao").height
    assert spilled.log.height == kept.decisions.height
    assert spilled.decisions.equals(kept.decisions)
    for table in ("summary", "per_model", "per_tier", "per_day"):
        got = getattr(spilled, table)()
        want = getattr(kept, table)()
        key = [c for c in ("scenario", "unique_id", "tier", "day") if c in want.columns]
        # sums over chunks add in another order: equal to the last few bits
        assert_frame_equal(got.sort(key), want.sort(key), rel_tol=1e-12, abs_tol=0)
    assert_frame_equal(spilled.bill().summary, kept.bill().summary, rel_tol=1e-12, abs_tol=0)
    for name, result in kept.staleness().items():
        assert (spilled.staleness()[name].integral_s2 == result.integral_s2).all()


@pytest.mark.parametrize("chunk_rows", [97, 257, 509])
def test_a_log_spilled_from_the_ring_of_output_buffers_is_the_log(estate, monkeypatch, chunk_rows):
    """The loop writes a spilled log into a ring a few chunks long, starting again at its first
    row when full; the writer takes the rows across each restart. Whatever the chunk size, the
    log written is the log kept in memory, row for row."""
    scenario = Scenario("sao", "sao")
    timeline = Timeline.from_estate(estate)
    costs = fit_costs(estate)
    kept = fast.replay_fast(estate, scenario, timeline=timeline, costs=costs)
    monkeypatch.setattr(fast, "_CHUNK_ROWS", chunk_rows)
    log = DecisionLog()
    sink = log.writer("sao", min_rows=0)
    empty = fast.replay_fast(estate, scenario, timeline=timeline, costs=costs, sink=sink)
    log.add("sao", empty, sink)
    assert empty.height == 0 and sink.rows == kept.height == fast.LAST.rows
    # the ring is several times shorter than the log: it started again several times
    assert fast.LAST.buffer_rows * 3 < sink.rows
    assert log.frame("sao").equals(kept)


def test_a_spilled_log_is_written_out_whole_and_its_files_go_with_it(estate, tmp_path):
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="fast", spill_rows=0)
    out = cmp.write_decisions(tmp_path / "log.parquet")
    assert pl.read_parquet(out).equals(cmp.decisions)
    folder = Path(cmp.log._tmp.name)
    assert any(folder.rglob("part-*.parquet"))
    del cmp
    gc.collect()
    assert not folder.exists()


def test_a_small_log_stays_in_memory_and_makes_no_folder(estate):
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="fast")
    assert cmp.log._tmp is None
    assert cmp.decisions_of("sao").get_column("scenario").cast(pl.String).unique().to_list() == [
        "sao"
    ]
    with pytest.raises(KeyError, match="no scenario named 'nope'"):
        cmp.log.scan("nope")


def test_a_log_cannot_hold_one_scenario_twice():
    log = DecisionLog.of_scenarios({"a": pl.DataFrame({"x": [1]})})
    with pytest.raises(ValueError, match="already has a scenario named 'a'"):
        log.add("a", pl.DataFrame({"x": [2]}))


def test_an_unknown_id_in_a_scanned_log_is_named_with_its_row(estate, tmp_path):
    cmp = simulate(estate, [Scenario("sao", "sao")], engine="fast")
    log = cmp.decisions.with_columns(pl.col("unique_id").cast(pl.String))
    bad = log.with_columns(
        pl.when(pl.int_range(pl.len()) == 41)
        .then(pl.lit("model.nowhere"))
        .otherwise(pl.col("unique_id"))
        .alias("unique_id")
    )
    path = tmp_path / "bad.parquet"
    bad.write_parquet(path)
    with pytest.raises(SchemaError, match=r'row 42, field "decisions.unique_id".*model.nowhere'):
        staleness(pl.scan_parquet(path), project=estate.project, arrivals=estate.source_arrivals)
    empty = log.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("run_at")).alias("run_at")
    )
    empty.write_parquet(path)
    with pytest.raises(SchemaError, match=r'row 8, field "decisions.run_at": is empty'):
        staleness(pl.scan_parquet(path), project=estate.project, arrivals=estate.source_arrivals)


def test_the_spill_threshold_is_a_few_million_rows():
    # big enough that the bundled example's scenarios stay frames, small enough that a year of
    # a 10,000-model estate never is one
    assert 1_000_000 <= decision_log.SPILL_ROWS <= 10_000_000
