"""Read a dbt project's own freshness settings from its files, with dbt's precedence.

Four places can set a node's ``freshness`` (SAO's ``build_after``) and ``state`` (dbt State's
``lag_tolerance`` / ``require_fresh_data_from``); the most specific one that sets a key wins:

1. the model's SQL ``{{ config(freshness={...}, state={...}) }}``,
2. a properties YAML (``models: - name: x  config: {freshness: …}``),
3. ``dbt_project.yml`` at folder level (``models: <project>: <folder>: +freshness:``; the
   deepest matching folder, or a model named there, wins; as in dbt, ``+`` may be left out
   only for a value that is not a mapping, such as ``freshness: null``),
4. ``dbt_project.yml`` at project level.

``freshness`` and ``state`` are each replaced as a whole by a more specific level, as
``dbt parse`` (1.10) does: a model's ``state: {lag_tolerance: 1h}`` drops a folder's
``require_fresh_data_from``. ``freshness: null`` / ``state: null`` reset to no config at any
level (SAO-SEMANTICS; dbt-core 1.10 itself ignores a ``null`` in a properties YAML).

>>> import pathlib, tempfile
>>> from saosim.project.graph import Node, Project
>>> node = Node("model.shop.fct", "fct", "model", package="shop", path="models/marts/fct.sql")
>>> project = Project([node], [], name="shop")
>>> with tempfile.TemporaryDirectory() as d:
...     _ = pathlib.Path(d, "dbt_project.yml").write_text(
...         "name: shop\\nmodels:\\n  shop:\\n    marts:\\n"
...         "      +freshness: {build_after: {count: 6, period: hour}}\\n")
...     cfg = read_project_freshness(d, project)
>>> cfg.for_node("model.shop.fct").window_s
21600
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import yaml

from saosim.errors import ConfigError, SaosimWarning, yaml_error
from saosim.project._scan import outside_strings
from saosim.project.freshness import (
    BuildAfter,
    FreshnessConfig,
    NodeFreshness,
    Where,
    parse_freshness,
    parse_state,
)
from saosim.project.graph import Node, Project

__all__ = ["config_kwargs_from_sql", "read_project_freshness"]

#: dbt_project.yml section → resource type, and the project key listing its folders.
_SECTIONS = {
    "models": ("model", ("model-paths", "source-paths"), "models"),
    "seeds": ("seed", ("seed-paths", "data-paths"), "seeds"),
    "snapshots": ("snapshot", ("snapshot-paths",), "snapshots"),
}
_FRESHNESS_KEYS = ("freshness", "state")


@dataclass(frozen=True, slots=True)
class _Layer:
    """What one place sets, already validated: ``freshness`` and/or ``state`` (when ``has_…``)."""

    has_freshness: bool = False
    build_after: BuildAfter | None = None
    has_state: bool = False
    state: Mapping[str, object] = field(default_factory=dict)


def _layer_from(mapping: Mapping[str, object], where: Where, *, plus: bool) -> _Layer | None:
    """The validated freshness/state settings of one config mapping (``+`` allowed if ``plus``).

    Every layer is checked when it is read, so a bad value is reported even in a folder that
    holds no model yet.
    """
    found: dict[str, object] = {}
    for key in _FRESHNESS_KEYS:
        if key in mapping and not (plus and isinstance(mapping[key], Mapping)):
            found[key] = mapping[key]
        if plus and f"+{key}" in mapping:
            found[key] = mapping[f"+{key}"]
    if not found:
        return None
    return _Layer(
        has_freshness="freshness" in found,
        build_after=(
            parse_freshness(found["freshness"], where.at("freshness"))
            if "freshness" in found
            else None
        ),
        has_state="state" in found,
        state=MappingProxyType(parse_state(found["state"], where.at("state")))
        if "state" in found
        else MappingProxyType({}),
    )


def _is_config_key(key: str, value: object, where: Where) -> bool:
    # dbt-core's rule (checked against `dbt parse` 1.10): a key is a config when it starts with
    # "+" or its value is not a mapping; a mapping under a bare key is a sub-folder, even when
    # the key is "freshness" (dbt then warns about an unused config path).
    if key.startswith("+") or not isinstance(value, Mapping):
        return True
    if key in _FRESHNESS_KEYS:
        warnings.warn(
            f"{where.path}, {where.field}.{key}: a mapping under {key!r} without '+' is a "
            f"folder to dbt, not a config, so it is ignored; write '+{key}:'",
            SaosimWarning,
            stacklevel=4,
        )
    return False


def _walk_project_section(
    section: Mapping[str, object], where: Where, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], _Layer]:
    """Every folder path ``(package, folder, …)`` of a dbt_project.yml section that sets one."""
    out: dict[tuple[str, ...], _Layer] = {}
    layer = _layer_from(
        section, Where(where.path, field=".".join((where.field, *prefix))), plus=True
    )
    if layer:
        out[prefix] = layer
    for key, value in section.items():
        if _is_config_key(
            str(key), value, Where(where.path, field=".".join((where.field, *prefix)))
        ):
            continue
        assert isinstance(value, Mapping)
        out.update(_walk_project_section(value, where, (*prefix, str(key))))
    return out


def _relative_parts(node: Node, roots: tuple[str, ...]) -> tuple[str, ...]:
    """The folders of a node below its resource's root path (``models/``), as dbt's fqn has them."""
    parts = PurePosixPath(node.path.replace("\\", "/")).parts if node.path else ()
    folders = parts[:-1]
    for root in roots:
        root_parts = PurePosixPath(root).parts
        if folders[: len(root_parts)] == root_parts:
            return folders[len(root_parts) :]
    return folders


_CONFIG_CALL = re.compile(r"\{\{-?\s*config\s*\(")
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def config_kwargs_from_sql(sql: str, keys: tuple[str, ...] = _FRESHNESS_KEYS) -> dict[str, object]:
    """The literal values of some keyword arguments of a model's ``{{ config(...) }}`` call.

    Only ``keys`` are read, so other kwargs may hold any Jinja. Jinja's ``true``/``false``/``none``
    are read as Python's.

    >>> config_kwargs_from_sql("{{ config(materialized='table', freshness={'build_after': "
    ...     "{'count': 4, 'period': 'hour'}}) }} select 1")
    {'freshness': {'build_after': {'count': 4, 'period': 'hour'}}}
    >>> config_kwargs_from_sql("{{ config(freshness=none) }}")
    {'freshness': None}
    """
    out: dict[str, object] = {}
    sql = _JINJA_COMMENT.sub("", sql)
    for match in _CONFIG_CALL.finditer(sql):
        args = _balanced(sql, match.end() - 1)
        if args is None:
            continue
        for key in keys:
            kw = re.search(rf"(?<![\w.]){key}\s*=\s*", args)
            if not kw:
                continue
            value_text = _value_text(args, kw.end())
            try:
                out[key] = _literal(ast.parse(value_text.strip(), mode="eval").body)
            except (SyntaxError, ValueError) as exc:
                raise ConfigError(
                    f"{value_text.strip()!r} is not a literal saosim can read ({exc})",
                    field=f"config({key}=…)",
                ) from None
    return out


def _balanced(text: str, open_at: int) -> str | None:
    """The text inside the bracket at ``open_at`` up to its match (string literals respected)."""
    depth = 0
    for i, ch in outside_strings(text, open_at):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def _value_text(args: str, start: int) -> str:
    """One keyword argument's value: up to the next top-level comma."""
    depth = 0
    for i, ch in outside_strings(args, start):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            return args[start:i]
    return args[start:]


_JINJA_NAMES = {"true": True, "false": False, "none": None, "True": True, "False": False}


def _literal(node: ast.expr) -> object:
    if isinstance(node, ast.Name) and node.id in _JINJA_NAMES | {"None": None}:
        return _JINJA_NAMES.get(node.id)
    if isinstance(node, ast.Dict):
        keys = [_literal(k) if k is not None else None for k in node.keys]
        return dict(zip(keys, (_literal(v) for v in node.values), strict=True))
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    return ast.literal_eval(node)


def _load_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc}", path=str(path)) from None


def read_project_freshness(project_dir: str | Path, project: Project) -> FreshnessConfig:
    """Each buildable node's freshness as dbt would resolve it from the project's files.

    Args:
        project_dir: the folder holding ``dbt_project.yml``.
        project: the project's nodes; folders are matched against ``Node.path`` (with or
            without the leading ``models/``), SQL ``config()`` is read from ``Node.raw_code``
            or, when absent, the file at ``project_dir / Node.path``.

    Returns:
        A :class:`FreshnessConfig` listing every node with some setting; others get no config.

    Raises:
        ConfigError: a file that is not YAML, or an invalid value (named with file and node).
    """
    root = Path(project_dir)
    project_file = root / "dbt_project.yml"
    if not project_file.is_file():
        raise ConfigError(
            "not found; pass the folder that holds dbt_project.yml", path=str(project_file)
        )
    spec = _load_yaml(project_file)
    if not isinstance(spec, Mapping):
        raise ConfigError("must be a mapping", path=str(project_file))
    package = str(spec.get("name") or project.name)

    folder_layers: dict[str, dict[tuple[str, ...], _Layer]] = {}
    roots: dict[str, tuple[str, ...]] = {}
    for section, (rtype, path_keys, default_root) in _SECTIONS.items():
        paths = next((spec[k] for k in path_keys if spec.get(k)), [default_root])
        if isinstance(paths, str):
            paths = [paths]
        roots[rtype] = tuple(str(p).strip("/") for p in paths)
        block = spec.get(section) or {}
        if not isinstance(block, Mapping):
            raise ConfigError("must be a mapping", path=str(project_file), field=section)
        folder_layers[rtype] = _walk_project_section(block, Where(str(project_file), field=section))

    property_layers = _read_properties(root, roots, package)

    per_node: dict[str, NodeFreshness] = {}
    for uid in project.buildable:
        node = project.nodes[uid]
        layers = _layers_for(node, folder_layers, property_layers, roots, package, root)
        resolved = _resolve(layers)
        if resolved != NodeFreshness():
            per_node[uid] = resolved
    return FreshnessConfig(per_node)


def _layers_for(
    node: Node,
    folder_layers: Mapping[str, Mapping[tuple[str, ...], _Layer]],
    property_layers: Mapping[tuple[str, str], _Layer],
    roots: Mapping[str, tuple[str, ...]],
    package: str,
    root: Path,
) -> list[_Layer]:
    """The layers that apply to a node, least specific first."""
    layers: list[_Layer] = []
    fqn = (node.package or package, *_relative_parts(node, roots[node.resource_type]), node.name)
    section = folder_layers[node.resource_type]
    for depth in range(len(fqn) + 1):
        layer = section.get(fqn[:depth])
        if layer:
            layers.append(layer)
    if (node.package or package) == package:
        prop = property_layers.get((node.resource_type, node.name))
        if prop:
            layers.append(prop)
    sql = node.raw_code
    sql_path = _sql_file(root, node, roots[node.resource_type])
    if sql is None and sql_path is not None:
        sql = sql_path.read_text(encoding="utf-8")
    if sql:
        where = Where(str(sql_path) if sql_path else None, node.unique_id, "config")
        try:
            kwargs = config_kwargs_from_sql(sql)
        except ConfigError as exc:
            raise ConfigError(
                exc.message, path=where.path, node_id=node.unique_id, field=exc.field
            ) from None
        layer = _layer_from(kwargs, where, plus=False)
        if layer:
            layers.append(layer)
    return layers


def _sql_file(root: Path, node: Node, resource_roots: tuple[str, ...]) -> Path | None:
    """The node's SQL file: ``Node.path`` from the project root or from a model path."""
    if not node.path.endswith(".sql"):
        return None
    for base in (root, *(root / r for r in resource_roots)):
        if (base / node.path).is_file():
            return base / node.path
    return None


def _read_properties(
    root: Path, roots: Mapping[str, tuple[str, ...]], package: str
) -> dict[tuple[str, str], _Layer]:
    """``(resource_type, name) → layer`` from every properties YAML under the resource paths."""
    out: dict[tuple[str, str], _Layer] = {}
    sections = {"models": "model", "seeds": "seed", "snapshots": "snapshot"}
    folders = sorted({folder for paths in roots.values() for folder in paths})
    files: set[Path] = set()
    for folder in folders:
        base = root / folder
        if base.is_dir():
            files.update(p for ext in ("*.yml", "*.yaml") for p in base.rglob(ext))
    for path in sorted(files):
        doc = _load_yaml(path)
        if not isinstance(doc, Mapping):
            continue
        for section, rtype in sections.items():
            entries = doc.get(section)
            if not isinstance(entries, list):
                continue
            for row, entry in enumerate(entries):
                if not isinstance(entry, Mapping) or "name" not in entry:
                    continue
                config = entry.get("config")
                if config is None:
                    continue
                where = Where(str(path), f"{rtype}.{package}.{entry['name']}", "config")
                if not isinstance(config, Mapping):
                    raise where.error(f"{config!r} must be a mapping (entry {row + 1})")
                layer = _layer_from(config, where, plus=False)
                if layer:
                    out[(rtype, str(entry["name"]))] = layer
    return out


def _resolve(layers: list[_Layer]) -> NodeFreshness:
    build_after = None
    state: Mapping[str, object] = {}
    for layer in layers:
        if layer.has_freshness:
            build_after = layer.build_after
        if layer.has_state:
            state = layer.state
    lag = state.get("lag_tolerance_s")
    rfd = state.get("require_fresh_data_from")
    return NodeFreshness(
        build_after,
        None if lag is None else float(lag),  # type: ignore[arg-type]
        None if rfd is None else str(rfd),
    )
