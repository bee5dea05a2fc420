"""Decision-log columns as codes without a Python string per row: node ids and scenarios.

>>> import polars as pl
>>> node_codes(pl.Series(["b", "a"]), ("a", "b"), field="x").tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from saosim.errors import SchemaError
from saosim.metrics.log_pass import IdColumn

#: log rows read at a time
_BATCH_ROWS = 1 << 20

__all__ = ["check_log_ids", "check_node_ids", "log_schema", "node_codes", "scenario_column"]


def check_node_ids(ids: pl.Series, node_ids: tuple[str, ...], *, field: str) -> None:
    """Raise :class:`SchemaError` with the row of the first empty or unknown id; reads the
    distinct ids only, so a long log costs no array per row when it is clean.

    >>> check_node_ids(pl.Series(["a", "c"]), ("a", "b"), field="x")
    Traceback (most recent call last):
    saosim.errors.SchemaError: row 2, field "x": 'c' is not a node of the project (1 unknown ids)
    """
    if ids.null_count():
        raise SchemaError("is empty", field=field, row=int(ids.is_null().arg_true()[0]) + 1)
    known = set(node_ids)
    unknown = [u for u in ids.unique().cast(pl.String).to_list() if u not in known]
    if unknown:
        row = int((ids.cast(pl.String) == unknown[0]).arg_true()[0]) + 1
        raise _unknown(unknown, field, row)


def _unknown(unknown: list[str], field: str, row: int) -> SchemaError:
    return SchemaError(
        f"{unknown[0]!r} is not a node of the project ({len(unknown)} unknown ids)",
        field=field,
        row=row,
    )


def node_codes(ids: pl.Series, node_ids: tuple[str, ...], *, field: str) -> np.ndarray:
    """Positions of ``ids`` in ``node_ids`` without a string per row (Enum/Categorical input
    is mapped through its categories); an unknown id is a :class:`SchemaError` with its row.

    >>> node_codes(pl.Series(["b", "a", "b"]), ("a", "b"), field="x").tolist()
    [1, 0, 1]
    """
    lookup = {u: i for i, u in enumerate(node_ids)}
    if ids.null_count():
        raise SchemaError("is empty", field=field, row=int(ids.is_null().arg_true()[0]) + 1)
    dtype = ids.dtype
    if isinstance(dtype, pl.Enum | pl.Categorical):
        codes = ids.to_physical().to_numpy()
        if isinstance(dtype, pl.Enum):
            names = dtype.categories.to_list()
            used = np.arange(len(names))
        else:  # categorical codes are not dense: map the codes that occur
            uniq = ids.unique().drop_nulls()
            names = uniq.cast(pl.String).to_list()
            used = uniq.to_physical().to_numpy()
        table = np.full(int(used.max(initial=0)) + 1, -1, dtype=np.int64)
        table[used] = [lookup.get(c, -1) for c in names]
        out = table[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    else:
        text = ids.cast(pl.String)
        uniq = text.unique().drop_nulls().to_list()
        unknown = [u for u in uniq if u not in lookup]
        if unknown:
            bad = unknown[0]
            row = int((text == bad).arg_true()[0]) + 1
            raise SchemaError(
                f"{bad!r} is not a node of the project ({len(unknown)} unknown ids)",
                field=field,
                row=row,
            )
        enum = pl.Enum(list(node_ids))
        return text.cast(enum).to_physical().to_numpy().astype(np.int64)
    if (out < 0).any():
        row = int(np.flatnonzero(out < 0)[0])
        raise SchemaError(f"{ids[row]!r} is not a node of the project", field=field, row=row + 1)
    return out


def log_schema(decisions: pl.DataFrame | pl.LazyFrame | pl.Schema) -> pl.Schema:
    """The columns and types of a decision log held in memory, scanned from files or given.

    >>> log_schema(pl.LazyFrame({"a": [1]})).names()
    ['a']
    """
    if isinstance(decisions, pl.Schema):
        return decisions
    if isinstance(decisions, pl.LazyFrame):
        return decisions.collect_schema()
    return decisions.schema


def scenario_column(decisions: pl.DataFrame | pl.LazyFrame | pl.Schema) -> pl.Expr:
    """The ``scenario`` column (``""`` when the log has none), left as Enum/Categorical if so."""
    schema = log_schema(decisions)
    if "scenario" not in schema:
        return pl.lit("").alias("scenario")
    if schema["scenario"] == pl.String:
        return pl.col("scenario").fill_null("")
    return pl.col("scenario")


def check_log_ids(log: pl.LazyFrame, node_ids: tuple[str, ...], *, field: str) -> None:
    """:func:`check_node_ids` of a log's ``unique_id`` without reading the log into memory:
    the distinct ids are found a batch at a time (their dictionary codes interned, see
    :class:`~saosim.metrics.log_pass.IdColumn`), a row looked for only when one is bad.

    >>> check_log_ids(pl.LazyFrame({"unique_id": ["a", "z"]}), ("a",), field="x")
    Traceback (most recent call last):
    saosim.errors.SchemaError: row 2, field "x": 'z' is not a node of the project (1 unknown ids)
    """
    ids = pl.col("unique_id")
    # a batch at a time: polars' unique() over a year's what-if (247 M rows) held 2 GB
    seen = IdColumn()
    for batch in log.select(ids).collect_batches(chunk_size=_BATCH_ROWS, maintain_order=False):
        seen.intern(batch.to_series())
    known = set(node_ids)
    unknown = [u for u in seen.values if u is not None and u not in known]
    empty = None in seen.values
    if not empty and not unknown:
        return
    bad = ids.is_null() if empty else ids.cast(pl.String) == unknown[0]
    row = log.with_row_index("row").filter(bad).select("row").head(1).collect().item() + 1
    raise SchemaError("is empty", field=field, row=row) if empty else _unknown(unknown, field, row)
