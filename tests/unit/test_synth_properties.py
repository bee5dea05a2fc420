"""Invariants of any synthetic estate, over generated sizes, seeds and job sets (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saosim.synth.estate import DEFAULT_START, SynthJob, synthetic_estate

JOBS = st.lists(
    st.sampled_from(
        [
            SynthJob("hourly", "5 * * * *", "tag:hourly", threads=2),
            SynthJob("nightly", "0 3 * * *", None, threads=4),
            SynthJob("staging", "*/30 * * * *", "path:models/staging", threads=1),
            SynthJob("marts", "0 */4 * * *", "+path:models/marts", threads=8),
        ]
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda j: j.job_id,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_models=st.integers(20, 120),
    days=st.floats(0.5, 3.0),
    seed=st.integers(0, 2**32 - 1),
    jobs=JOBS,
)
def test_every_estate_is_consistent(n_models: int, days: float, seed: int, jobs: list) -> None:
    est = synthetic_estate(n_models, days, seed, jobs=jobs)
    p = est.project
    runs, rows = est.runs, est.node_runs
    end = DEFAULT_START + timedelta(days=days)
    # Runs are scheduled inside the span (and start a few seconds after their tick).
    assert set(runs.get_column("job_id")) <= {j.job_id for j in jobs}
    if runs.height:
        assert runs.get_column("started_at").min() >= DEFAULT_START
        assert runs.get_column("started_at").max() < end + timedelta(minutes=10)
        assert (runs.get_column("finished_at") > runs.get_column("started_at")).all()
    # Every node that ran is buildable (not ephemeral) or a data test.
    kinds = {p.nodes[u].resource_type for u in rows.get_column("unique_id").unique()}
    assert kinds <= {"model", "seed", "snapshot", "test"}
    # Within a run, a node starts after its parents finished; a failed parent skips it.
    status = {(r, u): (s, a, b) for r, u, s, a, b in rows.select(
        "run_id", "unique_id", "status", "started_at", "completed_at").iter_rows()}  # fmt: skip
    for (run_id, uid), (state, began, _) in status.items():
        for parent in p.parents(uid):
            if (run_id, parent) not in status:
                continue
            parent_state, _, parent_end = status[(run_id, parent)]
            if parent_state in ("error", "skipped"):
                assert state == "skipped", (uid, parent)
            elif began is not None:
                assert began >= parent_end
    # A run is an error exactly when a node errored or a test failed in it.
    failed = rows.group_by("run_id").agg(bad=pl.col("status").is_in(["error", "fail"]).any())
    joined = runs.join(failed, on="run_id", how="left").with_columns(pl.col("bad").fill_null(False))
    assert ((joined.get_column("status") == "error") == joined.get_column("bad")).all()
    # Arrivals: every source has data before the first run, and none after the span.
    assert est.source_arrivals.get_column("unique_id").n_unique() == len(p.sources)
    assert est.source_arrivals.get_column("arrived_at").max() < end
