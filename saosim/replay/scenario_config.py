"""Scenario configuration files for :func:`saosim.simulate`: profile, tiers, jobs, rates.

```yaml
profile: sao                 # baseline | sao | dbt_state | orchestra
tiers:                       # optional; without it, the project's own freshness settings apply
  default: {build_after: {count: 1, period: day}, sla: 26h}
  hourly:  {select: "tag:hourly", build_after: {count: 1, period: hour}, sla: 2h}
jobs: history                # or a list of {name, cron, select} for a what-if schedule
rates: {warehouse_usd_per_hour: 4.0}   # optional; else from history / documented defaults
options: {code_change_overrides_window: false}   # optional profile options
```

A file holding only ``profile: sao`` is valid: SAO on, the project's own settings, the
history's runs. Unknown keys and bad values are errors that name the key.

>>> s = scenario_from_dict({"profile": "sao", "jobs": [{"name": "h", "cron": "0 * * * *"}]}, "x")
>>> s.name, s.profile.value, s.jobs[0].cron
('x', 'sao', '0 * * * *')
>>> scenario_from_dict({"profile": "sao", "tier": {}}, "x")
Traceback (most recent call last):
...
saosim.errors.ConfigError: field "tier": unknown key; use profile, tiers, jobs, rates, options
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from saosim.core.decision import ProfileOptions, parse_profile
from saosim.errors import ConfigError, reading
from saosim.replay.engine import Scenario
from saosim.replay.scenario_parse import check_cron
from saosim.replay.timeline import Job

__all__ = ["load_scenario", "scenario_from_dict"]

_KEYS = ("profile", "tiers", "jobs", "rates", "options")
_MAX_S = 10 * 366 * 86400
_JOB_KEYS = ("name", "cron", "select", "exclude", "full_refresh")


def load_scenario(path: str | Path, name: str | None = None) -> Scenario:
    """Read a scenario file; its name defaults to the file's stem.

    Raises:
        ConfigError: unreadable YAML, unknown keys, bad values — naming the file and key.
    """
    from saosim.project.tiers import load_yaml

    file = Path(path)
    data = load_yaml(file, what="scenario")
    with reading(file):
        return scenario_from_dict(data, name or file.stem, path=str(file))


def scenario_from_dict(data: Any, name: str, *, path: str | None = None) -> Scenario:
    """A :class:`~saosim.replay.engine.Scenario` from a parsed YAML mapping."""
    if not isinstance(data, Mapping):
        raise ConfigError("a scenario must be a mapping with at least `profile:`", path=path)
    for key in data:
        if key not in _KEYS:
            raise ConfigError(f"unknown key; use {', '.join(_KEYS)}", path=path, field=str(key))
    if "profile" not in data:
        raise ConfigError(
            "is required (baseline, sao, dbt_state or orchestra)", path=path, field="profile"
        )
    try:
        profile = parse_profile(data["profile"])
    except ConfigError as exc:
        raise ConfigError(exc.message, path=path, field="profile") from None
    tiers = None
    if data.get("tiers") is not None:
        from saosim.project.tiers import Tiers

        tiers = Tiers.from_dict(data["tiers"], path=path)
    cost_model = None
    if data.get("rates") is not None:
        from saosim.cost.rates import CostModel

        if not isinstance(data["rates"], Mapping):
            raise ConfigError("must be a mapping", path=path, field="rates")
        try:
            cost_model = CostModel.from_config(dict(data["rates"]))
        except ConfigError as exc:
            field = exc.field or ""
            field = field if field.startswith("rates") else f"rates.{field}".rstrip(".")
            raise ConfigError(exc.message, path=path, field=field) from None
    options = ProfileOptions()
    if data.get("options") is not None:
        if not isinstance(data["options"], Mapping):
            raise ConfigError("must be a mapping", path=path, field="options")
        options = ProfileOptions.from_mapping(_checked_options(data["options"], path), path=path)
    return Scenario(
        name,
        profile,
        tiers=tiers,
        jobs=_jobs(data.get("jobs", "history"), path),
        options=options,
        cost_model=cost_model,
    )


def _checked_options(values: Mapping[str, Any], path: str | None) -> Mapping[str, Any]:
    # ProfileOptions checks types; the bounds of a number are checked here (nan, inf, 1e300)
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"{value!r} is not a finite number", path=path, field=f"options.{key}"
            )
        if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > _MAX_S:
            raise ConfigError(
                f"{value!r} is more than ten years of seconds", path=path, field=f"options.{key}"
            )
    return values


def _jobs(value: Any, path: str | None) -> tuple[Job, ...] | None:
    if value is None or value == "history":
        return None
    if not isinstance(value, list) or not value:
        raise ConfigError(
            "must be `history` or a non-empty list of {name, cron, select}", path=path, field="jobs"
        )
    jobs = []
    for i, item in enumerate(value):
        where = f"jobs[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError("must be a mapping {name, cron, select}", path=path, field=where)
        for key in item:
            if key not in _JOB_KEYS:
                raise ConfigError(
                    f"unknown key; use {', '.join(_JOB_KEYS)}", path=path, field=f"{where}.{key}"
                )
        if not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ConfigError("is required (a string)", path=path, field=f"{where}.name")
        cron = check_cron(item.get("cron"), path=path, field=f"{where}.cron")
        selectors = {}
        for key in ("select", "exclude"):
            value = item.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(
                    f"{value!r} must be a dbt selector string such as 'tag:daily'",
                    path=path,
                    field=f"{where}.{key}",
                )
            selectors[key] = value
        full_refresh = item.get("full_refresh", False)
        if not isinstance(full_refresh, bool):
            raise ConfigError(
                f"{full_refresh!r} must be true or false (unquoted)",
                path=path,
                field=f"{where}.full_refresh",
            )
        jobs.append(
            Job(item["name"], cron, selectors["select"], selectors["exclude"], full_refresh)
        )
    return tuple(jobs)
