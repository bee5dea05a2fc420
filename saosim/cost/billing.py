"""How the warehouse bills: the billing model of a ``rates:`` block and its parameters.

A :class:`Billing` names one of five billing models and holds what that model needs. Keys of a
rates file (or a scenario's ``rates:``), with their defaults:

``billing`` (``snowflake_warehouse``)
    ``query_seconds`` | ``snowflake_warehouse`` | ``bigquery_on_demand`` | ``bigquery_editions``
    | ``databricks_sql``.
``warehouse_size`` (``M``)
    Snowflake: XS 1, S 2, M 4, L 8, XL 16, 2XL 32, 3XL 64, 4XL 128, 5XL 256, 6XL 512
    credits/hour (or ``credits_per_hour``). Databricks SQL: 2X-Small 4, X-Small 6, Small 12,
    Medium 24, Large 40, X-Large 80, 2X-Large 144, 3X-Large 272, 4X-Large 528 DBU/hour (or
    ``dbu_per_hour``).
``usd_per_credit`` (3.0) / ``usd_per_dbu`` (0.70)
    Dollars per Snowflake credit / Databricks DBU.
``auto_suspend_s`` (600) / ``auto_stop_min`` (10)
    Idle time billed after the last query before the warehouse suspends.
``warehouses`` (all jobs on one warehouse named ``default``)
    job id → warehouse name; ``default:`` names the warehouse of every other job.
``threads`` (4)
    dbt threads, when a run's schedule must be simulated.
``cloud_services_credits_per_hour`` (4.0)
    Snowflake cloud-services credits per hour of SAO's metadata queries (``metadata_query_s``
    per state-aware run); billed only above 10% of the day's compute credits.
``usd_per_tib`` (6.25), ``free_tib_per_month`` (0)
    BigQuery on-demand: dollars per TiB billed (at least 10 MiB per table referenced).
``usd_per_slot_hour`` (0.06), ``baseline_slots`` (0), ``slots_per_query`` (100)
    BigQuery editions: the autoscaled slot price, the committed baseline (a fixed cost), and the
    average slots a dbt query holds (``total_slot_ms / elapsed ms`` in ``INFORMATION_SCHEMA.JOBS``).

>>> b = Billing.from_config({"billing": "databricks_sql", "warehouse_size": "Small"})
>>> b.units_per_hour, b.usd_per_unit, b.auto_suspend_s
(12.0, 0.7, 600.0)
>>> b = Billing.from_config({"warehouses": {"default": "TRANSFORM_WH", "hourly": "HOURLY_WH"}})
>>> b.warehouse_of("hourly"), b.warehouse_of("daily")
('HOURLY_WH', 'TRANSFORM_WH')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saosim.errors import ConfigError

__all__ = [
    "BILLING_MODELS",
    "DATABRICKS_DBU_PER_HOUR",
    "SNOWFLAKE_SIZES",
    "Billing",
]

BILLING_MODELS = (
    "query_seconds",
    "snowflake_warehouse",
    "bigquery_on_demand",
    "bigquery_editions",
    "databricks_sql",
)
#: Snowflake standard warehouse credits per hour by size (Snowflake docs, "Warehouse size").
SNOWFLAKE_SIZES = {
    "XS": 1,
    "S": 2,
    "M": 4,
    "L": 8,
    "XL": 16,
    "2XL": 32,
    "3XL": 64,
    "4XL": 128,
    "5XL": 256,
    "6XL": 512,
}
_SNOWFLAKE_ALIASES = {
    "X-SMALL": "XS",
    "XSMALL": "XS",
    "SMALL": "S",
    "MEDIUM": "M",
    "LARGE": "L",
    "X-LARGE": "XL",
    "XLARGE": "XL",
    "2X-LARGE": "2XL",
    "3X-LARGE": "3XL",
    "4X-LARGE": "4XL",
    "5X-LARGE": "5XL",
    "6X-LARGE": "6XL",
}
#: Databricks SQL warehouse DBU per hour by cluster size (Databricks docs, "SQL warehouse sizing").
DATABRICKS_DBU_PER_HOUR = {
    "2X-Small": 4,
    "X-Small": 6,
    "Small": 12,
    "Medium": 24,
    "Large": 40,
    "X-Large": 80,
    "2X-Large": 144,
    "3X-Large": 272,
    "4X-Large": 528,
}
DEFAULT_WAREHOUSE = "default"

#: the keys this module reads from a rates block (rates.py reads the others)
BILLING_KEYS = (
    "billing",
    "warehouse_size",
    "auto_suspend_s",
    "auto_stop_min",
    "warehouses",
    "threads",
    "cloud_services_credits_per_hour",
    "usd_per_tib",
    "free_tib_per_month",
    "usd_per_slot_hour",
    "baseline_slots",
    "slots_per_query",
    "dbu_per_hour",
    "usd_per_dbu",
)
_MAX = 1e12


@dataclass(frozen=True)
class Billing:
    """One billing model and its parameters (see the module docstring for each key).

    ``units_per_hour`` and ``usd_per_unit`` are credits (Snowflake) or DBU (Databricks) per
    warehouse-hour and their price; ``auto_suspend_s`` is Snowflake's auto-suspend or
    Databricks' auto-stop; ``min_resume_s`` is the minimum billed per resume (Snowflake 60 s,
    Databricks 0).

    >>> Billing().usd_per_hour
    12.0
    """

    name: str = "snowflake_warehouse"
    warehouse_size: str = "M"
    units_per_hour: float = 4.0
    usd_per_unit: float = 3.0
    auto_suspend_s: float = 600.0
    min_resume_s: float = 60.0
    warehouses: tuple[tuple[str, str], ...] = ()
    #: dbt threads; ``None``: not given (the history's, else 4: :attr:`CostModel.threads`)
    threads: int | None = None
    cloud_services_credits_per_hour: float = 4.0
    usd_per_tib: float = 6.25
    free_tib_per_month: float = 0.0
    usd_per_slot_hour: float = 0.06
    baseline_slots: float = 0.0
    slots_per_query: float = 100.0

    def __post_init__(self) -> None:
        if self.name not in BILLING_MODELS:
            raise ConfigError(
                f"{self.name!r} is not a billing model; use one of {', '.join(BILLING_MODELS)}",
                field="rates.billing",
            )
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ConfigError(f"{self.threads!r} must be a whole number ≥ 1", field="rates.threads")

    @property
    def usd_per_hour(self) -> float:
        """Dollars per hour of one running warehouse."""
        return self.units_per_hour * self.usd_per_unit

    @property
    def unit(self) -> str:
        """What the vendor meters: credits, DBU, TiB or slot-hours."""
        return {
            "snowflake_warehouse": "credits",
            "query_seconds": "credits",
            "databricks_sql": "DBU",
            "bigquery_on_demand": "TiB",
            "bigquery_editions": "slot_hours",
        }[self.name]

    @property
    def uptime(self) -> bool:
        """Whether the model bills a warehouse's running time (Snowflake, Databricks SQL)."""
        return self.name in ("snowflake_warehouse", "databricks_sql")

    def warehouse_of(self, job_id: str | None) -> str:
        """The warehouse a job's queries run on (``default`` for jobs not named)."""
        table = dict(self.warehouses)
        return table.get(str(job_id), table.get(DEFAULT_WAREHOUSE, DEFAULT_WAREHOUSE))

    def assumptions(self) -> dict[str, Any]:
        """The parameters this billing model uses, for the summary and the report."""
        common: dict[str, Any] = {"billing": self.name, "threads": self.threads}
        if self.uptime:
            per = "usd_per_credit" if self.name == "snowflake_warehouse" else "usd_per_dbu"
            common |= {
                "warehouse_size": self.warehouse_size,
                f"{self.unit.lower()}_per_hour": self.units_per_hour,
                per: self.usd_per_unit,
                "auto_suspend_s": self.auto_suspend_s,
                "min_resume_s": self.min_resume_s,
                "warehouses": dict(self.warehouses) or {DEFAULT_WAREHOUSE: DEFAULT_WAREHOUSE},
            }
            if self.name == "snowflake_warehouse":
                common["cloud_services_credits_per_hour"] = self.cloud_services_credits_per_hour
        elif self.name == "bigquery_on_demand":
            common |= {
                "usd_per_tib": self.usd_per_tib,
                "free_tib_per_month": self.free_tib_per_month,
                "min_mib_per_table": 10,
            }
        elif self.name == "bigquery_editions":
            common |= {
                "usd_per_slot_hour": self.usd_per_slot_hour,
                "baseline_slots": self.baseline_slots,
                "slots_per_query": self.slots_per_query,
                "autoscale_step_slots": 50,
                "min_autoscale_s": 60,
            }
        else:
            common |= {"usd_per_hour": self.usd_per_hour}
        return common

    def describe(self) -> str:
        """One line naming the billing model and its assumptions.

        >>> print(Billing().describe())  # doctest: +NORMALIZE_WHITESPACE
        snowflake_warehouse: M (4 credits/h) at $3/credit, auto-suspend 600 s,
        60 s minimum per resume, one warehouse for all jobs, 4 threads
        """
        if self.uptime:
            unit = "credits" if self.name == "snowflake_warehouse" else "DBU"
            one = unit[:-1] if unit == "credits" else unit
            where = (
                "one warehouse for all jobs"
                if len({w for _, w in self.warehouses}) <= 1
                else "warehouses " + ", ".join(f"{j}→{w}" for j, w in self.warehouses)
            )
            return (
                f"{self.name}: {self.warehouse_size} ({_num(self.units_per_hour)} {unit}/h) at "
                f"${_num(self.usd_per_unit)}/{one}, auto-suspend {_num(self.auto_suspend_s)} s, "
                f"{_num(self.min_resume_s)} s minimum per resume, {where}, "
                f"{self.threads or 4} threads"
            )
        if self.name == "bigquery_on_demand":
            return (
                f"bigquery_on_demand: ${_num(self.usd_per_tib)}/TiB billed, at least 10 MiB per "
                f"table referenced, {_num(self.free_tib_per_month)} TiB free per month"
            )
        if self.name == "bigquery_editions":
            return (
                f"bigquery_editions: ${_num(self.usd_per_slot_hour)}/slot-hour autoscaled in "
                f"50-slot steps (1-minute minimum), {_num(self.baseline_slots)} baseline slots, "
                f"{_num(self.slots_per_query)} slots per query"
            )
        return "query_seconds: the sum of query runtimes × the hourly rate (no warehouse bills so)"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        usd_per_credit: float | None = None,
        credits_per_hour: float | None = None,
    ) -> Billing:
        """Read the billing keys of a rates mapping (other keys are ignored here).

        ``usd_per_credit`` and ``credits_per_hour`` come from :mod:`saosim.cost.rates`, which
        also reads them for the query-seconds rate.

        >>> Billing.from_config({"warehouse_size": "XL"}).units_per_hour
        16.0
        >>> Billing.from_config({"billing": "redshift"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        saosim.errors.ConfigError: field "rates.billing": 'redshift' is not a billing model; ...
        """
        name = config.get("billing", "snowflake_warehouse")
        if not isinstance(name, str) or name not in BILLING_MODELS:
            raise ConfigError(
                f"{name!r} is not a billing model; use one of {', '.join(BILLING_MODELS)}",
                field="rates.billing",
            )
        kw: dict[str, Any] = {"name": name}
        if name == "databricks_sql":
            kw |= _databricks(config)
        else:
            if "dbu_per_hour" in config or "usd_per_dbu" in config or "auto_stop_min" in config:
                key = next(
                    k for k in ("dbu_per_hour", "usd_per_dbu", "auto_stop_min") if k in config
                )
                raise ConfigError(f"{key} is for billing: databricks_sql", field=f"rates.{key}")
            size = config.get("warehouse_size", config.get("snowflake_size"))
            if size is not None:
                key, credits = snowflake_size(size)
                kw |= {"warehouse_size": key, "units_per_hour": float(credits)}
            elif credits_per_hour is not None:
                kw |= {"warehouse_size": "custom", "units_per_hour": credits_per_hour}
            if usd_per_credit is not None:
                kw["usd_per_unit"] = usd_per_credit
            if "auto_suspend_s" in config:
                kw["auto_suspend_s"] = _number(config, "auto_suspend_s")
        for key in (
            "cloud_services_credits_per_hour",
            "usd_per_tib",
            "free_tib_per_month",
            "usd_per_slot_hour",
            "baseline_slots",
        ):
            if key in config:
                kw[key] = _number(config, key)
        if "slots_per_query" in config:
            kw["slots_per_query"] = _number(config, "slots_per_query", positive=True)
        if "threads" in config:
            threads = config["threads"]
            if (
                not isinstance(threads, int)
                or isinstance(threads, bool)
                or not 1 <= threads <= 1024
            ):
                raise ConfigError(
                    f"{threads!r} must be a whole number from 1 to 1024", field="rates.threads"
                )
            kw["threads"] = threads
        if "warehouses" in config:
            kw["warehouses"] = _warehouses(config["warehouses"])
        return cls(**kw)


def snowflake_size(size: object) -> tuple[str, int]:
    """A Snowflake size's canonical name and credits per hour.

    >>> snowflake_size("x-large")
    ('XL', 16)
    """
    text = str(size).strip().upper().replace("_", "-")
    key = _SNOWFLAKE_ALIASES.get(text, text)
    if key not in SNOWFLAKE_SIZES:
        raise ConfigError(
            f"{size!r} is not a Snowflake size; use one of " + ", ".join(SNOWFLAKE_SIZES),
            field="rates.warehouse_size",
        )
    return key, SNOWFLAKE_SIZES[key]


def _databricks(config: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "usd_per_unit": 0.70,
        "min_resume_s": 0.0,
        "warehouse_size": "Medium",
        "units_per_hour": 24.0,
    }
    for key in ("credits_per_hour", "usd_per_credit", "auto_suspend_s", "snowflake_size"):
        if key in config:
            raise ConfigError(
                f"{key} is for Snowflake; Databricks SQL takes warehouse_size or dbu_per_hour, "
                "usd_per_dbu and auto_stop_min",
                field=f"rates.{key}",
            )
    if "warehouse_size" in config and "dbu_per_hour" in config:
        raise ConfigError(
            "give warehouse_size or dbu_per_hour, not both", field="rates.dbu_per_hour"
        )
    if "warehouse_size" in config:
        wanted = str(config["warehouse_size"]).strip().lower().replace("_", "-").replace(" ", "-")
        match = [k for k in DATABRICKS_DBU_PER_HOUR if k.lower() == wanted]
        if not match:
            raise ConfigError(
                f"{config['warehouse_size']!r} is not a Databricks SQL warehouse size; use one of "
                + ", ".join(DATABRICKS_DBU_PER_HOUR),
                field="rates.warehouse_size",
            )
        kw |= {
            "warehouse_size": match[0],
            "units_per_hour": float(DATABRICKS_DBU_PER_HOUR[match[0]]),
        }
    if "dbu_per_hour" in config:
        kw |= {
            "warehouse_size": "custom",
            "units_per_hour": _number(config, "dbu_per_hour", positive=True),
        }
    if "usd_per_dbu" in config:
        kw["usd_per_unit"] = _number(config, "usd_per_dbu", positive=True)
    if "auto_stop_min" in config:
        kw["auto_suspend_s"] = 60.0 * _number(config, "auto_stop_min")
    return kw


def _warehouses(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected a mapping of job id → warehouse name, got {type(value).__name__}",
            field="rates.warehouses",
        )
    out = []
    for job, name in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{name!r} is not a warehouse name", field=f"rates.warehouses.{job}")
        out.append((str(job), name.strip()))
    return tuple(sorted(out))


def _number(config: Mapping[str, Any], key: str, *, positive: bool = False) -> float:
    value = config[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if (
        not ok
        or not math.isfinite(value)
        or abs(value) > _MAX
        or value < 0
        or (positive and value == 0)
    ):
        raise ConfigError(
            f"{value!r} must be a number {'>' if positive else '≥'} 0", field=f"rates.{key}"
        )
    return float(value)


def _num(x: float) -> str:
    return f"{x:g}"
