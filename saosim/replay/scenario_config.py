"""Scenario configuration files for :func:`saosim.simulate`: profile, tiers, jobs, rates.

```yaml
profile: sao                 # baseline | sao | dbt_state | orchestra
tiers:                       # optional; without it, the project's own freshness settings apply
  default: {build_after: {count: 1, period: day}, sla: 26h}
  hourly:  {select: "tag:hourly", build_after: {count: 1, period: hour}, sla: 2h}
jobs: history                # or a list of {name, cron, select} for a what-if schedule
rates: {warehouse_usd_per_hour: 4.0}   # optional; else from history / documented defaults
options: {code_change_overrides_window: false}   # optional profile options
window: {start: "2025-01-01T00:00:00Z", end: "2025-02-01T00:00:00Z"}  # optional replay window
```

``window`` is what an estate without runs (only a manifest and sources) needs for a cron
what-if; with history it narrows the replay. A file holding only ``profile: sao`` is valid:
SAO on, the project's own settings, the history's runs. Unknown keys and bad values are
errors that name the key.

>>> s = scenario_from_dict({"profile": "sao", "jobs": [{"name": "h", "cron": "0 * * * *"}]}, "x")
>>> s.name, s.profile.value, s.jobs[0].cron
('x', 'sao', '0 * * * *')
>>> scenario_from_dict({"profile": "sao", "tier": {}}, "x")
Traceback (most recent call last):
...
saosim.errors.ConfigError: field "tier": unknown key; use profile, tiers, jobs, rates, options, \
window
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saosim.core.decision import ProfileOptions, parse_profile
from saosim.cost.rates import CostModel
from saosim.errors import ConfigError, SelectionError, reading
from saosim.project.tiers import Tiers, load_yaml
from saosim.replay.engine import Scenario
from saosim.replay.scenario_parse import MAX_WINDOW, _Reader, check_cron
from saosim.replay.timeline import Job

if TYPE_CHECKING:
    from saosim.inputs.estate import Estate
    from saosim.project.graph import Project

__all__ = [
    "MAX_RUNS",
    "check_scenario",
    "check_selectors",
    "estimate_runs",
    "load_scenario",
    "parse_window",
    "scenario_from_dict",
]

#: Runs a replay may have before it must be asked for (``saosim simulate --max-runs``).
MAX_RUNS = 100_000

_KEYS = ("profile", "tiers", "jobs", "rates", "options", "window")
_MAX_S = 10 * 366 * 86400
_JOB_KEYS = ("name", "cron", "select", "exclude", "full_refresh")


def load_scenario(path: str | Path, name: str | None = None) -> Scenario:
    """Read a scenario file; its name defaults to the file's stem.

    Raises:
        ConfigError: unreadable YAML, unknown keys, bad values — naming the file and key.
    """

    file = Path(path)
    data = load_yaml(file, what="scenario")
    with reading(file):
        return scenario_from_dict(data, name or file.stem, path=str(file))


def load_rates(path: str | Path) -> CostModel:
    """The cost model of a rates file (``saosim simulate --rates RATES.yml``): the keys of a
    scenario's ``rates:`` block, at the top level or under ``rates:``.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "rates.yml"
    >>> _ = f.write_text("billing: databricks_sql\\nwarehouse_size: Small\\nthreads: 8\\n")
    >>> m = load_rates(f)
    >>> m.billing.name, m.threads
    ('databricks_sql', 8)
    """
    file = Path(path)
    data = load_yaml(file, what="rates")
    with reading(file):
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError("a rates file must be a mapping of keys", path=str(file))
        try:
            return CostModel.from_config(dict(data))
        except ConfigError as exc:
            raise ConfigError(exc.message, path=str(file), field=exc.field) from None


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
        tiers = Tiers.from_dict(data["tiers"], path=path)
    cost_model = None
    if data.get("rates") is not None:
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
        window=None if data.get("window") is None else parse_window(data["window"], path),
        source=path,
    )


def parse_window(value: Any, path: str | None = None) -> tuple[datetime, datetime]:
    """``{start, end}`` (ISO times with a zone) as a UTC ``(start, end)`` pair.

    >>> parse_window({"start": "2025-01-01T00:00:00Z", "end": "2025-01-08T00:00:00Z"})[1].day
    8
    >>> parse_window({"start": "2025-01-01"}, "w.yml")
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: w.yml, field "window.start": 2025-01-01T00:00:00 has no time zone; \
add Z or an offset
    """
    r = _Reader(path)
    window = r.mapping(value, "window", {"start", "end"})
    start = r.time(window.get("start"), "window.start")
    end = r.time(window.get("end"), "window.end")
    if end <= start:
        raise r.error("window.end", "must be after window.start")
    if end - start > MAX_WINDOW:
        raise r.error("window.end", f"{end - start} is more than ten years after window.start")
    return start, end


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


def _span(estate: Estate) -> tuple[datetime, datetime] | None:
    runs = estate.runs
    if runs.height == 0:
        return None
    ends = [v for v in (runs["finished_at"].max(), runs["started_at"].max()) if v is not None]
    return runs["started_at"].min(), max(ends)


def _ticks(cron: str, start: datetime, end: datetime, limit: int) -> int:
    from croniter import croniter

    ticks, at, n = croniter(cron, start), start, 0
    while n < limit:
        at = ticks.get_next(datetime)
        if at >= end:
            break
        n += 1
    return n


def estimate_runs(scenario: Scenario, estate: Estate) -> int:
    """How many runs replaying ``scenario`` on ``estate`` would take, before replaying it.

    ``jobs: history`` replays the history's runs; cron jobs are counted over the history's span
    (over its first week, scaled up, when the span is longer).

    >>> from saosim.inputs.estate import load_estate
    >>> from pathlib import Path
    >>> estate = load_estate(Path(__file__).parents[2] / "data" / "example")
    >>> hourly = scenario_from_dict({"profile": "sao", "jobs": [
    ...     {"name": "h", "cron": "0 * * * *"}]}, "h")
    >>> estimate_runs(hourly, estate) in range(2150, 2170)  # 90 days of hours
    True
    """
    if scenario.jobs is None:
        return estate.runs.height
    span = scenario.window or _span(estate)
    if span is None:
        return 0
    start, end = span
    sample_end = min(end, start + timedelta(days=7))
    scale = (end - start) / max(sample_end - start, timedelta(seconds=1))
    total = 0.0
    for job in scenario.jobs:
        total += _ticks(job.cron, start, sample_end, limit=1_000_000) * scale
    return round(total)


def check_selectors(scenario: Scenario, project: Project, *, path: str | None = None) -> None:
    """Check a scenario's tier and job selectors against the project alone — before a history
    is loaded, so a selector that names nothing fails in a second, not after the load.

    Raises:
        ConfigError: naming the file and field, and listing the project's tags, folders and the
            closest names (:func:`saosim.project.suggest.selector_hint`).

    >>> from saosim.project.graph import Project
    >>> p = Project.from_spec({"raw.a": [], "stg_a": ["raw.a"]})
    >>> s = scenario_from_dict({"profile": "sao", "tiers": {"hourly": {"select": "tag:hourly",
    ...     "build_after": {"count": 1, "period": "hour"}}}}, "tuned", path="tuned.yml")
    >>> check_selectors(s, p, path="tuned.yml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ConfigError: tuned.yml, field "tiers.hourly.select": tier 'hourly': select ...
    """
    path = path or scenario.source
    if scenario.tiers is not None:
        scenario.tiers.assign(project)  # raises ConfigError naming the tier and listing names
    for i, job in enumerate(scenario.jobs or ()):
        for key in ("select", "exclude"):
            selector = getattr(job, key)
            if key == "exclude" and selector is None:
                continue
            try:
                chosen = project.select(selector)
            except SelectionError as exc:
                raise ConfigError(str(exc), path=path, field=f"jobs[{i}].{key}") from None
            if key == "select" and not chosen:
                raise ConfigError(
                    f"{selector!r} matches no node of project {project.name!r}",
                    path=path,
                    field=f"jobs[{i}].select",
                )


def check_scenario(
    scenario: Scenario, estate: Estate, *, path: str | None = None, max_runs: int = MAX_RUNS
) -> None:
    """Check a scenario against the estate it will replay, before replaying it.

    Raises:
        ConfigError: a tier's or job's selector names no node of the project
            (:func:`check_selectors`), or the replay would take more than ``max_runs`` runs
            (the message gives the estimate; raise ``--max-runs``).
    """
    check_selectors(scenario, estate.project, path=path)
    estimate = estimate_runs(scenario, estate)
    if estimate > max_runs:
        raise ConfigError(
            f"scenario {scenario.name!r} would replay about {estimate:,} runs, more than the "
            f"limit of {max_runs:,}; pass --max-runs {estimate} to replay them anyway, or "
            "schedule fewer runs",
            path=path,
            field="jobs",
        )
