"""What the recommender returns: the chosen tiers and schedule, the frontier, a reason per node,
and the files to paste into a dbt project.

>>> p = Point("a", "history", "tiers", 10.0, 4.0, 3.0, None)
>>> q = Point("b", "history", "tiers", 12.0, 5.0, 2.0, None)
>>> r = Point("c", "history", "tiers", 12.0, 6.0, 3.5, None)
>>> [(x.label, x.pareto) for x in pareto([p, q, r])]
[('a', True), ('b', True), ('c', False)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from saosim.project.slas import hours_text
from saosim.project.tiers import Tiers, tiers_to_dbt_yaml
from saosim.tune.recommend_score import Candidate, CompiledEstate, Schedule, Score
from saosim.tune.recommend_search import TOLERANCE_H, NodeFacts, cadence_text

__all__ = ["Point", "Recommendation", "explain", "pareto"]


@dataclass(frozen=True)
class Point:
    """One scored setting on the cost-vs-breach axes.

    ``kind``: ``per-node`` (the structural search's settings, one per node), ``tiers`` (what
    can be exported), ``baseline`` (what ran) or ``scenario`` (the user's own).
    """

    label: str
    schedule: str
    kind: str
    cost_usd: float
    bill_usd: float | None
    sla_breach_pct: float
    tiers: Mapping[str, Any] | None = None
    pareto: bool = False

    @classmethod
    def of(
        cls, label: str, schedule: str, kind: str, s: Score, tiers: Mapping[str, Any] | None
    ) -> Point:
        return cls(label, schedule, kind, s.cost_usd, s.bill_usd, s.sla_breach_pct, tiers)

    @property
    def price_usd(self) -> float:
        return self.cost_usd if self.bill_usd is None else self.bill_usd

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "tiers"}
        if self.tiers is not None:
            out["tiers"] = json.loads(json.dumps(self.tiers))
        return out


def pareto(points: Sequence[Point]) -> list[Point]:
    """The points, each marked ``pareto`` when no other is at most as dear and as stale and
    better on one (price: the bill, else the query-seconds cost)."""
    out = []
    for p in points:
        dominated = any(
            q.price_usd <= p.price_usd
            and q.sla_breach_pct <= p.sla_breach_pct
            and (q.price_usd < p.price_usd or q.sla_breach_pct < p.sla_breach_pct)
            for q in points
        )
        out.append(replace(p, pareto=not dominated))
    return out


@dataclass
class Recommendation:
    """The recommender's answer (:func:`saosim.tune.recommend.recommend`).

    Attributes:
        tiers: the recommended tiers (scenario-file form), ``None`` when the baseline is
            recommended (nothing scored was cheaper and no worse on the SLAs).
        schedule: the jobs to run them on (the history's, or cron jobs).
        baseline, recommended: the two points compared; ``candidates`` every one scored,
            marked ``pareto``; ``scenarios`` the user's own.
        why: per node id, one line saying why its setting.
        reason: why this recommendation, in one sentence.
    """

    project: str
    slas: Mapping[str, float]
    profile: str
    schedule: Schedule
    tiers: Mapping[str, Any] | None
    baseline: Point
    recommended: Point
    candidates: list[Point]
    scenarios: list[Point]
    why: Mapping[str, str]
    reason: str
    candidates_scored: int
    timings: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    executor: str = "serial"

    @property
    def recommends_baseline(self) -> bool:
        return self.tiers is None

    @property
    def frontier(self) -> list[Point]:
        """The Pareto-optimal candidates, cheapest first."""
        return sorted((p for p in self.candidates if p.pareto), key=lambda p: p.price_usd)

    def scenario(self) -> dict[str, Any]:
        """The recommendation as a scenario file (``saosim simulate --scenario``)."""
        if self.tiers is None:
            return {"profile": "baseline"}
        out: dict[str, Any] = {"profile": self.profile, "tiers": json.loads(json.dumps(self.tiers))}
        if self.schedule.jobs is not None:
            out["jobs"] = [
                {"name": j.name, "cron": j.cron, "select": j.select} for j in self.schedule.jobs
            ]
        return out

    def to_dict(self) -> dict[str, Any]:
        """What ``saosim recommend --format json`` prints."""
        rec = self.recommended.to_dict()
        rec["tiers"] = self.scenario().get("tiers")
        rec["schedule"] = self.schedule.name
        rec["jobs"] = self.scenario().get("jobs")
        rec["profile"] = self.profile if self.tiers is not None else "baseline"
        return {
            "project": self.project,
            "slas": {k: hours_text(v) for k, v in self.slas.items()},
            "baseline": self.baseline.to_dict(),
            "recommended": rec,
            "recommends_baseline": self.recommends_baseline,
            "reason": self.reason,
            "frontier": [p.to_dict() for p in self.frontier],
            "candidates": [p.to_dict() for p in self.candidates],
            "scenarios": [p.to_dict() for p in self.scenarios],
            "candidates_scored": self.candidates_scored,
            "why": dict(self.why),
            "seed": self.seed,
            "executor": self.executor,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def dbt_yaml(self, project: Any) -> dict[str, str]:
        """The ``dbt_project.yml`` ``+freshness`` patch and the properties YAML for the nodes
        that differ from their folder (``saosim tiers`` export); empty for the baseline."""
        if self.tiers is None:
            return {}
        return tiers_to_dbt_yaml(Tiers.from_dict(dict(self.tiers)).resolve(project), project)

    def figure(self) -> Any:
        """The frontier figure (:func:`saosim.report.figures.frontier_figure`)."""
        from saosim.report.figures import frontier_figure

        return frontier_figure(self.to_dict())

    def comparison(self, estate: Any, cost_model: Any = None) -> Any:
        """Baseline vs the recommendation (and nothing else), replayed by ``simulate``."""
        from saosim.replay.engine import simulate
        from saosim.replay.scenario_config import scenario_from_dict

        scenarios = (
            [] if self.tiers is None else [scenario_from_dict(self.scenario(), "recommended")]
        )
        return simulate(estate, scenarios, slas={"slas": dict(self.slas)}, cost_model=cost_model)

    def write(self, out: str | Path, estate: Any, cost_model: Any = None) -> dict[str, Path]:
        """Write ``recommendation.json``, the scenario file, the dbt YAML and the report."""
        from saosim.report import write_report

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"recommendation": folder / "recommendation.json"}
        files["recommendation"].write_text(json.dumps(self.to_dict(), indent=2, default=str))
        files["scenario"] = folder / "recommended.yml"
        files["scenario"].write_text(yaml.safe_dump(self.scenario(), sort_keys=False))
        for name, text in self.dbt_yaml(estate.project).items():
            path = folder / "dbt" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            files[name] = path
        cmp = self.comparison(estate, cost_model)
        files["report"] = write_report(cmp, folder / "recommend.html", frontier=self.to_dict())
        return files


def explain(
    ce: CompiledEstate,
    cand: Candidate,
    score: Score,
    facts: NodeFacts,
    rounds: Sequence[np.ndarray],
    lint: tuple[np.ndarray, np.ndarray],
    tiers: Mapping[str, Any],
) -> dict[str, str]:
    """One line per node: how its data lands, the SLA that binds it, and why this window."""
    project = ce.estate.project
    cfg = Tiers.from_dict(dict(tiers)).resolve(project)
    base = np.nan_to_num(ce.baseline_score.miss_h, nan=0.0)
    mine = np.nan_to_num(score.miss_h, nan=0.0)
    first, last = rounds[0], rounds[-1]
    out = {}
    for i, uid in enumerate(ce.nodes):
        w = cand.windows[i]
        parts = [cadence_text(facts.cadence_s[i], facts.lands_at[i])]
        sla = facts.sla_s[i]
        if np.isfinite(sla):
            who = facts.binding[i]
            if who == uid:
                parts.append(f"its SLA is {hours_text(sla)}")
            else:
                parts.append(f"its consumers' SLA is {hours_text(sla)} ({project.nodes[who].name})")
        else:
            parts.append("no SLA reaches it")
        run = lint[1][i]
        if np.isfinite(run):
            parts.append(
                f"its jobs reach it about every {hours_text(max(60.0, round(run / 60) * 60))}"
            )
        tier = cfg.for_node(uid).tier or "default"
        worse = mine[i] - base[i] > TOLERANCE_H
        choice = _choice(int(w), int(first[i]), int(last[i]), tier)
        if worse:
            choice += (
                f"; still {mine[i] - base[i]:.1f} h more over its SLA than what ran, "
                "from its upstream or its schedule"
            )
        parts.append(choice)
        out[uid] = "; ".join(parts)
    return out


def _choice(w: int, first: int, last: int, tier: str) -> str:
    """Why this window, from the proposal (``first``), the repair (``last``) and the tier.

    >>> _choice(72000, 72000, 72000, "default")
    "20h is the longest window that keeps a run inside the SLA and its jobs' cadence"
    """
    if w == 0 and first == 0:
        return "no window: none keeps a run inside the SLA without the cadence lint flagging it"
    if w == 0:
        return (
            f"no window: every window tried from {hours_text(first)} down breached it more "
            "than what ran"
        )
    if w == last == first:
        return (
            f"{hours_text(w)} is the longest window that keeps a run inside the SLA and its "
            "jobs' cadence"
        )
    if w == last:
        return (
            f"{hours_text(first)} breached it more than what ran; {hours_text(w)} is the "
            "longest tried that did not"
        )
    return f"{hours_text(w)}: its tier {tier!r}'s window (alone it would take {hours_text(last)})"
