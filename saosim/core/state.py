"""What the planner remembers between runs: one :class:`NodeState` per built node (or run test).

A node absent from a :class:`State` has never built (or its state was cleared). State moves
forward by :meth:`saosim.core.planner.Plan.apply`, which returns a new state; nothing here mutates.

A state is a table too, for Parquet or a DuckDB state store: one row per node, with
``seen_versions`` as a list of ``{parent_id, version}`` structs.

>>> from datetime import datetime, timezone
>>> t = datetime(2025, 1, 1, 1, tzinfo=timezone.utc)
>>> s = State({"model.p.m": NodeState(t, "abc", {"source.p.raw.a": t}, t)})
>>> State.from_frame(s.to_frame()) == s
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

import polars as pl

from saosim.errors import SchemaError

__all__ = ["STATE_SCHEMA", "NodeState", "State"]

_TS = pl.Datetime("us", "UTC")
#: Columns of :meth:`State.to_frame` (Parquet- and DuckDB-friendly).
STATE_SCHEMA: dict[str, pl.DataType] = {
    "unique_id": pl.String(),
    "built_at": _TS,
    "fingerprint": pl.String(),
    "seen_versions": pl.List(pl.Struct({"parent_id": pl.String(), "version": _TS})),
    "data_version": _TS,
    "table_exists": pl.Boolean(),
    "tests_failed": pl.Boolean(),
}


@dataclass(frozen=True, slots=True)
class NodeState:
    """One node as of its last successful build (for a data test: its last run).

    Args:
        built_at: end of the last successful build.
        fingerprint: code identity at that build.
        seen_versions: parent id → that parent's data version at that build.
        data_version: what children compare against (``built_at``; ``dbt_state`` views: the
            latest of ``built_at`` and their parents' data versions).
        table_exists: False once the relation is known to be missing from the warehouse.
        tests_failed: an error-severity data test on this node failed after its last build.
    """

    built_at: datetime
    fingerprint: str | None
    seen_versions: Mapping[str, datetime]
    data_version: datetime
    table_exists: bool = True
    tests_failed: bool = False

    @classmethod
    def built(
        cls,
        at: datetime,
        fingerprint: str | None = None,
        seen: Mapping[str, datetime] | None = None,
    ) -> NodeState:
        """A node built successfully at ``at`` (its data version is ``at``).

        >>> from datetime import datetime, timezone
        >>> NodeState.built(datetime(2025, 1, 1, tzinfo=timezone.utc)).table_exists
        True
        """
        return cls(at, fingerprint, dict(seen or {}), at)


@dataclass(frozen=True)
class State:
    """Every node's :class:`NodeState`; a node absent from it has never built.

    >>> State.empty().get("model.p.m") is None
    True
    """

    nodes: Mapping[str, NodeState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, MappingProxyType):
            object.__setattr__(self, "nodes", MappingProxyType(dict(self.nodes)))

    @classmethod
    def empty(cls) -> State:
        return cls({})

    def get(self, unique_id: str) -> NodeState | None:
        return self.nodes.get(unique_id)

    def __contains__(self, unique_id: object) -> bool:
        return unique_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and dict(self.nodes) == dict(other.nodes)

    __hash__ = None  # type: ignore[assignment]

    def with_nodes(self, nodes: Mapping[str, NodeState]) -> State:
        """A copy with some entries added or replaced."""
        merged = dict(self.nodes)
        merged.update(nodes)
        return State(merged)

    def without(self, *unique_ids: str) -> State:
        """A copy with some entries cleared (those nodes count as never built)."""
        return State({k: v for k, v in self.nodes.items() if k not in set(unique_ids)})

    def with_table_dropped(self, unique_id: str) -> State:
        """A copy where ``unique_id``'s relation is missing from the warehouse.

        >>> from datetime import datetime, timezone
        >>> s = State({"m": NodeState.built(datetime(2025, 1, 1, tzinfo=timezone.utc))})
        >>> s.with_table_dropped("m").get("m").table_exists
        False
        """
        current = self.nodes.get(unique_id)
        if current is None:
            return self
        return self.with_nodes({unique_id: replace(current, table_exists=False)})

    # -- serialisation ----------------------------------------------------------------------
    def to_frame(self) -> pl.DataFrame:
        """One row per node (sorted by id), columns :data:`STATE_SCHEMA`."""
        ids = sorted(self.nodes)
        rows = [self.nodes[i] for i in ids]
        return pl.DataFrame(
            {
                "unique_id": ids,
                "built_at": [r.built_at for r in rows],
                "fingerprint": [r.fingerprint for r in rows],
                "seen_versions": [
                    [{"parent_id": p, "version": v} for p, v in sorted(r.seen_versions.items())]
                    for r in rows
                ],
                "data_version": [r.data_version for r in rows],
                "table_exists": [r.table_exists for r in rows],
                "tests_failed": [r.tests_failed for r in rows],
            },
            schema=STATE_SCHEMA,
        )

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, path: str | None = None) -> State:
        """Read a state table written by :meth:`to_frame` (or a DuckDB query of one).

        Timestamps must carry a time zone; they are converted to UTC.
        """
        missing = [c for c in ("unique_id", "built_at", "data_version") if c not in frame.columns]
        if missing:
            raise SchemaError(f"missing column(s) {', '.join(missing)}", path=path)
        for col in ("built_at", "data_version"):
            dtype = frame.schema[col]
            if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
                raise SchemaError(
                    f"must be a timestamp with a time zone, found {dtype}", path=path, field=col
                )
        frame = frame.with_columns(
            pl.col("built_at").dt.convert_time_zone("UTC"),
            pl.col("data_version").dt.convert_time_zone("UTC"),
        )
        nodes: dict[str, NodeState] = {}
        for i, row in enumerate(frame.iter_rows(named=True)):
            uid = row["unique_id"]
            if uid is None or row["built_at"] is None or row["data_version"] is None:
                raise SchemaError(
                    "unique_id, built_at and data_version are required", path=path, row=i
                )
            seen: dict[str, datetime] = {}
            for item in row.get("seen_versions") or ():
                version = item["version"]
                if version.tzinfo is None:
                    raise SchemaError(
                        "seen version has no time zone", path=path, row=i, field="seen_versions"
                    )
                seen[item["parent_id"]] = version.astimezone(UTC)
            table_exists = row.get("table_exists")
            nodes[uid] = NodeState(
                built_at=row["built_at"],
                fingerprint=row.get("fingerprint"),
                seen_versions=seen,
                data_version=row["data_version"],
                table_exists=True if table_exists is None else bool(table_exists),
                tests_failed=bool(row.get("tests_failed") or False),
            )
        return cls(nodes)
