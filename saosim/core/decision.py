"""The planner's vocabulary: profiles, actions, reasons, profile options and one decision.

Enum values are the strings that appear in decision logs and reports, one spelling everywhere
(``SAO-SEMANTICS.md``). :mod:`saosim.core.planner` re-exports every name here.

>>> d = Decision("model.p.fct", Action.REUSE, Reason.WITHIN_BUILD_AFTER, window_s=21600.0)
>>> (d.action, d.reason)
(<Action.REUSE: 'reuse'>, <Reason.WITHIN_BUILD_AFTER: 'within_build_after'>)
>>> ProfileOptions(lag_mode="data_advance").lag_mode
'data_advance'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from saosim.errors import ConfigError

__all__ = [
    "Action",
    "Decision",
    "DecisionDraft",
    "Profile",
    "ProfileOptions",
    "Reason",
    "Tolerance",
    "format_duration",
    "freeze_decisions",
    "parse_profile",
]


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
ClockReading = Literal["node", "run_start"]
_CHOICES: dict[str, tuple[str, ...]] = {
    "no_metadata_source": ("always_fresh", "never_fresh"),
    "lag_mode": ("build_age", "data_advance", "data_vs_build"),
    "clock": ("node", "run_start"),
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
        clock: ``node`` judges a node when the run reaches it; ``run_start`` judges every node
            of a run at the run's start (the older reading).
    """

    code_change_overrides_window: bool = False
    no_metadata_source: NoMetadataSource = "always_fresh"
    lag_mode: LagMode = "build_age"
    seed_state_orchestration: bool = False
    default_lag_tolerance_s: float = 2700.0
    verify_relations_exist: bool = True
    clock: ClockReading = "node"

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


def format_duration(seconds: float) -> str:
    """A short human duration.

    >>> format_duration(21600), format_duration(2700), format_duration(5400), format_duration(90061)
    ('6h', '45m', '1h30m', '1d1h1m1s')
    """
    total = round(seconds)
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "w" and total % size:
            continue
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """dbt_state's tolerance test as it was applied: seconds, where the value came from
    (``lag_tolerance``, ``build_after`` or ``project default``) and the ``lag_mode``."""

    seconds: float
    source: str
    lag_mode: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner decided for one node at one run, and the evidence for it.

    Evidence is typed: ``fresh_parents`` (the parents whose new data, or build in this run,
    counted), ``window_ends_at`` (when a ``within_build_after``/``within_lag_tolerance`` reuse
    stops holding), ``built_at`` (the last successful build the rules compared with),
    ``window_s``/``updates_on``/``inherited_from`` (the ``build_after`` in force),
    ``failed_parents`` (and ``failed_tests``, their error-severity data tests that failed in
    this run), ``changed_upstream`` (dbt_state), ``no_metadata`` (fresh sources without arrival
    data), ``code_changed``, ``tolerance`` (dbt_state), ``option`` (the option value that
    decided) and ``always_builds`` (what a profile always builds). :attr:`detail` is a short
    text made from them, for logs.

    >>> Decision("model.p.a", Action.REUSE, Reason.WITHIN_BUILD_AFTER, window_s=21600).detail
    'build_after=6h, updates_on=any'
    """

    node_id: str
    action: Action
    reason: Reason
    fresh_parents: tuple[str, ...] = ()
    window_ends_at: datetime | None = None
    built_at: datetime | None = None
    window_s: float = 0.0
    updates_on: str = "any"
    inherited_from: str | None = None
    failed_parents: tuple[str, ...] = ()
    changed_upstream: tuple[str, ...] = ()
    no_metadata: tuple[str, ...] = ()
    code_changed: bool = False
    tolerance: Tolerance | None = None
    option: str | None = None
    always_builds: str | None = None
    #: dbt_state: a view reused while its logic is unchanged (new data flows through it)
    view_passthrough: bool = False
    #: error-severity data tests of ``failed_parents`` that failed in this run
    failed_tests: tuple[str, ...] = ()
    #: with a run schedule: when the run reached the node (the rules' t), and when its build
    #: or test started and ended
    reached_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def detail(self) -> str:
        """The option values and settings that produced this decision, as one line."""
        r = self.reason
        if r is Reason.UPSTREAM_FAILED:
            tests = f" (failed tests: {', '.join(self.failed_tests)})" if self.failed_tests else ""
            return f"failed: {', '.join(self.failed_parents)}{tests}"
        if r is Reason.IN_FLIGHT_ELSEWHERE:
            return "another job is building it; re-evaluate when that build ends"
        if r is Reason.ALWAYS_BUILDS:
            return self.always_builds or ""
        if r is Reason.UPSTREAM_CODE_CHANGED:
            return f"changed upstream: {', '.join(self.changed_upstream)}"
        if self.option is not None:
            return self.option
        if self.view_passthrough:
            return "dbt_state: a view's logic is unchanged, new data flows through it"
        news = ""
        if self.no_metadata:
            news = f"no_metadata_source=always_fresh: {', '.join(self.no_metadata)}"
        if self.tolerance is not None:
            tol = self.tolerance
            text = (
                f"lag_mode={tol.lag_mode}, lag_tolerance={format_duration(tol.seconds)} "
                f"({tol.source})"
            )
            return _join(text, news if self.action is Action.REUSE else "")
        window = ""
        if r in (Reason.WAITING_FOR_ALL_UPSTREAMS, Reason.WITHIN_BUILD_AFTER) or (
            self.window_s and r in (Reason.CODE_CHANGED, Reason.NEW_UPSTREAM_DATA)
        ):
            window = self.window_text
        if r is Reason.WITHIN_BUILD_AFTER and self.code_changed:
            window += ", code_change_overrides_window=False"
        return _join(window, news)

    @property
    def window_text(self) -> str:
        """The ``build_after`` in force, e.g. ``build_after=6h, updates_on=all``."""
        if self.window_s == 0:
            return "build_after=none"
        text = f"build_after={format_duration(self.window_s)}, updates_on={self.updates_on}"
        if self.inherited_from:
            text += f" (inherited from {self.inherited_from})"
        return text


#: A mutable twin of :class:`Decision`: the same fields in the same slots, so a filled draft can
#: become a ``Decision`` in place (:func:`freeze_decisions`). A frozen dataclass's ``__init__``
#: sets each of its 21 fields through ``object.__setattr__`` (measured 3.2 µs a decision, a
#: third of a 5,000-node plan); a draft is filled by plain slot stores (0.4 µs).
DecisionDraft = make_dataclass(
    "DecisionDraft",
    [(f.name, f.type, field(default=f.default)) for f in fields(Decision)],
    slots=True,
)
DecisionDraft.__module__ = __name__


def freeze_decisions(drafts: list[DecisionDraft]) -> tuple[Decision, ...]:
    """The drafts as :class:`Decision` objects (each draft becomes one, in place).

    >>> d = DecisionDraft("model.p.a", Action.BUILD, Reason.NEVER_BUILT)
    >>> freeze_decisions([d]) == (Decision("model.p.a", Action.BUILD, Reason.NEVER_BUILT),)
    True
    >>> type(d).__name__
    'Decision'
    """
    for draft in drafts:
        # the twin's slot layout is Decision's, so Python allows the class change; from here
        # on the object is a frozen Decision like any other (equality, hash, repr, pickle)
        draft.__class__ = Decision
    return tuple(drafts)  # type: ignore[arg-type]


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
