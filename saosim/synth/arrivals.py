"""When new data lands in each source: hourly, every few hours, daily, weekly or irregularly.

Each source gets one :class:`Cadence`; :func:`draw_arrivals` turns it into arrival times
(microseconds since the epoch) with jitter and the odd missed load, plus the last load before
the history starts, so every source has data at the first run.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> c = Cadence("daily", period_s=86400, offset_s=3 * 3600)
>>> t = draw_arrivals(c, rng, 0, 7 * 86400 * 10**6)
>>> 6 <= len(t) <= 9
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CADENCE_KINDS", "Cadence", "cadences", "draw_arrivals", "per_day"]

CADENCE_KINDS = ("hourly", "every_n_hours", "daily", "weekly", "irregular")
# Shares of cadences; sources that feed hourly models mostly land hourly (that is why those
# models are hourly).
_P_DEFAULT = (0.12, 0.20, 0.43, 0.10, 0.15)
_P_HOURLY = (0.50, 0.30, 0.12, 0.0, 0.08)
_US = 1_000_000
_WEEK_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class Cadence:
    """How one source is loaded.

    ``period_s`` is the interval of a regular loader (the mean interval for ``irregular``);
    ``offset_s`` the phase within it; ``jitter_s`` the spread around it; ``miss_p`` the chance a
    load does not happen; ``weekdays_only`` skips Saturday and Sunday (business systems).
    """

    kind: str
    period_s: float
    offset_s: float = 0.0
    jitter_s: float = 60.0
    miss_p: float = 0.02
    weekdays_only: bool = False


def cadences(
    sources: Sequence[str],
    rng: np.random.Generator,
    *,
    feeds_hourly: Sequence[bool],
    mix: Sequence[float] | None = None,
) -> list[Cadence]:
    """One cadence per source, drawn from realistic shares.

    Args:
        mix: shares of :data:`CADENCE_KINDS` for sources that do not feed hourly models
            (default: 12% hourly, 20% every few hours, 43% daily, 10% weekly, 15% irregular).

    >>> cs = cadences(["a", "b"], np.random.default_rng(1), feeds_hourly=[True, False])
    >>> all(c.kind in CADENCE_KINDS for c in cs)
    True
    """
    p_default: Sequence[float] = _P_DEFAULT
    if mix is not None:
        shares = np.asarray(mix, np.float64)
        if shares.shape != (5,) or (shares < 0).any() or shares.sum() <= 0:
            raise ValueError(f"mix {mix!r} must be five non-negative shares of {CADENCE_KINDS}")
        p_default = tuple(shares / shares.sum())
    out = []
    for hot in feeds_hourly:
        kind = CADENCE_KINDS[int(rng.choice(5, p=_P_HOURLY if hot else p_default))]
        if kind == "hourly":
            c = Cadence(kind, 3600, rng.uniform(0, 3600), jitter_s=90)
        elif kind == "every_n_hours":
            n = int(rng.choice([2, 3, 4, 6, 8, 12]))
            c = Cadence(kind, n * 3600, rng.uniform(0, n * 3600), jitter_s=300)
        elif kind == "daily":
            c = Cadence(
                kind,
                86400,
                rng.uniform(0, 9) * 3600,
                jitter_s=900,
                miss_p=0.03,
                weekdays_only=bool(rng.random() < 0.3),
            )
        elif kind == "weekly":
            c = Cadence(kind, _WEEK_S, rng.uniform(0, _WEEK_S), jitter_s=1800, miss_p=0.02)
        else:
            c = Cadence(kind, float(rng.uniform(3, 36)) * 3600, miss_p=0.0)
        out.append(c)
    assert len(out) == len(sources)
    return out


def draw_arrivals(
    cadence: Cadence, rng: np.random.Generator, t0_us: int, span_us: int
) -> np.ndarray:
    """Sorted, distinct arrival times in ``[t0, t0 + span)``, plus the last one before ``t0``."""
    lead_s = max(cadence.period_s * 2, 8 * 86400.0)
    lo_s = t0_us / _US - lead_s
    hi_s = (t0_us + span_us) / _US
    if cadence.kind == "irregular":
        n = int((hi_s - lo_s) / cadence.period_s * 1.5) + 10
        gaps = rng.exponential(cadence.period_s, size=n)
        times = lo_s + np.cumsum(gaps)
    else:
        # The grid is anchored to the epoch (Thursday 1970-01-01) so weekly loads keep a weekday.
        first = np.floor(lo_s / cadence.period_s) * cadence.period_s + cadence.offset_s
        times = np.arange(first, hi_s + cadence.period_s, cadence.period_s)
        times = times + rng.normal(0.0, cadence.jitter_s, size=times.shape[0])
        keep = rng.random(times.shape[0]) >= cadence.miss_p
        if cadence.weekdays_only:
            weekday = (np.floor(times / 86400).astype(np.int64) + 3) % 7  # Monday = 0
            keep &= weekday < 5
        times = times[keep]
    us = np.unique(np.round(times * 1000).astype(np.int64) * 1000)
    inside = us[(us >= t0_us) & (us < t0_us + span_us)]
    before = us[us < t0_us]
    return np.concatenate([before[-1:], inside])


def per_day(cadence: Cadence) -> float:
    """How many loads a day a cadence brings, on average.

    >>> per_day(Cadence("hourly", 3600, miss_p=0)), round(per_day(Cadence("weekly", 604800)), 3)
    (24.0, 0.14)
    """
    rate = 86400.0 / cadence.period_s * (1.0 - cadence.miss_p)
    return rate * (5 / 7 if cadence.weekdays_only else 1.0)
