"""Times as the compiled planner reads them: int64 microseconds since the epoch, UTC.

>>> from_us(to_us(datetime(2025, 1, 1, tzinfo=UTC)))
datetime.datetime(2025, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["from_us", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# a plan converts the same few times (run starts, build ends) over and over
_TO_US: dict[datetime, int] = {}
_FROM_US: dict[int, datetime] = {}


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of a UTC-aware time.

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    us = _TO_US.get(value)
    if us is None:
        if len(_TO_US) > 1 << 16:
            _TO_US.clear()
        us = _TO_US[value] = (value - _EPOCH) // _US
    return us


def from_us(value: int) -> datetime:
    """The UTC time of microseconds since the epoch (inverse of :func:`to_us`)."""
    t = _FROM_US.get(value)
    if t is None:
        if len(_FROM_US) > 1 << 16:
            _FROM_US.clear()
        t = _FROM_US[value] = _EPOCH + timedelta(microseconds=int(value))
    return t
