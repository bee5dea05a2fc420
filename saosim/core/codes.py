"""The planner's vocabulary as small integers, for the compiled rules and the replay kernel.

One code per :class:`~saosim.core.decision.Action`, :class:`~saosim.core.decision.Reason` and
profile, in the enums' order, and one bit per node property the rules read. Times are int64
microseconds since the epoch, with :data:`NONE` for "absent".

>>> from saosim.core.decision import Action, Reason
>>> ACTIONS == tuple(a.value for a in Action) and REASONS == tuple(r.value for r in Reason)
True
"""

from __future__ import annotations

import numpy as np

#: "no value" for int64 microsecond times (no state, no data version, nothing seen).
NONE = np.iinfo(np.int64).min
#: a rule that does not apply returns this action
NO_MATCH = -1

ACTIONS = ("build", "run", "reuse", "skip", "no_op")
BUILD, RUN, REUSE, SKIP, NO_OP = range(5)

REASONS = (
    "stateless",
    "full_refresh",
    "ephemeral",
    "python_model",
    "never_built",
    "table_missing",
    "previous_test_failed",
    "upstream_failed",
    "no_new_data",
    "waiting_for_all_upstreams",
    "within_build_after",
    "within_lag_tolerance",
    "code_changed",
    "upstream_code_changed",
    "new_upstream_data",
    "tested_node_built",
    "tested_node_reused",
    "test_code_changed",
    "in_flight_elsewhere",
    "always_builds",
)
(
    R_STATELESS,
    R_FULL_REFRESH,
    R_EPHEMERAL,
    R_PYTHON_MODEL,
    R_NEVER_BUILT,
    R_TABLE_MISSING,
    R_PREVIOUS_TEST_FAILED,
    R_UPSTREAM_FAILED,
    R_NO_NEW_DATA,
    R_WAITING,
    R_WITHIN_BUILD_AFTER,
    R_WITHIN_LAG_TOLERANCE,
    R_CODE_CHANGED,
    R_UPSTREAM_CODE_CHANGED,
    R_NEW_UPSTREAM_DATA,
    R_TESTED_NODE_BUILT,
    R_TESTED_NODE_REUSED,
    R_TEST_CODE_CHANGED,
    R_IN_FLIGHT,
    R_ALWAYS_BUILDS,
) = range(20)

PROFILES = ("baseline", "sao", "dbt_state", "orchestra")
P_BASELINE, P_SAO, P_DBT_STATE, P_ORCHESTRA = range(4)
LAG_MODES = ("build_age", "data_advance", "data_vs_build")
LAG_BUILD_AGE, LAG_DATA_ADVANCE, LAG_DATA_VS_BUILD = range(3)

#: build / test status codes of a decision log (0: none)
STATUSES = ("", "success", "error", "skipped", "pass", "fail", "warn")
S_NULL, S_SUCCESS, S_ERROR, S_SKIPPED, S_PASS, S_FAIL, S_WARN = range(7)

# node flags (a bit mask per node); the first group is what the rules read
F_DECIDED = 1  # buildable or data test: the planner decides it when selected
F_SOURCE = 2
F_TEST = 4
F_EPHEMERAL = 8  # an ephemeral model
F_PYTHON = 16
F_VIEW = 32
F_CUSTOM = 64  # a materialization dbt does not ship
F_SNAPSHOT = 128
F_SEED = 256
F_INCREMENTAL = 512
F_WARN = 1024  # data test of severity warn: a failure flags nothing
F_UPDATES_ALL = 2048
F_FOREIGN_ROOT = 8192  # a model of another package without parents
# replay-only bits (set by the compiled replay's compile step)
F_UNBILLED = 4096  # a view this profile does not bill
F_CHANGES = 16384  # the node has code changes in the timeline
F_FAILS = 32768  # the node has historical failures in the what-if failure queue
F_FIXED = 65536  # runtime and price do not depend on the gap, off the history
