"""saosim freshness tiers: named what-if settings assigned to nodes by dbt selectors.

A tier has a ``build_after`` (SAO), optionally dbt State's ``lag_tolerance`` and
``require_fresh_data_from``, and an ``sla`` (how stale its data may be before it counts as a
miss). Non-default tiers pick their nodes with a dbt selector (``select``, optional
``exclude``); ``default`` takes every buildable node no other tier picked.

When two tiers select the same node, **the first one listed wins**: list the narrow tiers first.
Only buildable nodes (models, seeds, snapshots) get a tier.

>>> from saosim.project.graph import Project
>>> project = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]})
>>> tiers = Tiers.from_dict({"tiers": {
...     "default": {"build_after": {"count": 1, "period": "day"}, "sla": "26h"},
...     "hourly": {"select": "stg", "build_after": {"count": 1, "period": "hour"}, "sla": "2h"},
... }})
>>> cfg = tiers.resolve(project)
>>> cfg.for_node("model.demo.stg").tier, cfg.for_node("model.demo.fct").sla_s
('hourly', 93600.0)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from saosim.errors import ConfigError, SelectionError, reading, yaml_error
from saosim.project.freshness import (
    NO_CONFIG,
    FreshnessConfig,
    NodeFreshness,
    Where,
    parse_build_after,
    parse_duration_s,
    parse_state,
)
from saosim.project.graph import Project
from saosim.project.suggest import selector_hint

__all__ = [
    "DEFAULT_TIER",
    "MAX_YAML_BYTES",
    "Tier",
    "Tiers",
    "load_tiers",
    "load_yaml",
    "tiers_to_dbt_yaml",
]

#: A settings file (tiers, scenario, rates) larger than this is not one: 10 MB.
MAX_YAML_BYTES = 10 * 2**20

DEFAULT_TIER = "default"
_TIER_KEYS = frozenset(
    {"select", "exclude", "build_after", "lag_tolerance", "require_fresh_data_from", "sla"}
)


@dataclass(frozen=True, slots=True)
class Tier:
    """One named tier: which nodes (a dbt selector) and their :class:`NodeFreshness`."""

    name: str
    freshness: NodeFreshness
    select: str | None = None
    exclude: str | None = None

    @classmethod
    def from_dict(cls, name: str, spec: object, *, path: str | None = None) -> Tier:
        """A tier from its YAML mapping; errors name the tier and the value.

        >>> spec = {"select": "tag:d", "build_after": {"count": 1, "period": "day"}, "sla": "26h"}
        >>> tier = Tier.from_dict("daily", spec)
        >>> tier.freshness.window_s, tier.freshness.sla_s
        (86400, 93600.0)
        """
        where = Where(path, field=f"tiers.{name}")
        if not isinstance(spec, Mapping):
            raise where.error(f"tier {name!r}: {spec!r} must be a mapping")
        unknown = sorted(set(spec) - _TIER_KEYS)
        if unknown:
            raise where.error(
                f"tier {name!r}: unknown key {unknown[0]!r} (value {spec[unknown[0]]!r}); "
                "use " + ", ".join(sorted(_TIER_KEYS))
            )
        select = spec.get("select")
        if name == DEFAULT_TIER and select is not None:
            raise where.at("select").error(
                f"tier {name!r} takes every node no other tier selects; remove select {select!r}"
            )
        if name != DEFAULT_TIER and not (isinstance(select, str) and select.strip()):
            raise where.at("select").error(
                f"tier {name!r} needs a dbt selector (e.g. select: 'tag:{name}'), got {select!r}"
            )
        try:
            build_after = (
                None
                if spec.get("build_after") is None
                else parse_build_after(spec["build_after"], where.at("build_after"))
            )
            state = parse_state(
                {
                    k: spec[k]
                    for k in ("lag_tolerance", "require_fresh_data_from")
                    if spec.get(k) is not None
                },
                where,
            )
            sla_s = (
                None if spec.get("sla") is None else parse_duration_s(spec["sla"], where.at("sla"))
            )
        except ConfigError as exc:
            raise ConfigError(
                f"tier {name!r}: {exc.message}", path=exc.path, field=exc.field
            ) from None
        freshness = NodeFreshness(
            build_after,
            state.get("lag_tolerance_s"),  # type: ignore[arg-type]
            state.get("require_fresh_data_from"),  # type: ignore[arg-type]
            tier=name,
            sla_s=sla_s,
        )
        exclude = spec.get("exclude")
        if exclude is not None and not (isinstance(exclude, str) and exclude.strip()):
            raise where.at("exclude").error(
                f"tier {name!r}: exclude {exclude!r} must be a dbt selector string"
            )
        return cls(name, freshness, select, exclude)


@dataclass(frozen=True, slots=True)
class Tiers:
    """An ordered set of tiers; ``resolve`` assigns one to every buildable node."""

    tiers: tuple[Tier, ...]
    path: str | None = None

    @classmethod
    def from_dict(cls, data: object, *, path: str | None = None) -> Tiers:
        """Tiers from ``{"tiers": {name: spec, …}}`` (or the inner mapping alone)."""
        if isinstance(data, Mapping) and "tiers" in data:
            extra = sorted(set(data) - {"tiers"})
            if extra:
                raise ConfigError(f"unknown top-level key {extra[0]!r}; use tiers", path=path)
            data = data["tiers"]
        if not isinstance(data, Mapping) or not data:
            raise ConfigError(f"{data!r} must map tier names to settings", path=path, field="tiers")
        return cls(tuple(Tier.from_dict(str(n), s, path=path) for n, s in data.items()), path)

    @property
    def default(self) -> Tier | None:
        return next((t for t in self.tiers if t.name == DEFAULT_TIER), None)

    def __getitem__(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        known = ", ".join(t.name for t in self.tiers)
        raise ConfigError(f"unknown tier {name!r}; the tiers are {known}", path=self.path)

    def assign(self, project: Project) -> dict[str, str | None]:
        """Tier name per buildable node id (``None`` when no tier and no default applies)."""
        buildable = set(project.buildable)
        out: dict[str, str | None] = {}
        for tier in self.tiers:
            if tier.name == DEFAULT_TIER:
                continue
            chosen = self._select(project, tier, "select") & buildable
            if tier.exclude:
                chosen -= self._select(project, tier, "exclude")
            if not chosen:
                raise ConfigError(
                    f"tier {tier.name!r}: selector {tier.select!r} matches no model, seed or "
                    f"snapshot of project {project.name!r}; "
                    + selector_hint(project, tier.select or ""),
                    path=self.path,
                    field=f"tiers.{tier.name}.select",
                )
            # First listed tier wins; sorted so the result never depends on set order.
            for uid in sorted(chosen):
                out.setdefault(uid, tier.name)
        default = self.default
        for uid in project.buildable:
            out.setdefault(uid, None if default is None else default.name)
        return {uid: out[uid] for uid in project.buildable}

    def _select(self, project: Project, tier: Tier, key: str) -> frozenset[str]:
        selector = getattr(tier, key)
        try:
            return project.select(selector)
        except SelectionError as exc:
            raise ConfigError(
                f"tier {tier.name!r}: {key} {selector!r} is not usable: {exc}",
                path=self.path,
                field=f"tiers.{tier.name}.{key}",
            ) from None

    def resolve(self, project: Project) -> FreshnessConfig:
        """A :class:`FreshnessConfig` with one entry per buildable node (tier and sla set)."""
        by_name = {t.name: t for t in self.tiers}
        per_node = {
            uid: (NO_CONFIG if name is None else by_name[name].freshness)
            for uid, name in self.assign(project).items()
        }
        default = self.default
        return FreshnessConfig(per_node, NO_CONFIG if default is None else default.freshness)


_MAX_DEPTH = 100
_BRACKET = re.compile(r"[\[\]{}]")


def _flow_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` (PyYAML recurses per level; a settings file has ~5)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > _MAX_DEPTH:
            break
    return deepest


def load_yaml(path: str | Path, *, what: str = "settings") -> object:
    """Parse a YAML settings file; every failure is one :class:`ConfigError` line.

    Syntax errors give ``file:line:column``; a file over :data:`MAX_YAML_BYTES`, one that is
    not UTF-8, or one nested too deep to parse (``[[[[…``) is an error naming the file.

    >>> load_yaml("no/such/tiers.yml")
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: no/such/tiers.yml: cannot be read: no such settings file
    """
    file = Path(path)
    with reading(file):
        if not file.is_file():
            raise ConfigError(f"cannot be read: no such {what} file", path=str(file))
        try:
            if file.stat().st_size > MAX_YAML_BYTES:
                raise ConfigError(
                    f"is larger than {MAX_YAML_BYTES // 2**20} MB; not a {what} file",
                    path=str(file),
                )
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot be read: {exc.strerror or exc}", path=str(file)) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", path=str(file)
            ) from None
        depth = _flow_depth(text)
        if depth > _MAX_DEPTH:
            raise ConfigError(
                f"is nested too deep to be a {what} file ({depth} levels of [ or {{)",
                path=str(file),
            )
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise yaml_error(exc, file) from None
        except RecursionError:
            raise ConfigError(f"is nested too deep to be a {what} file", path=str(file)) from None


def load_tiers(path: str | Path) -> Tiers:
    """Read tiers from a YAML file (see :meth:`Tiers.from_dict` for the form)."""
    return Tiers.from_dict(load_yaml(path, what="tiers"), path=str(path))


# -- export as dbt config -------------------------------------------------------------------

_SECTION = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}
_ROOTS = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}
PROPERTIES_FILE = "models/_saosim_freshness.yml"

# What dbt can express of a NodeFreshness: tier and sla are saosim's own.
_Value = tuple[object, float | None, str | None]


def _value(nf: NodeFreshness) -> _Value:
    return (nf.build_after, nf.lag_tolerance_s, nf.require_fresh_data_from)


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if float(seconds).is_integer() else str(seconds)


def _config(value: _Value, inherited: _Value | None, prefix: str) -> dict[str, object]:
    """The ``freshness``/``state`` keys that turn ``inherited`` into ``value``."""
    out: dict[str, object] = {}
    build_after, lag, rfd = value
    if inherited is None or build_after != inherited[0]:
        out[f"{prefix}freshness"] = (
            None
            if build_after is None
            else {
                "build_after": {
                    "count": build_after.count,  # type: ignore[attr-defined]
                    "period": build_after.period,  # type: ignore[attr-defined]
                    "updates_on": build_after.updates_on,  # type: ignore[attr-defined]
                }
            }
        )
    if inherited is None or (lag, rfd) != inherited[1:]:
        state: dict[str, object] = {}
        if lag is not None:
            state["lag_tolerance"] = _duration_text(lag)
        if rfd is not None:
            state["require_fresh_data_from"] = rfd
        out[f"{prefix}state"] = state or None
    return out


def _most_common(values: list[_Value], inherited: _Value) -> _Value:
    counts = Counter(values)
    best = max(counts.values())
    top = [v for v, c in counts.items() if c == best]
    # Ties keep what is inherited (nothing to write), else the smallest by text: deterministic.
    return inherited if inherited in top else min(top, key=repr)


def tiers_to_dbt_yaml(config: FreshnessConfig, project: Project) -> dict[str, str]:
    """The dbt YAML that gives every buildable node the freshness of ``config``.

    Folders whose nodes share a setting get one ``+freshness`` (and ``+state``) in
    ``dbt_project.yml``; the nodes that differ from their folder get a per-model
    ``config: freshness:`` in a properties file (or, to reset to no config or for another
    package's node, a model key in ``dbt_project.yml``). Tier names and SLAs are saosim's and
    are not written. Folders come from ``Node.path`` (with or without the leading ``models/``).

    Returns:
        ``{"dbt_project.yml": …, "models/_saosim_freshness.yml": …}`` (the second only when some
        node needs it); paste the first into ``dbt_project.yml``.

    >>> from saosim.project.graph import Project
    >>> p = Project.from_spec({"raw.a": [], "stg": ["raw.a"], "fct": ["stg"]}, name="shop")
    >>> tiers = Tiers.from_dict({"default": {"build_after": {"count": 1, "period": "day"}}})
    >>> cfg = tiers.resolve(p)
    >>> print(tiers_to_dbt_yaml(cfg, p)["dbt_project.yml"])
    models:
      shop:
        +freshness:
          build_after:
            count: 1
            period: day
            updates_on: any
    <BLANKLINE>
    """
    project_yaml: dict[str, dict[str, object]] = {}
    properties: dict[str, list[dict[str, object]]] = {}
    for rtype, section in _SECTION.items():
        ids = [u for u in project.buildable if project.nodes[u].resource_type == rtype]
        if not ids:
            continue
        tree: dict[tuple[str, ...], list[str]] = {}
        for uid in ids:
            node = project.nodes[uid]
            folders = PurePosixPath(node.path).parts[:-1] if node.path else ()
            if folders[:1] == (_ROOTS[rtype],):
                folders = folders[1:]
            tree.setdefault((node.package or project.name, *folders), []).append(uid)
        values = {uid: _value(config.for_node(uid)) for uid in ids}
        block: dict[str, object] = {}
        no_config: _Value = (None, None, None)
        for package in sorted({k[0] for k in tree}):
            here = _emit_folder((package,), no_config, tree, values, project, properties, section)
            if here:
                block[package] = here
        if block:
            project_yaml[section] = block
    out = {"dbt_project.yml": yaml.safe_dump(project_yaml, sort_keys=False)}
    if properties:
        out[PROPERTIES_FILE] = yaml.safe_dump({"version": 2, **properties}, sort_keys=False)
    return out


def _emit_folder(
    folder: tuple[str, ...],
    inherited: _Value,
    tree: Mapping[tuple[str, ...], list[str]],
    values: Mapping[str, _Value],
    project: Project,
    properties: dict[str, list[dict[str, object]]],
    section: str,
) -> dict[str, object]:
    """The dbt_project.yml mapping for one folder (and below); per-model rows go to properties."""
    below = [uid for key, uids in tree.items() if key[: len(folder)] == folder for uid in uids]
    chosen = _most_common([values[u] for u in below], inherited)
    here: dict[str, object] = dict(_config(chosen, inherited, "+")) if chosen != inherited else {}
    depth = len(folder)
    subfolders = sorted({k[depth] for k in tree if len(k) > depth and k[:depth] == folder})
    for uid in sorted(tree.get(folder, []), key=lambda u: project.nodes[u].name):
        if values[uid] == chosen:
            continue
        node = project.nodes[uid]
        own = _config(values[uid], chosen, "")
        foreign = bool(node.package) and node.package != project.name
        # Properties YAML cannot patch another package's nodes, and dbt-core (1.10) ignores a
        # `null` there; a model named in dbt_project.yml does both, unless a folder beside it
        # has its name (the key would mean both).
        if (foreign or None in own.values()) and node.name not in subfolders:
            here[node.name] = _config(values[uid], chosen, "+")
        elif not foreign:
            properties.setdefault(section, []).append({"name": node.name, "config": own})
        else:
            raise ConfigError(
                f"cannot export the setting of {node.unique_id}: its package's folder "
                f"{'/'.join(folder)} has a sub-folder of the same name; set it by hand",
                node_id=node.unique_id,
            )
    for sub in subfolders:
        child = _emit_folder((*folder, sub), chosen, tree, values, project, properties, section)
        if child:
            here[sub] = child
    return here
