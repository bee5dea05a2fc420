"""Declarative type checks for parsed JSON: one shape per artifact, checked before it is used.

A reader declares what it uses of a file as a shape (:class:`Obj` of :class:`Str`,
:class:`Int`, :class:`ListOf` …) and calls :func:`check` once; every value of a wrong type is
found in one pass and reported as one :class:`~saosim.errors.ArtifactError` naming the file, the
JSON path of the first problem (with the node id or the row, when there is one) and how many
more there are. After the check the reader may index the data without ``isinstance`` guards.

Every field of an :class:`Obj` is optional and may be ``null`` unless listed in ``required``;
keys the shape does not name are not looked at (dbt adds fields in every release).

>>> shape = Obj({"name": Str(), "tags": ListOf(Str()), "n": Int(lo=0)}, required=("name",))
>>> check({"name": "a", "tags": ["x"], "n": 3}, shape, path="m.json")
>>> check({"tags": ["x", 5], "n": -1}, shape, path="m.json")
Traceback (most recent call last):
...
saosim.errors.ArtifactError: m.json, field "name": is missing; also tags[1]: 5 is not a \
string; n: -1 is less than 0
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from saosim.errors import ArtifactError, join_problems

__all__ = [
    "INT64_MAX",
    "AnyJson",
    "Bool",
    "Int",
    "KeysOf",
    "ListOf",
    "MapOf",
    "Num",
    "Obj",
    "OneOf",
    "Problems",
    "Shape",
    "Str",
    "check",
    "render_at",
]

INT64_MAX = 2**63 - 1
_LIMIT = 200  # problems kept in full; the rest are only counted

At = tuple[str | int, ...]


def render_at(at: At) -> str:
    """A JSON path from its parts, e.g. ``nodes['model.a'].tags[0]``.

    >>> render_at(("results", 3, "timing", 0, "started_at"))
    'results[3].timing[0].started_at'
    """
    out = ""
    for part in at:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


@dataclass
class Problems:
    """The problems found in one file (the first :data:`_LIMIT` in full, the rest counted)."""

    items: list[tuple[At, str]] = field(default_factory=list)
    count: int = 0

    def add(self, at: At, message: str) -> None:
        self.count += 1
        if len(self.items) < _LIMIT:
            self.items.append((at, message))


class Shape(ABC):
    """What a value must be; ``what`` names it in messages. Each kind of shape says how it
    checks a value."""

    what = "a value"

    @abstractmethod
    def check(self, value: Any, at: At, out: Problems) -> None:
        """Add to ``out`` what is wrong with ``value`` at ``at``."""

    def wrong(self, value: Any, at: At, out: Problems) -> None:
        out.add(at, f"{_show(value)} is not {self.what}")


class AnyJson(Shape):
    """Any JSON value (named so the shape documents that the reader looks at the key)."""

    def check(self, value: Any, at: At, out: Problems) -> None:
        return None


class KeysOf(Shape):
    """An object whose keys alone are read (a reader ignores it when it is not an object); its
    values are neither checked nor kept (see :mod:`saosim.inputs._prune`)."""

    def check(self, value: Any, at: At, out: Problems) -> None:
        return None


class Str(Shape):
    what = "a string"

    def __init__(self, *, one_of: tuple[str, ...] | None = None, max_len: int | None = None):
        self.one_of = one_of
        self.max_len = max_len

    def check(self, value: Any, at: At, out: Problems) -> None:
        if not isinstance(value, str):
            self.wrong(value, at, out)
        elif self.one_of is not None and value not in self.one_of:
            out.add(at, f"{_show(value)} is not one of {', '.join(self.one_of)}")
        elif self.max_len is not None and len(value) > self.max_len:
            out.add(at, f"is {len(value):,} characters long; at most {self.max_len:,} expected")


class Bool(Shape):
    what = "true or false"

    def check(self, value: Any, at: At, out: Problems) -> None:
        if not isinstance(value, bool):
            self.wrong(value, at, out)


class Num(Shape):
    """A finite number (not a boolean) between ``lo`` and ``hi``."""

    what = "a number"

    def __init__(self, *, lo: float | None = None, hi: float | None = None):
        self.lo, self.hi = lo, hi

    def check(self, value: Any, at: At, out: Problems) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong(value, at, out)
        elif isinstance(value, float) and not math.isfinite(value):
            out.add(at, f"{value!r} is not a finite number")
        elif self.lo is not None and value < self.lo:
            out.add(at, f"{_show(value)} is less than {self.lo}")
        elif self.hi is not None and value > self.hi:
            out.add(at, f"{_show(value)} is more than {self.hi:,}")


class Int(Num):
    """A whole number (an integral float such as ``3.0`` counts) in 64 bits, ``lo``..``hi``."""

    what = "a whole number"

    def __init__(self, *, lo: int | None = None, hi: int = INT64_MAX):
        super().__init__(lo=lo, hi=hi)

    def check(self, value: Any, at: At, out: Problems) -> None:
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            self.wrong(value, at, out)
        else:
            super().check(value, at, out)


class ListOf(Shape):
    what = "a list"

    def __init__(self, item: Shape, *, nulls: bool = False):
        self.item, self.nulls = item, nulls

    def check(self, value: Any, at: At, out: Problems) -> None:
        if not isinstance(value, list):
            self.wrong(value, at, out)
            return
        item = self.item
        for i, v in enumerate(value):
            if v is None:
                if not self.nulls:
                    out.add((*at, i), "is null")
            else:
                item.check(v, (*at, i), out)


class MapOf(Shape):
    """An object whose every value has one shape (keys are whatever the file says)."""

    what = "an object"

    def __init__(self, value: Shape):
        self.value = value

    def check(self, value: Any, at: At, out: Problems) -> None:
        if not isinstance(value, dict):
            self.wrong(value, at, out)
            return
        shape = self.value
        for key, v in value.items():
            if v is None:
                out.add((*at, key), "is null")
            else:
                shape.check(v, (*at, key), out)


class Obj(Shape):
    """An object with named fields; ``required`` fields must be present and not null."""

    what = "an object"

    def __init__(
        self,
        fields: Mapping[str, Shape],
        *,
        required: tuple[str, ...] = (),
        rule: Callable[[dict[str, Any], At, Problems], None] | None = None,
    ):
        self.fields = dict(fields)
        self.required = required
        self.rule = rule

    def check(self, value: Any, at: At, out: Problems) -> None:
        if not isinstance(value, dict):
            self.wrong(value, at, out)
            return
        for key in self.required:
            if value.get(key) is None:
                out.add((*at, key), "is missing")
        for key, shape in self.fields.items():
            v = value.get(key)
            if v is not None:
                shape.check(v, (*at, key), out)
        if self.rule is not None:
            self.rule(value, at, out)


class OneOf(Shape):
    """The first shape that takes the value without a problem; else the first one's problems."""

    def __init__(self, *shapes: Shape, what: str):
        self.shapes = shapes
        self.what = what

    def check(self, value: Any, at: At, out: Problems) -> None:
        for shape in self.shapes:
            trial = Problems()
            shape.check(value, at, trial)
            if not trial.count:
                return
        self.wrong(value, at, out)


def check(
    data: Any,
    shape: Shape,
    *,
    path: str,
    node_sections: frozenset[str] = frozenset(),
    row_lists: frozenset[str] = frozenset(),
) -> None:
    """Check ``data`` against ``shape``; raise one :class:`ArtifactError` for every problem.

    Args:
        data: the parsed JSON.
        shape: what it must be.
        path: the file, for the message.
        node_sections: top-level keys whose entries are nodes: their key becomes ``node_id``.
        row_lists: top-level keys whose items are rows: their index becomes ``row``.
    """
    out = Problems()
    shape.check(data, (), out)
    if not out.count:
        return
    at, message = out.items[0]
    node_id = row = None
    rest = at
    if len(at) >= 2 and at[0] in node_sections and isinstance(at[1], str):
        node_id, rest = at[1], at[2:]
    elif len(at) >= 2 and at[0] in row_lists and isinstance(at[1], int):
        row, rest = at[1], (at[0], *at[2:])
    others = [f"{render_at(a)}: {m}" for a, m in out.items[1:]]
    if out.count > len(out.items):
        others.append(f"{out.count - len(out.items)} more not listed")
    more = f"; also {join_problems(others, limit=3)}" if others else ""
    raise ArtifactError(
        message + more, path=path, field=render_at(rest) or None, node_id=node_id, row=row
    )
