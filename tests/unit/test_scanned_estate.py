"""An estate folder's node runs stay in their Parquet file: read by column, checked by batch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

import saosim
from saosim.errors import ArtifactError, SchemaError
from saosim.inputs import estate as estate_module
from saosim.inputs.estate import Estate, ScannedEstate, load_estate
from saosim.inputs.history_rows import history_rows
from saosim.synth.estate import synthetic_estate


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Estate, Path]:
    estate = synthetic_estate(n_models=80, days=4, seed=7)
    return estate, estate.save(tmp_path_factory.mktemp("scanned") / "estate")


def _rewrite_node_runs(folder: Path, frame: pl.DataFrame, tmp_path: Path) -> Path:
    """A copy of the estate folder with another node_runs table."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    frame.write_parquet(copy / "node_runs.parquet")
    return copy


def test_a_saved_estate_loads_scanned_with_the_same_tables(saved) -> None:
    estate, folder = saved
    back = load_estate(folder)
    assert isinstance(back, ScannedEstate)
    assert back.node_runs_count == estate.node_runs.height
    assert (
        back.node_runs_column("unique_id")
        .cast(pl.String)
        .equals(estate.node_runs.get_column("unique_id").cast(pl.String))
    )
    assert back._frame is None  # counted and read by column only
    assert "node_runs.parquet" in repr(back)  # never the table itself
    assert back.node_runs.equals(estate.node_runs)  # read whole on first use, kept
    assert back._frame is not None


def test_the_compiled_replay_never_reads_the_history_whole(saved) -> None:
    estate, folder = saved
    scanned = load_estate(folder)
    scenarios = [saosim.Scenario("sao", "sao")]
    got = saosim.simulate(scanned, scenarios, engine="fast").summary()
    assert scanned._frame is None
    want = saosim.simulate(estate, scenarios, engine="fast").summary()
    assert got.drop("illustrative").equals(want.drop("illustrative"))


def test_a_replaced_table_is_held_in_memory(saved) -> None:
    estate, folder = saved
    scanned = load_estate(folder)
    fewer = estate.node_runs.head(10)
    replaced = dataclasses.replace(scanned, node_runs=fewer)
    assert replaced.node_runs_count == 10
    assert replaced.history_identity[2] is not scanned.history_identity[2]
    assert replaced.scan_node_runs().collect().equals(fewer)


def test_a_file_of_another_shape_is_read_whole(saved, tmp_path: Path) -> None:
    estate, folder = saved
    # an older estate's file: ids as text, no cost column
    older = estate.node_runs.drop("cost").with_columns(
        pl.col("run_id", "unique_id", "status").cast(pl.String)
    )
    back = load_estate(_rewrite_node_runs(folder, older, tmp_path))
    assert not isinstance(back, ScannedEstate)
    assert back.node_runs.get_column("cost").null_count() == back.node_runs.height


def test_a_pair_repeated_across_batches_names_the_file_and_rows(saved, tmp_path, monkeypatch):
    estate, folder = saved
    monkeypatch.setattr(estate_module, "_CHECK_ROWS", 64)
    frame = estate.node_runs
    repeated = pl.concat([frame, frame.head(1)])  # the last row repeats the first
    copy = _rewrite_node_runs(folder, repeated, tmp_path)
    with pytest.raises(SchemaError, match="duplicate key") as err:
        load_estate(copy)
    assert err.value.path == str(copy / "node_runs.parquet")
    assert err.value.field == "run_id/unique_id"
    assert err.value.row == 1
    assert f"{repeated.height}" in str(err.value)


@pytest.mark.parametrize("case", ["null status", "unknown status", "unknown node", "unknown run"])
def test_bad_rows_in_a_later_batch_name_their_row(saved, tmp_path, monkeypatch, case) -> None:
    estate, folder = saved
    monkeypatch.setattr(estate_module, "_CHECK_ROWS", 64)
    frame = estate.node_runs.with_columns(pl.col("run_id", "unique_id", "status").cast(pl.String))
    row = frame.height - 3  # 0-based, past the first batches
    column, value = {
        "null status": ("status", None),
        "unknown status": ("status", "exploded"),
        "unknown node": ("unique_id", "model.nowhere.zzz"),
        "unknown run": ("run_id", "run-that-never-was"),
    }[case]
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    bad = bad.with_columns(pl.col("run_id", "unique_id", "status").cast(pl.Categorical))
    with pytest.raises(SchemaError) as err:
        load_estate(_rewrite_node_runs(folder, bad, tmp_path))
    assert err.value.field.endswith(column)
    if case in ("null status", "unknown status"):
        assert err.value.path == str(tmp_path / "copy" / "node_runs.parquet")
        assert str(row + 1) in str(err.value)
    else:
        assert value in str(err.value)


def test_saving_a_scanned_estate_streams_its_node_runs(saved, tmp_path: Path) -> None:
    estate, folder = saved
    scanned = load_estate(folder)
    elsewhere = load_estate(scanned.save(tmp_path / "elsewhere"))
    assert scanned._frame is None  # streamed file to file, never read whole
    assert elsewhere.node_runs.equals(estate.node_runs)
    # saved over the folder it was loaded from: the file is already the table
    copy = _rewrite_node_runs(folder, estate.node_runs, tmp_path)
    again = load_estate(copy)
    again.save(copy)
    assert load_estate(copy).node_runs.equals(estate.node_runs)


def test_a_file_removed_after_loading_is_named(saved, tmp_path: Path) -> None:
    estate, folder = saved
    copy = _rewrite_node_runs(folder, estate.node_runs, tmp_path)
    scanned = load_estate(copy)
    (copy / "node_runs.parquet").unlink()
    with pytest.raises(ArtifactError, match="changed or removed after load_estate") as err:
        scanned.node_runs_column("status")
    assert err.value.path == str(copy / "node_runs.parquet")


def test_the_history_as_numbers_names_the_same_nodes_and_runs(saved) -> None:
    """history_rows of a scanned estate: each node run's node position and run row, checked
    against the string ids themselves."""
    estate, folder = saved
    scanned = load_estate(folder)
    rows = history_rows(scanned)
    ids = estate.node_runs.get_column("unique_id").cast(pl.String).to_list()
    runs = estate.node_runs.get_column("run_id").cast(pl.String).to_list()
    run_row = {r: i for i, r in enumerate(estate.runs.get_column("run_id").cast(pl.String))}
    assert rows.node.tolist() == [estate.project.position[u] for u in ids]
    assert rows.run_row.tolist() == [run_row[r] for r in runs]
    assert history_rows(scanned) is rows  # made once
    assert not rows.node.flags.writeable
