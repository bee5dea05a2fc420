"""Walking code text outside its string literals: the one scanner behind the small parsers of
``{{ config(...) }}`` calls and Jinja blocks.

>>> [ch for _, ch in outside_strings("a'b,c'd", 0)]
['a', 'd']
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["outside_strings"]


def outside_strings(text: str, start: int) -> Iterator[tuple[int, str]]:
    """Index and character of every character from ``start`` that is not inside a ``'…'`` or
    ``"…"`` literal (backslash escapes respected); the quotes themselves are skipped too."""
    quote = ""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch
        i += 1
