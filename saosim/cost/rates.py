"""What warehouse time costs: rates, per-run overheads, and the ``rates:`` configuration.

A :class:`CostModel` turns what a build uses into dollars, on one of three bases:

``runtime`` (default)
    ``seconds / concurrency × usd_per_hour / 3600``. ``usd_per_hour`` is given directly
    (``warehouse_usd_per_hour``), or as Snowflake credits: ``snowflake_size`` (XS=1, S=2, M=4,
    L=8, XL=16, 2XL=32, 3XL=64, 4XL=128 credits/hour) or ``credits_per_hour``, times
    ``usd_per_credit`` (default 3.0, Snowflake Enterprise on-demand list price). Default rate:
    Snowflake M at $3/credit = $12/hour. ``concurrency`` (default 1) is how many queries share the
    billed warehouse seconds: with 1, each query is billed its own runtime (the attribution
    Snowflake and most cost tools use); 4 means a warehouse busy with 4 queries at once bills
    a quarter of each query's seconds.
``bytes``
    BigQuery on-demand: ``bytes_processed / 2**40 × usd_per_tib`` (``bigquery_usd_per_tib``,
    default 6.25).
``history``
    ``cost_from_history: true``: the dollars in ``node_runs.cost`` (query-history attribution).

Per-run overheads, each a named field (all billed at ``usd_per_hour`` except ``per_run_usd``):

- ``dbt_startup_s`` (default 0): warehouse seconds every dbt invocation spends before its first
  model (connection, relation cache, ``on-run-start`` hooks).
- ``metadata_query_s`` (default 0): seconds of SAO's own metadata queries (source freshness,
  last-modified times), added to every *state-aware* run only (any profile but ``baseline``).
- ``warehouse_min_billing_s`` (default 60): Snowflake bills a resumed warehouse at least 60 s;
  a run whose queries use fewer billed seconds is topped up to this. This assumes the warehouse
  auto-suspends between runs (true for hourly jobs with the usual 60 s–10 min auto-suspend). A run
  that executes no query at all (everything reused, no start-up or metadata seconds) costs 0.
- ``per_run_usd`` (default 0): a fixed fee per run (e.g. an orchestrator's per-run price).

Views: ``bill_views`` ``None`` (default) bills a view's build runtime under every profile except
``dbt_state``, which never bills views (dbt State does not rebuild them); ``True``/``False``
force it. ``table_reuse_fee_usd`` (default 0, off) is a fee per table reused per day, as dbt State
prices; metrics subtract it from savings (``net_savings_usd``).

>>> CostModel.from_config({"snowflake_size": "M", "usd_per_credit": 3}).usd_per_hour
12.0
>>> CostModel.from_config({"rates": {"warehouse_usd_per_hour": 4.0}}).usd_per_second * 3600
4.0
>>> try:
...     CostModel.from_config({"snowflake_size": "XXL"})
... except ConfigError as err:
...     print(err.field)
rates.snowflake_size
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from saosim.cost.billing import BILLING_KEYS, SNOWFLAKE_SIZES, Billing
from saosim.errors import ConfigError

__all__ = [
    "DEFAULT_USD_PER_CREDIT",
    "DEFAULT_USD_PER_TIB",
    "SNOWFLAKE_CREDITS_PER_HOUR",
    "CostModel",
]

#: Snowflake standard warehouse credits per hour by size.
SNOWFLAKE_CREDITS_PER_HOUR = SNOWFLAKE_SIZES
_SIZE_ALIASES = {
    "X-SMALL": "XS",
    "XSMALL": "XS",
    "SMALL": "S",
    "MEDIUM": "M",
    "LARGE": "L",
    "X-LARGE": "XL",
    "XLARGE": "XL",
    "XXL": None,  # ambiguous spelling: rejected with the list of sizes
    "2X-LARGE": "2XL",
    "3X-LARGE": "3XL",
    "4X-LARGE": "4XL",
    "5X-LARGE": "5XL",
    "6X-LARGE": "6XL",
}
DEFAULT_USD_PER_CREDIT = 3.0
DEFAULT_USD_PER_TIB = 6.25
TIB = 2**40

Basis = Literal["runtime", "bytes", "history"]
_RATE_KEYS = ("warehouse_usd_per_hour", "snowflake_size", "credits_per_hour")
_BASIS_KEYS = ("bigquery_usd_per_tib", "cost_from_history")
_FLOAT_KEYS = (
    "concurrency",
    "warehouse_min_billing_s",
    "dbt_startup_s",
    "metadata_query_s",
    "per_run_usd",
    "table_reuse_fee_usd",
)
_KEYS = (*_RATE_KEYS, "usd_per_credit", *_BASIS_KEYS, *_FLOAT_KEYS, "bill_views", *BILLING_KEYS)


@dataclass(frozen=True)
class CostModel:
    """Rates and overheads; see the module docstring for every field's meaning and default.

    >>> m = CostModel(usd_per_hour=3.6)
    >>> m.run_overhead_usd(10.0, state_aware=False)  # 10 s of queries billed as 60 s
    0.05
    """

    basis: Basis = "runtime"
    usd_per_hour: float = 4 * DEFAULT_USD_PER_CREDIT
    usd_per_tib: float = DEFAULT_USD_PER_TIB
    concurrency: float = 1.0
    warehouse_min_billing_s: float = 60.0
    dbt_startup_s: float = 0.0
    metadata_query_s: float = 0.0
    per_run_usd: float = 0.0
    bill_views: bool | None = None
    table_reuse_fee_usd: float = 0.0
    billing: Billing = field(default_factory=Billing)

    @property
    def threads(self) -> int:
        """dbt threads of a simulated run: the rates file's ``threads:``, else 4 (``simulate``
        gives a model without them the history's own, see :meth:`with_history_threads`)."""
        return self.billing.threads or 4

    def with_history_threads(self, threads: int | None) -> CostModel:
        """This model with ``threads`` (the history's dbt threads) when its rates name none.

        >>> m = CostModel()
        >>> m.with_history_threads(12).threads, m.with_history_threads(None).threads
        (12, 4)
        """
        if threads is None or self.billing.threads is not None:
            return self
        return dataclasses.replace(self, billing=dataclasses.replace(self.billing, threads=threads))

    def __post_init__(self) -> None:
        if self.basis not in ("runtime", "bytes", "history"):
            raise ConfigError(
                f"{self.basis!r} is not a cost basis; use runtime, bytes or history",
                field="rates.basis",
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("basis", "bill_views", "billing"):
                continue
            if not _is_number(value) or value < 0 or not math.isfinite(value):
                raise ConfigError(f"{value!r} must be a finite number ≥ 0", field=f"rates.{f.name}")
        if self.concurrency <= 0:
            raise ConfigError(f"{self.concurrency!r} must be > 0", field="rates.concurrency")
        if self.bill_views not in (None, True, False):
            raise ConfigError(
                f"{self.bill_views!r} must be true, false or null", field="rates.bill_views"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CostModel:
        """Parse a ``rates:`` mapping (or ``{"rates": {...}}``); unknown keys are an error.

        >>> CostModel.from_config({"bigquery_usd_per_tib": 6.25}).basis
        'bytes'
        >>> CostModel.from_config({"warehouse_usd_per_hour": -1})
        Traceback (most recent call last):
        ...
        saosim.errors.ConfigError: field "rates.warehouse_usd_per_hour": -1 must be a number > 0
        """
        if not isinstance(config, Mapping):
            raise ConfigError(f"expected a mapping, got {type(config).__name__}", field="rates")
        if set(config) == {"rates"}:
            config = config["rates"] or {}
            if not isinstance(config, Mapping):
                raise ConfigError(f"expected a mapping, got {type(config).__name__}", field="rates")
        unknown = sorted(str(k) for k in config if k not in _KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r}; known keys: {', '.join(_KEYS)}",
                field=f"rates.{unknown[0]}",
            )
        if "warehouse_size" in config and "snowflake_size" in config:
            raise ConfigError(
                "warehouse_size and snowflake_size name the same thing; give one",
                field="rates.snowflake_size",
            )
        billing_name = config.get("billing", "snowflake_warehouse")
        if "warehouse_size" in config and billing_name != "databricks_sql":
            # one size names both the query-seconds rate and the billed warehouse
            config = {**config, "snowflake_size": config["warehouse_size"]}
        rate_keys = [k for k in _RATE_KEYS if k in config]
        if len(rate_keys) > 1:
            raise ConfigError(
                f"give one warehouse rate, not {' and '.join(rate_keys)}",
                field=f"rates.{rate_keys[1]}",
            )
        basis_keys = [k for k in _BASIS_KEYS if k in config]
        if len(basis_keys) > 1:
            raise ConfigError(
                "bigquery_usd_per_tib and cost_from_history exclude each other",
                field="rates.cost_from_history",
            )
        kwargs: dict[str, Any] = {}
        usd_per_credit = _positive(config, "usd_per_credit", DEFAULT_USD_PER_CREDIT)
        if "usd_per_credit" in config and not rate_keys:
            kwargs["usd_per_hour"] = 4 * usd_per_credit
        if "warehouse_usd_per_hour" in config:
            kwargs["usd_per_hour"] = _positive(config, "warehouse_usd_per_hour", 0.0)
        elif "snowflake_size" in config:
            kwargs["usd_per_hour"] = _snowflake_credits(config["snowflake_size"]) * usd_per_credit
        elif "credits_per_hour" in config:
            kwargs["usd_per_hour"] = _positive(config, "credits_per_hour", 0.0) * usd_per_credit
        if "bigquery_usd_per_tib" in config:
            kwargs["basis"] = "bytes"
            kwargs["usd_per_tib"] = _positive(config, "bigquery_usd_per_tib", DEFAULT_USD_PER_TIB)
        elif "cost_from_history" in config:
            flag = config["cost_from_history"]
            if not isinstance(flag, bool):
                raise ConfigError(
                    f"{flag!r} must be true or false", field="rates.cost_from_history"
                )
            if flag:
                kwargs["basis"] = "history"
        if kwargs.get("basis") in ("bytes", "history") and not rate_keys:
            # no warehouse rate given: overhead seconds cost nothing on these bases
            kwargs["usd_per_hour"] = 0.0
        for key in _FLOAT_KEYS:
            if key in config:
                value = config[key]
                if not _is_number(value) or value < 0 or not math.isfinite(value):
                    raise ConfigError(f"{value!r} must be a number ≥ 0", field=f"rates.{key}")
                kwargs[key] = float(value)
        if "bill_views" in config:
            flag = config["bill_views"]
            if flag is not None and not isinstance(flag, bool):
                raise ConfigError(f"{flag!r} must be true, false or null", field="rates.bill_views")
            kwargs["bill_views"] = flag
        return _with_billing(cls(**kwargs), config, rate_keys)

    @property
    def usd_per_second(self) -> float:
        """Dollars per billed warehouse second."""
        return self.usd_per_hour / 3600.0

    def bills_views(self, profile: str) -> bool:
        """Whether a view's build is billed under ``profile`` (dbt State never bills views).

        >>> CostModel().bills_views("dbt_state"), CostModel().bills_views("sao")
        (False, True)
        """
        if self.bill_views is not None:
            return self.bill_views
        return str(profile) != "dbt_state"

    def seconds_usd(self, runtime_s: float | np.ndarray) -> float | np.ndarray:
        """Dollars for query runtime on the runtime basis (``runtime / concurrency × rate``)."""
        return runtime_s / self.concurrency * self.usd_per_second

    def run_overhead_usd(self, billed_s: float, *, state_aware: bool) -> float:
        """Overhead dollars of one run whose builds used ``billed_s`` billed seconds.

        ``billed_s`` is the run's build seconds already divided by ``concurrency`` (0 on the bytes
        and history bases).
        """
        out = self.run_overhead_usd_array(np.array([billed_s], dtype=float), state_aware)
        return float(out[0])

    def run_overhead_usd_array(
        self, billed_s: np.ndarray, state_aware: bool | np.ndarray
    ) -> np.ndarray:
        """:meth:`run_overhead_usd` for many runs at once."""
        billed = np.asarray(billed_s, dtype=float)
        meta = np.where(np.asarray(state_aware, dtype=bool), self.metadata_query_s, 0.0)
        extra = self.dbt_startup_s + meta
        used = billed + extra
        top_up = np.where(used > 0, np.maximum(self.warehouse_min_billing_s - used, 0.0), 0.0)
        return (extra + top_up) * self.usd_per_second + self.per_run_usd


def _with_billing(model: CostModel, config: Mapping[str, Any], rate_keys: list[str]) -> CostModel:
    """Attach the billing model; the query-seconds rate and the warehouse rate stay one rate."""
    credits = None
    if "credits_per_hour" in config:
        credits = float(config["credits_per_hour"])
    elif "warehouse_usd_per_hour" in config:
        credits = model.usd_per_hour / _positive(config, "usd_per_credit", DEFAULT_USD_PER_CREDIT)
    usd_per_credit = _positive(config, "usd_per_credit", DEFAULT_USD_PER_CREDIT)
    billing = Billing.from_config(config, usd_per_credit=usd_per_credit, credits_per_hour=credits)
    changes: dict[str, Any] = {"billing": billing}
    if billing.name == "databricks_sql" and not rate_keys:
        changes["usd_per_hour"] = billing.usd_per_hour
    elif billing.name == "bigquery_on_demand":
        if "bigquery_usd_per_tib" in config and "usd_per_tib" in config:
            raise ConfigError(
                "give usd_per_tib or bigquery_usd_per_tib, not both", field="rates.usd_per_tib"
            )
        if "cost_from_history" in config:
            raise ConfigError(
                "bigquery_on_demand bills bytes; cost_from_history is for billing: query_seconds",
                field="rates.cost_from_history",
            )
        tib = model.usd_per_tib if "bigquery_usd_per_tib" in config else billing.usd_per_tib
        changes |= {
            "basis": "bytes",
            "usd_per_tib": tib,
            "billing": replace(billing, usd_per_tib=tib),
        }
        if not rate_keys:
            changes["usd_per_hour"] = 0.0
    elif billing.name == "bigquery_editions" and not rate_keys:
        changes["usd_per_hour"] = billing.slots_per_query * billing.usd_per_slot_hour
    return replace(model, **changes)


#: No rate, fee or number of seconds in a ``rates:`` block is larger (and 10**400 would
#: overflow float arithmetic).
_MAX_NUMBER = 1e12


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value != value or abs(value) <= _MAX_NUMBER)  # nan is rejected by its callers
    )


def _positive(config: Mapping[str, Any], key: str, default: float) -> float:
    if key not in config:
        return default
    value = config[key]
    if not _is_number(value) or value <= 0 or not math.isfinite(value):
        raise ConfigError(f"{value!r} must be a number > 0", field=f"rates.{key}")
    return float(value)


def _snowflake_credits(size: object) -> int:
    text = str(size).strip().upper().replace("_", "-")
    key = _SIZE_ALIASES.get(text, text)
    if key not in SNOWFLAKE_CREDITS_PER_HOUR:
        raise ConfigError(
            f"{size!r} is not a Snowflake size; use one of "
            + ", ".join(SNOWFLAKE_CREDITS_PER_HOUR),
            field="rates.snowflake_size",
        )
    return SNOWFLAKE_CREDITS_PER_HOUR[key]
