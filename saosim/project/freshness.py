"""Freshness configuration: dbt's ``build_after`` and dbt State's ``lag_tolerance``, per node.

The planner reads one :class:`NodeFreshness` per node from a :class:`FreshnessConfig`. A config
comes from the project's own settings (:meth:`FreshnessConfig.from_project`, what dbt resolved
into the manifest, or :func:`saosim.project.freshness_yaml.read_project_freshness`, from the
project's
files) or from saosim *tiers* for what-ifs (:mod:`saosim.project.tiers`). The ``parse_*`` functions
below validate the dbt forms for both readers.

>>> ba = BuildAfter(6, "hour")
>>> ba.window_s
21600
>>> BuildAfter(0, "hour")
Traceback (most recent call last):
...
saosim.errors.ConfigError: field "build_after.count": 0 must be a positive whole number
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from saosim.errors import ConfigError
from saosim.project.graph import Project

__all__ = [
    "PERIOD_SECONDS",
    "BuildAfter",
    "FreshnessConfig",
    "NodeFreshness",
    "Where",
    "parse_build_after",
    "parse_duration_s",
    "parse_freshness",
    "parse_state",
]

#: Seconds per ``build_after`` period (dbt accepts exactly these three).
PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
#: The longest ``build_after`` window saosim accepts: a year (a longer one never rebuilds in any
#: history saosim replays, and its arithmetic would overflow the compiled replay).
MAX_WINDOW_S = 366 * 86400
#: The longest duration (``lag_tolerance``, ``sla``) saosim accepts: ten years.
MAX_DURATION_S = 10 * 366 * 86400
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
        if not isinstance(self.period, str) or self.period not in PERIOD_SECONDS:
            raise ConfigError(
                f"{self.period!r} is not a period; use minute, hour or day",
                field="build_after.period",
            )
        if not isinstance(self.updates_on, str) or self.updates_on not in UPDATES_ON:
            raise ConfigError(
                f"{self.updates_on!r} is not allowed; use any or all",
                field="build_after.updates_on",
            )
        if self.count * PERIOD_SECONDS[self.period] > MAX_WINDOW_S:
            raise ConfigError(
                f"{self.count} {self.period}s is more than a year; saosim replays build_after "
                "windows of at most 366 days",
                field="build_after.count",
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
                        node.build_after_period,  # type: ignore[arg-type]
                        node.updates_on or "any",
                    )
                except ConfigError as exc:
                    raise ConfigError(exc.message, field=exc.field, node_id=uid) from None
            if build_after or node.lag_tolerance_s is not None or node.require_fresh_data_from:
                per_node[uid] = NodeFreshness(
                    build_after, node.lag_tolerance_s, node.require_fresh_data_from
                )
        return cls(per_node)


# -- parsing the dbt forms -------------------------------------------------------------------
# The readers (saosim.project.freshness_yaml, saosim.project.tiers) turn YAML / config() values
# into the types
# above through these functions, so every form is validated the same way and every error names
# where the value came from.

#: Seconds per unit of a dbt State duration (``lag_tolerance``): the units its docs list.
DURATION_UNITS = {
    "s": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")
_BUILD_AFTER_KEYS = frozenset({"count", "period", "updates_on"})
_FRESHNESS_KEYS = frozenset({"build_after"})
#: dbt State's ``state:`` block; saosim uses the first two, the others are accepted and ignored.
STATE_KEYS = frozenset(
    {
        "lag_tolerance",
        "require_fresh_data_from",
        "compare_unrendered_code",
        "evaluate_volatile_sql",
        "pre_clone",
        "execute_hooks_on_any_reuse",
    }
)


@dataclass(frozen=True, slots=True)
class Where:
    """Where a config value was found, carried into every :class:`ConfigError`."""

    path: str | None = None
    node_id: str | None = None
    field: str = "freshness"

    def at(self, key: str) -> Where:
        return Where(self.path, self.node_id, f"{self.field}.{key}")

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, node_id=self.node_id, field=self.field)


def parse_duration_s(value: object, where: Where | None = None) -> float:
    """Seconds in a dbt State duration: seconds, ``'45m'``, ``'2w'`` or ``{count, period}``.

    >>> parse_duration_s("45m"), parse_duration_s(90), parse_duration_s({"count": 2, "period": "d"})
    (2700.0, 90.0, 172800.0)
    >>> parse_duration_s("3 fortnights")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: field "lag_tolerance": '3 fortnights' is not a duration; ...
    """
    where = where or Where(field="lag_tolerance")
    if isinstance(value, bool):
        raise where.error(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise where.error(f"{value!r} is not a duration; give a finite number of seconds")
        if value < 0:
            raise where.error(f"{value!r} is negative; a duration is zero or more seconds")
        return _bounded(float(value), value, where)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"count", "period"})
        if unknown:
            raise where.error(
                f"unknown key {unknown[0]!r} in {dict(value)!r}; use count and period"
            )
        count, period = value.get("count"), value.get("period")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise where.at("count").error(f"{count!r} must be a whole number of periods")
        if not isinstance(period, str) or period not in DURATION_UNITS:
            raise where.at("period").error(
                f"{period!r} is not a period; use second, minute, hour, day or week"
            )
        return _bounded(float(count * DURATION_UNITS[str(period)]), value, where)
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            raise where.error(
                f"{value!r} is a Jinja expression saosim does not evaluate; "
                "write the value for the target you simulate (e.g. '4h')"
            )
        match = _DURATION_RE.match(value)
        if match and match.group(2).lower() in DURATION_UNITS:
            seconds = float(match.group(1)) * DURATION_UNITS[match.group(2).lower()]
            return _bounded(seconds, value, where)
        if value.strip().isdigit():
            return _bounded(float(value), value, where)
    raise where.error(
        f"{value!r} is not a duration; use seconds or a number with s, m, h, d or w "
        "(e.g. '45m', '6h', '1d')"
    )


def _bounded(seconds: float, value: object, where: Where) -> float:
    if seconds > MAX_DURATION_S:
        raise where.error(f"{value!r} is more than ten years; saosim accepts durations up to that")
    return seconds


def parse_build_after(value: object, where: Where | None = None) -> BuildAfter:
    """A :class:`BuildAfter` from ``{count, period, updates_on}``.

    >>> parse_build_after({"count": 4, "period": "hour", "updates_on": "all"}).window_s
    14400
    >>> bad = {"count": 1, "period": "weeks"}
    >>> parse_build_after(bad, Where("dbt_project.yml", field="build_after"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: dbt_project.yml, field "build_after.period": 'weeks' is not ...
    """
    where = where or Where(field="build_after")
    if not isinstance(value, Mapping):
        raise where.error(f"{value!r} must be a mapping with count, period and updates_on")
    unknown = sorted(set(value) - _BUILD_AFTER_KEYS)
    if unknown:
        raise where.error(
            f"unknown key {unknown[0]!r} (value {value[unknown[0]]!r}); "
            "build_after takes count, period and updates_on"
        )
    if "count" not in value or "period" not in value:
        raise where.error(f"{dict(value)!r} needs both count and period")
    count = value["count"]
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    try:
        return BuildAfter(count, value["period"], value.get("updates_on") or "any")
    except ConfigError as exc:
        sub = (exc.field or "").removeprefix("build_after.")
        raise where.at(sub).error(exc.message) from None


def parse_freshness(value: object, where: Where | None = None) -> BuildAfter | None:
    """The ``build_after`` of a ``freshness:`` value; ``None`` (``freshness: null``): no config.

    >>> parse_freshness({"build_after": {"count": 1, "period": "day"}})
    BuildAfter(count=1, period='day', updates_on='any')
    >>> parse_freshness(None) is None
    True
    """
    where = where or Where()
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise where.error(f"{value!r} must be a mapping with build_after, or null")
    unknown = sorted(set(value) - _FRESHNESS_KEYS)
    if unknown:
        raise where.error(
            f"unknown key {unknown[0]!r} (value {value[unknown[0]]!r}); "
            "a model's freshness takes build_after"
        )
    if value.get("build_after") is None:
        return None
    return parse_build_after(value["build_after"], where.at("build_after"))


def parse_state(value: object, where: Where | None = None) -> dict[str, object]:
    """dbt State's ``state:`` block as ``{lag_tolerance_s, require_fresh_data_from}`` (set keys).

    >>> parse_state({"lag_tolerance": "6h", "require_fresh_data_from": "all"})
    {'lag_tolerance_s': 21600.0, 'require_fresh_data_from': 'all'}
    """
    where = where or Where(field="state")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise where.error(
            f"{value!r} must be a mapping with lag_tolerance / require_fresh_data_from"
        )
    unknown = sorted(set(value) - STATE_KEYS)
    if unknown:
        raise where.error(
            f"unknown key {unknown[0]!r} (value {value[unknown[0]]!r}); state takes "
            + ", ".join(sorted(STATE_KEYS))
        )
    out: dict[str, object] = {}
    if value.get("lag_tolerance") is not None:
        out["lag_tolerance_s"] = parse_duration_s(value["lag_tolerance"], where.at("lag_tolerance"))
    rfd = value.get("require_fresh_data_from")
    if rfd is not None:
        if not isinstance(rfd, str) or rfd not in UPDATES_ON:
            raise where.at("require_fresh_data_from").error(
                f"{rfd!r} is not allowed; use any or all"
            )
        out["require_fresh_data_from"] = rfd
    return out
