"""Where a dbt project's warehouse is: its ``profiles.yml`` target, read without running dbt.

saosim reads the warehouse through dbt's own adapter (:mod:`saosim.live.adapter`); this module
only answers, without importing dbt, which adapter a target uses and, for DuckDB, which file it
writes (the target's ``path``, relative to the project folder), so a build can hold saosim's file
lock beside it.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     folder = pathlib.Path(d)
...     _ = (folder / "dbt_project.yml").write_text("name: p\\nprofile: shop\\n")
...     _ = (folder / "profiles.yml").write_text(
...         "shop:\\n  target: dev\\n  outputs:\\n    dev: {type: duckdb, path: w.duckdb}\\n")
...     wh = warehouse_target(folder)
...     (wh.adapter, wh.target, wh.path.name)
('duckdb', 'dev', 'w.duckdb')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saosim.errors import ConfigError

__all__ = ["WarehouseTarget", "warehouse_target"]


@dataclass(frozen=True, slots=True)
class WarehouseTarget:
    """One ``profiles.yml`` output: the adapter ``type`` and, for DuckDB, the database file."""

    profile: str
    target: str
    adapter: str
    #: DuckDB: the database file, resolved against the project folder; ``None`` otherwise.
    path: Path | None = None


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot be read: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("is not a YAML mapping", path=str(path))
    return data


def _profiles_file(project_dir: Path, profiles_dir: str | Path | None) -> Path:
    # dbt's own search order, with the project folder first as saosim's runner passes it
    candidates = [Path(profiles_dir)] if profiles_dir else []
    candidates.append(project_dir)
    if os.environ.get("DBT_PROFILES_DIR"):
        candidates.append(Path(os.environ["DBT_PROFILES_DIR"]))
    candidates.append(Path.home() / ".dbt")
    for folder in candidates:
        if (folder / "profiles.yml").is_file():
            return folder / "profiles.yml"
    raise ConfigError(
        "no profiles.yml found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); pass profiles_dir",
        path=str(project_dir),
    )


def warehouse_target(
    project_dir: str | Path,
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
) -> WarehouseTarget:
    """The warehouse a project's dbt profile points at.

    Args:
        project_dir: the dbt project folder (its ``dbt_project.yml`` names the profile).
        profiles_dir: where ``profiles.yml`` is; default the project folder, then
            ``$DBT_PROFILES_DIR``, then ``~/.dbt``.
        target: the output to use; default the profile's ``target``.

    Raises:
        ConfigError: no profile, no such target, or a DuckDB ``path`` saosim cannot resolve
            (a Jinja expression, or ``:memory:``).
    """
    folder = Path(project_dir).resolve()
    project_file = folder / "dbt_project.yml"
    name = _yaml(project_file).get("profile")
    if not isinstance(name, str) or not name:
        raise ConfigError("names no profile", path=str(project_file), field="profile")
    profiles_file = _profiles_file(folder, profiles_dir)
    profile = _yaml(profiles_file).get(name)
    if not isinstance(profile, dict):
        raise ConfigError(f"has no profile {name!r}", path=str(profiles_file), field=name)
    chosen = target or profile.get("target") or "dev"
    outputs = profile.get("outputs") or {}
    output = outputs.get(chosen)
    if not isinstance(output, dict):
        raise ConfigError(
            f"profile {name!r} has no output {chosen!r} (has: {', '.join(outputs) or 'none'})",
            path=str(profiles_file),
            field=f"{name}.outputs",
        )
    adapter = str(output.get("type", "")).lower()
    path = None
    if adapter == "duckdb":
        raw = str(output.get("path", ":memory:"))
        if "{{" in raw or raw.startswith(":memory:") or raw.startswith("md:"):
            raise ConfigError(
                f"DuckDB path {raw!r} is not a file saosim can open (Jinja, in-memory or "
                "MotherDuck); pass source_versions yourself",
                path=str(profiles_file),
                field=f"{name}.outputs.{chosen}.path",
            )
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else folder / path
    return WarehouseTarget(name, chosen, adapter, path)
