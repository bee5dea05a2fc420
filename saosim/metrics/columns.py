"""Decision-log columns as codes without a Python string per row: node ids and scenarios.

>>> import polars as pl
>>> node_codes(pl.Series(["b", "a"]), ("a", "b"), field="x").tolist()
[1, 0]
"""

from __future__ import annotations

import numpy as np
import polars as pl

from saosim.errors import SchemaError

__all__ = ["check_node_ids", "node_codes", "scenario_column"]


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
        bad = unknown[0]
        row = int((ids.cast(pl.String) == bad).arg_true()[0]) + 1
        raise SchemaError(
            f"{bad!r} is not a node of the project ({len(unknown)} unknown ids)",
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


def scenario_column(decisions: pl.DataFrame) -> pl.Expr:
    """The ``scenario`` column (``""`` when the log has none), left as Enum/Categorical if so."""
    if "scenario" not in decisions.columns:
        return pl.lit("").alias("scenario")
    if decisions.schema["scenario"] == pl.String:
        return pl.col("scenario").fill_null("")
    return pl.col("scenario")
