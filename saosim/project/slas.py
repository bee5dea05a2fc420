"""SLAs of a comparison: how stale each model's data may be, declared once for every scenario.

An SLA is a maximum staleness per model. A comparison has one set of SLAs, and every scenario —
the baseline included — is scored against it, so "the tuned tiers breach more than the baseline"
is a statement about the same targets. SLAs are declared

- as a ``slas:`` mapping of dbt selector → maximum staleness (``--sla FILE``,
  ``simulate(..., slas=...)``); the key ``default`` takes every model no other selector names;
- or by the ``sla:`` keys of the scenarios' tiers (each tier's SLA applies to the models the
  tier selects).

All declarations are gathered; when two of them give one model different SLAs, that is an error
naming both. Models no declaration reaches have no SLA (they are not scored).

>>> from saosim.project.graph import Project
>>> project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
>>> slas = Slas.from_dict({"slas": {"default": "26h", "stg": "2h"}})
>>> targets = resolve_slas(project, slas)
>>> stg, fct = "model.demo.stg", "model.demo.fct"
>>> targets.sla_s[stg], targets.sla_s[fct], targets.group[stg]
(7200.0, 93600.0, 'stg')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from saosim.errors import ConfigError, SelectionError
from saosim.project.freshness import Where, parse_duration_s
from saosim.project.graph import Project

__all__ = ["SlaRule", "SlaTargets", "Slas", "load_slas", "resolve_slas"]

DEFAULT = "default"


def hours_text(seconds: float) -> str:
    """A duration as short exact text: whole days, else hours and minutes, else seconds.

    >>> hours_text(93600), hours_text(7200), hours_text(86400), hours_text(3300), hours_text(20700)
    ('26h', '2h', '1d', '55m', '5h45m')
    """
    if seconds and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds % 60 == 0 and seconds >= 3600:
        hours, minutes = divmod(int(seconds) // 60, 60)
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if seconds and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class SlaRule:
    """One declaration: the models ``selector`` names may be at most ``sla_s`` seconds stale.

    ``group`` is the label the models are reported under (the tier's name, or the selector);
    ``source`` says where the declaration came from, for error messages.
    """

    selector: str
    sla_s: float
    group: str
    source: str

    def describe(self) -> str:
        return f"{hours_text(self.sla_s)} from {self.source}"


@dataclass(frozen=True, slots=True)
class Slas:
    """A ``slas:`` mapping (selector → maximum staleness), in the order written.

    >>> Slas.from_dict({"default": "26h", "tag:hourly": "2h"}).rules[1].sla_s
    7200.0
    >>> Slas.from_dict({"tag:hourly": "soon"}, path="slas.yml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: slas.yml, field "slas.tag:hourly": 'soon' is not a duration; ...
    """

    rules: tuple[SlaRule, ...]
    path: str | None = None

    @classmethod
    def from_dict(cls, data: object, *, path: str | None = None, source: str | None = None) -> Slas:
        """SLAs from ``{"slas": {selector: duration, …}}`` or the inner mapping alone."""
        if isinstance(data, Mapping) and "slas" in data:
            extra = sorted(str(k) for k in set(data) - {"slas"})
            if extra:
                raise ConfigError(f"unknown top-level key {extra[0]!r}; use slas", path=path)
            data = data["slas"]
        if not isinstance(data, Mapping) or not data:
            raise ConfigError(
                f"{data!r} must map dbt selectors to a maximum staleness, "
                "e.g. {default: 26h, 'tag:hourly': 2h}",
                path=path,
                field="slas",
            )
        origin = source or (f"SLA file {path}" if path else "slas")
        rules = []
        for key, value in data.items():
            selector = str(key).strip()
            where = Where(path, field=f"slas.{key}")
            if not selector:
                raise where.error("an empty selector; use a dbt selector or `default`")
            sla_s = parse_duration_s(value, where)
            if sla_s <= 0:
                raise where.error(f"{value!r}: an SLA must be longer than zero")
            rules.append(SlaRule(selector, sla_s, selector, f"{origin} ({selector!r})"))
        return cls(tuple(rules), path)

    @classmethod
    def coerce(cls, value: Slas | Mapping[str, Any] | str | Path | None) -> Slas | None:
        """``Slas`` from what :func:`saosim.simulate` accepts: a mapping, a file or ``Slas``."""
        if value is None or isinstance(value, Slas):
            return value
        if isinstance(value, str | Path):
            return load_slas(value)
        return cls.from_dict(value, source="simulate(slas=…)")


def load_slas(path: str | Path) -> Slas:
    """Read ``slas:`` from a YAML file (``--sla FILE``)."""
    from saosim.project.tiers import load_yaml

    return Slas.from_dict(load_yaml(path, what="SLA"), path=str(path))


@dataclass(frozen=True)
class SlaTargets:
    """The resolved SLAs of one comparison: per model id, seconds, report group and origin.

    ``rules`` lists the distinct declarations that reached some model, for the report.
    """

    sla_s: Mapping[str, float] = field(default_factory=dict)
    group: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[SlaRule, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sla_s", "group", "source"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def __bool__(self) -> bool:
        return bool(self.sla_s)

    def describe(self) -> str:
        """One line: every declaration and how many models it covers.

        >>> from saosim.project.graph import Project
        >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
        >>> resolve_slas(p, Slas.from_dict({"default": "1d"})).describe()
        "default 1d (1 model, from slas ('default'))"
        """
        if not self.sla_s:
            return "no SLAs declared"
        parts = []
        for rule in self.rules:
            n = sum(1 for uid, s in self.source.items() if s == rule.source)
            if n:
                noun = "model" if n == 1 else "models"
                text = f"{rule.group} {hours_text(rule.sla_s)} ({n:,} {noun}, from {rule.source})"
                parts.append(text)
        return "; ".join(parts)


def tier_rules(tiers: Any, scenario: str) -> list[SlaRule]:
    """The SLA declarations in a scenario's tiers (``sla:`` keys)."""
    if tiers is None:
        return []
    out = []
    for tier in tiers.tiers:
        if tier.freshness.sla_s is None:
            continue
        selector = tier.select or DEFAULT
        source = f"scenario {scenario!r}, tier {tier.name!r}"
        out.append(SlaRule(selector, float(tier.freshness.sla_s), tier.name, source))
    return out


def resolve_slas(
    project: Project,
    slas: Slas | None = None,
    scenarios: Iterable[Any] = (),
) -> SlaTargets:
    """Gather every SLA declaration and give each buildable model at most one SLA.

    Args:
        project: the DAG (selectors are resolved against it).
        slas: the comparison's own ``slas:`` (``--sla FILE`` or ``simulate(slas=…)``).
        scenarios: the scenarios; the ``sla:`` keys of their tiers are declarations too.

    Raises:
        ConfigError: two declarations give one model different SLAs (both are named), or a
            selector matches nothing.

    >>> from saosim.project.graph import Project
    >>> from saosim.project.tiers import Tiers
    >>> from saosim.replay.engine import Scenario
    >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    >>> tuned = Scenario("tuned", tiers=Tiers.from_dict({"default": {"sla": "26h"}}))
    >>> resolve_slas(p, Slas.from_dict({"default": "24h"}), [tuned])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: node model.demo.m: its SLA is 1d from slas ('default') but 26h ...
    """
    sources: list[tuple[list[SlaRule], Any]] = []
    if slas is not None:
        sources.append((list(slas.rules), slas.path))
    for scenario in scenarios:
        rules = tier_rules(getattr(scenario, "tiers", None), scenario.name)
        if rules:
            sources.append((rules, getattr(scenario.tiers, "path", None)))
    measured = [
        uid
        for uid in project.buildable
        if project.nodes[uid].resource_type in ("model", "snapshot")
        and not project.nodes[uid].is_ephemeral
    ]
    chosen: dict[str, SlaRule] = {}
    used: list[SlaRule] = []
    for rules, path in sources:
        own: dict[str, SlaRule] = {}
        defaults = [r for r in rules if r.selector == DEFAULT]
        for rule in rules:
            if rule.selector == DEFAULT:
                continue
            for uid in _select(project, rule, path):
                if uid in own and own[uid].sla_s != rule.sla_s:
                    _conflict(uid, own[uid], rule, path)
                own.setdefault(uid, rule)
        for rule in defaults:
            for uid in measured:
                if uid in own and own[uid].selector == DEFAULT and own[uid].sla_s != rule.sla_s:
                    _conflict(uid, own[uid], rule, path)
                own.setdefault(uid, rule)
        for uid in measured:
            rule = own.get(uid)
            if rule is None:
                continue
            earlier = chosen.get(uid)
            if earlier is not None and earlier.sla_s != rule.sla_s:
                _conflict(uid, earlier, rule, path)
            chosen.setdefault(uid, rule)
        used.extend(r for r in rules if r not in used)
    return SlaTargets(
        {u: r.sla_s for u, r in chosen.items()},
        {u: r.group for u, r in chosen.items()},
        {u: r.source for u, r in chosen.items()},
        tuple(used),
    )


def _select(project: Project, rule: SlaRule, path: str | None) -> frozenset[str]:
    try:
        chosen = project.select(rule.selector)
    except SelectionError as exc:
        raise ConfigError(
            f"{rule.source}: selector {rule.selector!r} is not usable: {exc}",
            path=path,
            field=f"slas.{rule.selector}",
        ) from None
    if not chosen:
        raise ConfigError(
            f"{rule.source}: selector {rule.selector!r} matches no model of project "
            f"{project.name!r}",
            path=path,
            field=f"slas.{rule.selector}",
        )
    return chosen


def _conflict(uid: str, first: SlaRule, second: SlaRule, path: str | None) -> None:
    raise ConfigError(
        f"its SLA is {first.describe()} but {second.describe()}; declare one SLA per model "
        "(drop one of them, or make them agree)",
        path=path,
        node_id=uid,
    )
