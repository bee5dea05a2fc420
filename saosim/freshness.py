"""Freshness configuration: dbt's ``build_after`` and dbt State's ``lag_tolerance``, per node.

The planner reads one :class:`NodeFreshness` per node from a :class:`FreshnessConfig`. A config
comes from the project's own settings (:meth:`FreshnessConfig.from_project`, what dbt resolved
into the manifest) or from saosim *tiers* for what-ifs.

>>> ba = BuildAfter(6, "hour")
>>> ba.window_s
21600
>>> BuildAfter(0, "hour")
Traceback (most recent call last):
...
saosim.errors.ConfigError: field "build_after.count": 0 must be a positive whole number
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from saosim.errors import ConfigError
from saosim.graph import Project

__all__ = [
    "PERIOD_SECONDS",
    "BuildAfter",
    "FreshnessConfig",
    "NodeFreshness",
]

#: Seconds per ``build_after`` period (dbt accepts exactly these three).
PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
UPDATES_ON = ("any", "all")


@dataclass(frozen=True, slots=True)
class BuildAfter:
    """dbt's ``freshness.build_after``: rebuild at most once per ``count × period``."""

    count: int
    period: str
    updates_on: str = "any"

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count <= 0:
            raise ConfigError(
                f"{self.count!r} must be a positive whole number", field="build_after.count"
            )
        if self.period not in PERIOD_SECONDS:
            raise ConfigError(
                f"{self.period!r} is not a period; use minute, hour or day",
                field="build_after.period",
            )
        if self.updates_on not in UPDATES_ON:
            raise ConfigError(
                f"{self.updates_on!r} is not allowed; use any or all",
                field="build_after.updates_on",
            )

    @property
    def window_s(self) -> int:
        """The window ``W = count × period`` in seconds."""
        return self.count * PERIOD_SECONDS[self.period]


@dataclass(frozen=True, slots=True)
class NodeFreshness:
    """Everything the planner needs to know about one node's freshness settings.

    ``build_after`` ``None`` means no config: ``W = 0``, ``updates_on: any``.
    ``lag_tolerance_s``/``require_fresh_data_from`` are dbt State's; ``None`` falls back to
    ``build_after`` as SAO-SEMANTICS describes. ``tier`` and ``sla_s`` come from saosim tiers.
    """

    build_after: BuildAfter | None = None
    lag_tolerance_s: float | None = None
    require_fresh_data_from: str | None = None
    tier: str | None = None
    sla_s: float | None = None

    @property
    def window_s(self) -> int:
        return 0 if self.build_after is None else self.build_after.window_s

    @property
    def updates_on(self) -> str:
        return "any" if self.build_after is None else self.build_after.updates_on


NO_CONFIG = NodeFreshness()


@dataclass(frozen=True)
class FreshnessConfig:
    """Resolved freshness per node id, with a default for nodes not listed.

    >>> cfg = FreshnessConfig({"model.p.fct": NodeFreshness(BuildAfter(6, "hour"))})
    >>> cfg.for_node("model.p.fct").window_s, cfg.for_node("model.p.other").window_s
    (21600, 0)
    """

    per_node: Mapping[str, NodeFreshness] = field(default_factory=dict)
    default: NodeFreshness = NO_CONFIG

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_node", MappingProxyType(dict(self.per_node)))

    def for_node(self, unique_id: str) -> NodeFreshness:
        return self.per_node.get(unique_id, self.default)

    @classmethod
    def from_project(cls, project: Project) -> FreshnessConfig:
        """The settings dbt resolved into the project's nodes (manifest ``config.freshness``)."""
        per_node = {}
        for uid, node in project.nodes.items():
            if not node.is_buildable:
                continue
            build_after = None
            if node.build_after_count is not None:
                try:
                    build_after = BuildAfter(
                        int(node.build_after_count),
                        node.build_after_period or "hour",
                        node.updates_on or "any",
                    )
                except ConfigError as exc:
                    raise ConfigError(exc.message, field=exc.field, node_id=uid) from None
            if build_after or node.lag_tolerance_s is not None or node.require_fresh_data_from:
                per_node[uid] = NodeFreshness(
                    build_after, node.lag_tolerance_s, node.require_fresh_data_from
                )
        return cls(per_node)
