"""The metrics' one pass over the log: batch size never changes a number, ids are interned
across batches, and bad rows are named wherever they fall."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from saosim.errors import SchemaError
from saosim.metrics import log as metrics_log
from saosim.metrics.log_pass import IdColumn
from saosim.metrics.tables import summarize
from tests.unit.test_metrics import ALL, ARRIVALS, COST, FCT, LOG, PROJECT, STG, frame, rows

#: three days, two scenarios, reuses and skips: every aggregate has rows
DAYS = frame(
    *[rows("baseline", h, ALL, day=d) for d in range(3) for h in (1, 13)],
    *[rows("sao", 1, ALL, day=d) for d in range(3)],
    *[rows("sao", 13, {STG: "reuse", FCT: "skip"}, day=d) for d in range(3)],
)


def _tables(log: pl.DataFrame | pl.LazyFrame) -> dict[str, pl.DataFrame]:
    prep = metrics_log.prepare(log, PROJECT, COST, None, "baseline")
    keys = {
        "by_node": ["scenario", "node", "action"],
        "by_run": ["scenario", "run_id"],
        "reused_tables": ["scenario"],
        "by_day": ["scenario", "day"],
    }
    return {name: getattr(prep, name).sort(key) for name, key in keys.items()}


def test_batches_of_any_size_give_the_same_tables(monkeypatch):
    whole = _tables(DAYS)
    for size in (1, 3, 7):
        monkeypatch.setattr(metrics_log, "_BATCH_ROWS", size)
        for name, table in _tables(DAYS.lazy()).items():
            assert_frame_equal(table, whole[name])
    by_day = whole["by_day"].filter(pl.col("scenario") == "sao")
    # sao selects stg, fct, v each day; the 13:00 run reuses stg and skips fct, both built 01:00
    assert by_day.get_column("models_selected").to_list() == [3, 3, 3]
    assert by_day.get_column("models_not_rebuilt").to_list() == [0, 0, 0]
    reused = dict(whole["reused_tables"].iter_rows())
    assert reused == {"sao": 3}  # stg reused on each of three days; baseline never reuses


def test_string_categorical_and_null_ids_intern_alike():
    ids = IdColumn()
    new, dense = ids.intern(pl.Series(["b", None, "a"]))
    assert new == ["b", None, "a"] and dense.tolist() == [0, 1, 2]
    new, dense = ids.intern(pl.Series(["c", "a", None, "b"], dtype=pl.Categorical))
    assert new == ["c"] and dense.tolist() == [3, 2, 1, 0]
    assert ids.values == ["b", None, "a", "c"]


def test_a_bad_row_in_a_later_batch_is_named(monkeypatch):
    monkeypatch.setattr(metrics_log, "_BATCH_ROWS", 2)
    bad_id = LOG.with_columns(
        pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("model.p.zzz")).otherwise("unique_id")
        .alias("unique_id")
    )  # fmt: skip
    with pytest.raises(SchemaError, match="zzz") as err:
        summarize(bad_id, project=PROJECT, arrivals=ARRIVALS, cost_model=COST)
    assert err.value.row == 10
    no_time = LOG.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("run_at").alias("run_at")
    )
    with pytest.raises(SchemaError, match="empty") as err:
        summarize(no_time, project=PROJECT, arrivals=ARRIVALS, cost_model=COST)
    assert (err.value.field, err.value.row) == ("decisions.run_at", 6)
    # NaN is no price: a billed row with NaN cost and no runtime is an error, not a NaN total
    unpriced = LOG.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(float("nan")).otherwise("cost_usd")
        .alias("cost_usd"),
        pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise("runtime_s")
        .alias("runtime_s"),
    )  # fmt: skip
    with pytest.raises(SchemaError, match="neither cost_usd") as err:
        summarize(unpriced, project=PROJECT, arrivals=ARRIVALS, cost_model=COST)
    assert err.value.row == 5
