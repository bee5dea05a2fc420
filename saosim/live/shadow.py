"""Shadow mode: build everything as today, and record what the planner would have reused.

A shadow run is a normal full ``dbt build`` of the selection (what a team runs before turning
SAO on). Before it, saosim plans the run with the state-aware profile and hashes every
relation it is about to build; after it, it hashes them again. Whether a node's data changed is
then a fact, not a guess, and each prediction gets a verdict:

=================  =======================  ==================================================
predicted          data after the build     verdict
=================  =======================  ==================================================
reuse              unchanged                ``correct_reuse``: SAO would have saved this build
reuse              changed                  ``false_reuse``: SAO would have served stale data
build              changed                  ``needed_build``
build              unchanged                ``wasted_build``: SAO would have built for nothing
=================  =======================  ==================================================

Each mismatch (``false_reuse``, ``wasted_build``) is then told apart (column ``mismatch``):

- ``deliberate_reuse``: a false reuse the config chose — the node's reason is
  ``within_build_after``, ``within_lag_tolerance`` or ``waiting_for_all_upstreams``, or an
  upstream node of the same run was reused for such a reason (its staleness flows down);
- ``wrong_prediction``: no config explains it — a reuse of data that had changed, or a build of
  data that did not change.

:meth:`ShadowReport.reuse` compares the share of nodes the planner predicted to reuse with the
share whose data did not change (the reuse that was actually possible), in percentage points.

The data hash (row count and an order-independent hash of every row) is read through dbt's own
connection, on DuckDB, PostgreSQL, Snowflake, BigQuery and Databricks
(:data:`saosim.live.warehouse.HASH_SQL`). The run is recorded like any other
(runs, node runs, state: every node built), so shadow runs feed the same history.

>>> verdict("reuse", False), verdict("build", False)
('correct_reuse', 'wasted_build')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from saosim.core.decision import Action, Reason
from saosim.core.planner import Plan
from saosim.core.planner import plan as make_plan
from saosim.errors import SaosimError
from saosim.inputs.manifest import read_manifest
from saosim.live.dbt_runner import BuildResult, dbt_build
from saosim.live.execution import (
    _project_dir,
    _store,
    heartbeat,
    lock_plan,
    record_build,
    warehouse_guard,
)
from saosim.live.store import StateStore, default_holder
from saosim.live.store_tables import SHADOW_SCHEMA
from saosim.live.warehouse import warehouse_data_hashes
from saosim.project.graph import Project

if TYPE_CHECKING:
    from saosim.live.runner import LivePlan

__all__ = [
    "MISMATCHES",
    "VERDICTS",
    "ShadowReport",
    "ShadowResult",
    "shadow",
    "shadow_report",
    "verdict",
]

#: The four verdicts, in report order.
VERDICTS = ("correct_reuse", "false_reuse", "needed_build", "wasted_build")
_DELIBERATE = frozenset(
    {
        Reason.WITHIN_BUILD_AFTER.value,
        Reason.WITHIN_LAG_TOLERANCE.value,
        Reason.WAITING_FOR_ALL_UPSTREAMS.value,
    }
)
#: The two kinds of mismatch.
MISMATCHES = ("deliberate_reuse", "wrong_prediction")


def verdict(predicted: str, changed: bool) -> str:
    """The verdict of one prediction (``build``/``reuse``) given whether the data changed."""
    if predicted == Action.REUSE.value:
        return "false_reuse" if changed else "correct_reuse"
    return "needed_build" if changed else "wasted_build"


@dataclass(frozen=True)
class ShadowResult:
    """One shadow run: the prediction, dbt's full build and the per-node comparison."""

    plan: LivePlan
    build: BuildResult | None
    plan_id: str
    run_id: str | None
    rows: pl.DataFrame

    def summary(self) -> dict[str, int]:
        """How many nodes got each verdict."""
        return _summary(self.rows)


def _summary(rows: pl.DataFrame) -> dict[str, int]:
    counts = dict(rows.group_by("verdict").len().iter_rows()) if rows.height else {}
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def _measured(p: Plan) -> list[str]:
    nodes = p.project.nodes  # type: ignore[attr-defined]
    return [
        d.node_id
        for d in p.decisions
        if nodes[d.node_id].is_buildable
        and not nodes[d.node_id].is_ephemeral
        and d.action in (Action.BUILD, Action.REUSE)
    ]


def shadow(live_plan: LivePlan, *, wait_timeout_s: float = 3600.0) -> ShadowResult:
    """Run a full ``dbt build`` of the plan's selection and compare with its predictions.

    Args:
        live_plan: a plan from :func:`saosim.live.plan` (the prediction).
        wait_timeout_s: how long to wait for another run building the same nodes.
    """
    ctx = live_plan._context()
    holder = default_holder()
    predicted, _ = lock_plan(
        live_plan, holder=holder, wait_timeout_s=wait_timeout_s, build_all=True
    )
    inputs = predicted._inputs
    assert inputs is not None
    # what actually runs: every selected node, as dbt without state builds it
    full = make_plan(
        predicted.project,
        inputs.state,
        at=predicted.at,
        source_versions=ctx.source_versions,
        freshness=ctx.freshness,
        profile="baseline",
        select=ctx.select,
        exclude=ctx.exclude,
    )
    full = replace(
        predicted, decisions=full.decisions, profile=full.profile, _inputs=full._inputs, live=ctx
    )
    measured = _measured(predicted)

    def hashes() -> dict:
        return warehouse_data_hashes(
            predicted.project,
            ctx.project_dir,
            measured,
            target=ctx.target,
            profiles_dir=ctx.profiles_dir,
        )

    plan_id = None
    try:
        before = hashes()
        plan_id = ctx.store.record_plan(
            predicted,
            job_id=ctx.job_id or "shadow",
            selection=ctx.selection,
            holder=holder,
            status="running",
        )
        todo = set(full.built) | set(full.ran)
        build = None
        if todo:
            with warehouse_guard(ctx), heartbeat(ctx.store, holder):
                build = dbt_build(
                    ctx.project_dir,
                    todo,
                    project=predicted.project,
                    indirect_selection="empty",
                    profiles_dir=ctx.profiles_dir,
                    target=ctx.target,
                )
        after = hashes()
    except BaseException:
        ctx.store.release(holder=holder)
        if plan_id is not None:
            ctx.store.end_plan(plan_id, "failed")
        raise
    run_id = None
    if build is not None and build.run_results_path is not None:
        run_id = record_build(predicted, full, build, plan_id=plan_id, holder=holder)
    else:
        ctx.store.release(holder=holder)
        ctx.store.end_plan(plan_id)
    statuses = build.statuses if build is not None else {}
    names = predicted.project.nodes
    records = []
    for d in predicted.decisions:
        if d.node_id not in before:
            continue
        (rows_before, hash_before), (rows_after, hash_after) = before[d.node_id], after[d.node_id]
        records.append(
            {
                "plan_id": plan_id,
                "run_id": run_id,
                "run_at": predicted.at,
                "unique_id": d.node_id,
                "name": names[d.node_id].name,
                "predicted": d.action.value,
                "reason": d.reason.value,
                "status": statuses.get(d.node_id),
                "rows_before": rows_before,
                "rows_after": rows_after,
                "hash_before": hash_before,
                "hash_after": hash_after,
                "changed": hash_before is None or hash_before != hash_after,
            }
        )
    rows = pl.DataFrame(records, schema=SHADOW_SCHEMA)
    ctx.store.record_shadow(rows)
    return ShadowResult(predicted, build, plan_id, run_id, _with_verdicts(rows, predicted.project))


def _with_verdicts(rows: pl.DataFrame, project: Project | None = None) -> pl.DataFrame:
    rows = rows.with_columns(
        pl.struct("predicted", "changed")
        .map_elements(lambda r: verdict(r["predicted"], bool(r["changed"])), return_dtype=pl.String)
        .alias("verdict"),
        (pl.col("reason").is_in(list(_DELIBERATE)) & (pl.col("predicted") == "reuse")).alias(
            "deliberate"
        ),
    )
    # a reuse downstream of a deliberate reuse in the same run is stale by the same choice
    chosen: dict[str, set[str]] = {}
    for plan_id, uid in rows.filter(pl.col("deliberate")).select("plan_id", "unique_id").rows():
        chosen.setdefault(plan_id, set()).add(uid)
    inherited = []
    for plan_id, uid, deliberate in rows.select("plan_id", "unique_id", "deliberate").rows():
        upstream = project.ancestors(uid) if project is not None and uid in project.nodes else set()
        inherited.append(bool(deliberate) or bool(upstream & chosen.get(plan_id, set())))
    rows = rows.with_columns(pl.Series("deliberate", inherited, dtype=pl.Boolean))
    return rows.with_columns(
        pl.when(pl.col("verdict") == "wasted_build")
        .then(pl.lit("wrong_prediction"))
        .when(pl.col("verdict") == "false_reuse")
        .then(
            pl.when(pl.col("deliberate"))
            .then(pl.lit("deliberate_reuse"))
            .otherwise(pl.lit("wrong_prediction"))
        )
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("mismatch")
    )


@dataclass(frozen=True)
class ShadowReport:
    """Shadow runs compared: one row per run and node (``rows``), counts per verdict."""

    rows: pl.DataFrame

    def summary(self) -> dict[str, int]:
        """How many (run, node) rows got each verdict."""
        return _summary(self.rows)

    def mismatches(self) -> dict[str, int]:
        """How many mismatches the config chose (``deliberate_reuse``) and how many it does
        not explain (``wrong_prediction``)."""
        counts = dict(self.rows.group_by("mismatch").len().iter_rows()) if self.rows.height else {}
        return {m: int(counts.get(m, 0)) for m in MISMATCHES}

    def reuse(self) -> dict[str, float]:
        """Predicted against actual reuse: the share of nodes predicted ``reuse`` and the share
        whose data did not change, in percent, and ``within_points``, their distance in
        percentage points (0 for no rows)."""
        n = self.rows.height
        if n == 0:
            return {"predicted_pct": 0.0, "actual_pct": 0.0, "within_points": 0.0}
        predicted = 100.0 * self.rows.filter(pl.col("predicted") == "reuse").height / n
        actual = 100.0 * self.rows.filter(~pl.col("changed")).height / n
        return {
            "predicted_pct": round(predicted, 1),
            "actual_pct": round(actual, 1),
            "within_points": round(abs(predicted - actual), 1),
        }

    def per_model(self) -> pl.DataFrame:
        """Per node: how many shadow runs gave each verdict (one column per verdict)."""
        if self.rows.height == 0:
            return pl.DataFrame(
                schema={
                    "unique_id": pl.String,
                    "name": pl.String,
                    **{v: pl.UInt32 for v in VERDICTS},
                }
            )
        wide = self.rows.pivot(
            "verdict", index=["unique_id", "name"], values="run_at", aggregate_function="len"
        )
        for v in VERDICTS:
            if v not in wide.columns:
                wide = wide.with_columns(pl.lit(0, dtype=pl.UInt32).alias(v))
        return wide.select("unique_id", "name", *VERDICTS).fill_null(0).sort("unique_id")


def shadow_report(
    project_dir: str | Path,
    *,
    state: StateStore | str | Path | None = None,
    latest: bool = False,
    project: Project | None = None,
) -> ShadowReport:
    """Compare every recorded shadow run's predictions with what actually changed.

    Args:
        project_dir: the dbt project folder.
        state: the state store (default ``<project>/.saosim/state.duckdb``).
        latest: only the most recent shadow run.
        project: the DAG, to carry a deliberate reuse down to the nodes built from it
            (default: the project's ``target/manifest.json``, when there is one).

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "dbt_project.yml").write_text("name: demo")
    ...     shadow_report(d).summary()
    {'correct_reuse': 0, 'false_reuse': 0, 'needed_build': 0, 'wasted_build': 0}
    """
    folder = _project_dir(project_dir)
    store = _store(folder, state)
    rows = store.shadow()
    if latest and rows.height:
        last = rows.sort("run_at").get_column("plan_id")[-1]
        rows = rows.filter(pl.col("plan_id") == last)
    if project is None and rows.height:
        project = _last_manifest(folder)
    return ShadowReport(_with_verdicts(rows, project))


def _last_manifest(folder: Path) -> Project | None:
    # the DAG of the last dbt invocation (a shadow run writes it), to follow staleness down
    manifest = folder / "target" / "manifest.json"
    try:
        return read_manifest(manifest) if manifest.is_file() else None
    except SaosimError:
        return None
