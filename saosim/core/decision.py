"""The planner's vocabulary: profiles, actions, reasons, profile options and one decision.

Enum values are the strings that appear in decision logs and reports, one spelling everywhere
(``SAO-SEMANTICS.md``). :mod:`saosim.core.planner` re-exports every name here.

>>> d = Decision("model.p.fct", Action.REUSE, Reason.WITHIN_BUILD_AFTER, detail="build_after=6h")
>>> (d.action, d.reason)
(<Action.REUSE: 'reuse'>, <Reason.WITHIN_BUILD_AFTER: 'within_build_after'>)
>>> ProfileOptions(lag_mode="data_advance").lag_mode
'data_advance'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Literal

from saosim.errors import ConfigError

__all__ = ["Action", "Decision", "Profile", "ProfileOptions", "Reason", "parse_profile"]


class Profile(StrEnum):
    """Whose rules the planner follows (SAO-SEMANTICS "Profile …" sections)."""

    BASELINE = "baseline"
    SAO = "sao"
    DBT_STATE = "dbt_state"
    ORCHESTRA = "orchestra"


class Action(StrEnum):
    """What a job does with a node at one run."""

    BUILD = "build"
    #: a data test is executed
    RUN = "run"
    REUSE = "reuse"
    SKIP = "skip"
    NO_OP = "no_op"


class Reason(StrEnum):
    """Why: one member per reason named in SAO-SEMANTICS.md, plus the data-test reasons."""

    STATELESS = "stateless"
    FULL_REFRESH = "full_refresh"
    EPHEMERAL = "ephemeral"
    PYTHON_MODEL = "python_model"
    NEVER_BUILT = "never_built"
    TABLE_MISSING = "table_missing"
    PREVIOUS_TEST_FAILED = "previous_test_failed"
    UPSTREAM_FAILED = "upstream_failed"
    NO_NEW_DATA = "no_new_data"
    WAITING_FOR_ALL_UPSTREAMS = "waiting_for_all_upstreams"
    WITHIN_BUILD_AFTER = "within_build_after"
    WITHIN_LAG_TOLERANCE = "within_lag_tolerance"
    CODE_CHANGED = "code_changed"
    UPSTREAM_CODE_CHANGED = "upstream_code_changed"
    NEW_UPSTREAM_DATA = "new_upstream_data"
    TESTED_NODE_BUILT = "tested_node_built"
    TESTED_NODE_REUSED = "tested_node_reused"
    TEST_CODE_CHANGED = "test_code_changed"
    IN_FLIGHT_ELSEWHERE = "in_flight_elsewhere"
    #: orchestra seeds/snapshots, dbt_state python/custom materializations
    ALWAYS_BUILDS = "always_builds"


NoMetadataSource = Literal["always_fresh", "never_fresh"]
LagMode = Literal["build_age", "data_advance", "data_vs_build"]
_CHOICES: dict[str, tuple[str, ...]] = {
    "no_metadata_source": ("always_fresh", "never_fresh"),
    "lag_mode": ("build_age", "data_advance", "data_vs_build"),
}


@dataclass(frozen=True)
class ProfileOptions:
    """The named readings of ambiguous docs (SAO-SEMANTICS "Options"); defaults are the spec's.

    Args:
        code_change_overrides_window: ``sao``: a code change builds even inside ``build_after``.
        no_metadata_source: a source without arrival data is always fresh, or never.
        lag_mode: ``dbt_state``: which reading of ``lag_tolerance`` decides.
        seed_state_orchestration: ``orchestra``: seeds follow the state rules instead of always
            building (the package's ``seed_state_orchestration`` setting).
        default_lag_tolerance_s: ``dbt_state``: the project-wide tolerance when a node sets
            neither ``lag_tolerance`` nor ``build_after`` (45 minutes).
        verify_relations_exist: ``orchestra``: check the warehouse for missing tables (the
            package's setting; saosim assumes it is on, the package's own default is off).
    """

    code_change_overrides_window: bool = False
    no_metadata_source: NoMetadataSource = "always_fresh"
    lag_mode: LagMode = "build_age"
    seed_state_orchestration: bool = False
    default_lag_tolerance_s: float = 2700.0
    verify_relations_exist: bool = True

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"{value!r} is not allowed; use {' or '.join(allowed)}", field=name
                )
        for name in (
            "code_change_overrides_window",
            "seed_state_orchestration",
            "verify_relations_exist",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{getattr(self, name)!r} must be true or false", field=name)
        tol = self.default_lag_tolerance_s
        if isinstance(tol, bool) or not isinstance(tol, int | float) or tol < 0:
            raise ConfigError(
                f"{tol!r} must be a number of seconds ≥ 0", field="default_lag_tolerance_s"
            )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, object], *, path: str | None = None
    ) -> ProfileOptions:
        """Options from a YAML/JSON mapping; unknown keys are an error naming the key.

        >>> ProfileOptions.from_mapping({"lag_mode": "data_vs_build"}).lag_mode
        'data_vs_build'
        """
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(
                    f"unknown option {key!r}; use one of {', '.join(sorted(known))}",
                    path=path,
                    field=f"options.{key}",
                )
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(exc.message, path=path, field=f"options.{exc.field}") from None


def parse_profile(value: Profile | str) -> Profile:
    """A :class:`Profile` from its name; a clear error for anything else.

    >>> parse_profile("dbt_state")
    <Profile.DBT_STATE: 'dbt_state'>
    """
    try:
        return Profile(value)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise ConfigError(f"{value!r} is not a profile; use {names}", field="profile") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner decided for one node at one run, and the evidence for it.

    ``fresh_parents`` are the parents whose new data (or build in this run) counted;
    ``window_ends_at`` is when a ``within_build_after``/``within_lag_tolerance`` reuse stops
    holding; ``detail`` names the option values that produced the decision.
    """

    node_id: str
    action: Action
    reason: Reason
    fresh_parents: tuple[str, ...] = ()
    window_ends_at: datetime | None = None
    detail: str = ""
