"""Decode only what a shape names: the JSON of an artifact → the dicts and lists a reader uses.

A dbt manifest is mostly what saosim never reads (docs, columns, macros, the rendered configs
of every node); parsed whole into Python objects it takes 5–10× its text in memory. The shapes
of :mod:`saosim.inputs._shapes` already list every field a reader uses, so a file is decoded by
msgspec into a type made from its shape: an :class:`~saosim.inputs._shape.Obj` becomes a
``TypedDict`` of its fields (msgspec skips every other key without building it), a
:class:`~saosim.inputs._shape.MapOf` a ``dict``, a :class:`~saosim.inputs._shape.ListOf` a
``list``; every other shape keeps its whole value. Each position also takes any other JSON
value, so a value of the wrong type reaches :func:`~saosim.inputs._shape.check` unchanged and
is reported as before — decoding never refuses what the check would name more precisely.

The result is plain ``dict``/``list``/scalars, exactly the parsed file less the keys no shape
names (keys present with ``null`` stay).

>>> from saosim.inputs._shape import Obj, Str, MapOf
>>> kind = decode_type(Obj({"nodes": MapOf(Obj({"name": Str()}))}))
>>> import msgspec
>>> msgspec.json.decode(b'{"nodes": {"a": {"name": "x", "docs": [1]}, "b": 5}, "macros": {}}',
...                     type=kind)
{'nodes': {'a': {'name': 'x'}, 'b': 5}}
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any, TypedDict

from saosim.inputs._shape import KeysOf, ListOf, MapOf, Obj, OneOf, Shape

__all__ = ["SKIPPED", "decode_type"]

_names = itertools.count()


class _Nothing(TypedDict, total=False):
    """An object kept as ``{}``: its keys are not read."""


# The JSON values other than an object or a list, which any position also takes (see above).
_SCALAR = str | int | float | bool | None
# A value whose content is not read: an object becomes {}, a list keeps its items' places only.
SKIPPED = _Nothing | list[_Nothing | list[Any] | _SCALAR] | _SCALAR


@cache
def decode_type(shape: Shape) -> Any:
    """The msgspec type that decodes what ``shape`` names of a value (and any value at all).

    Cached per shape object: the shapes are module constants, and building a ``TypedDict`` for
    every node shape on every read would cost more than the read.
    """
    if isinstance(shape, Obj):
        fields = {key: decode_type(child) for key, child in shape.fields.items()}
        typed = TypedDict(f"_Obj{next(_names)}", fields, total=False)  # type: ignore[misc]
        return typed | list[Any] | _SCALAR
    if isinstance(shape, MapOf):
        return dict[str, decode_type(shape.value)] | list[Any] | _SCALAR  # type: ignore[misc]
    if isinstance(shape, KeysOf):
        return dict[str, SKIPPED] | list[SKIPPED] | _SCALAR  # type: ignore[misc]
    if isinstance(shape, ListOf):
        return list[decode_type(shape.item)] | dict[str, Any] | _SCALAR  # type: ignore[misc]
    if isinstance(shape, OneOf):
        return _one_of(shape)
    return Any


def _one_of(shape: OneOf) -> Any:
    # A list or an object (a runs listing's ``data``): the union of the two decode types, which
    # msgspec takes when it has at most one list and one object type. Anything else keeps all.
    lists = [s for s in shape.shapes if isinstance(s, ListOf)]
    objects = [s for s in shape.shapes if isinstance(s, Obj | MapOf)]
    if len(lists) + len(objects) != len(shape.shapes) or len(lists) > 1 or len(objects) > 1:
        return Any
    list_part = list[decode_type(lists[0].item)] if lists else list[Any]
    object_part = decode_type(objects[0]).__args__[0] if objects else dict[str, Any]
    return list_part | object_part | _SCALAR  # type: ignore[operator]
