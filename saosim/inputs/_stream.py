"""Decode JSON as it arrives: a gzip artifact parsed from its decompressor, never whole in memory.

A gzipped manifest is 10× smaller than its text, so holding the text to decode it (as
:func:`msgspec.json.decode` needs) costs far more than the file. This decoder reads the text a
window at a time from an iterator of chunks and keeps only what the shape names
(:mod:`saosim.inputs._prune`):

* the top-level object and the objects and lists directly inside it (a manifest's sections, a
  run_results' ``results``) are walked here, member by member;
* every value below them (one node, one result, one macro) is decoded by msgspec with the same
  decode type the whole-file decode gives it, so the answer is exactly the one of
  ``msgspec.json.decode(text, type=decode_type(shape))``; a member no shape names is skipped
  (walked, never built), as msgspec skips it.

msgspec has no incremental API, so the end of a value is found by letting msgspec skip it (as
``msgspec.Raw``, nothing built) from its first byte to the window's end: it stops at the byte
after it ("trailing characters (byte N)"), and the value is then decoded from exactly its
bytes. A value that runs past the window is retried with a window twice as long (amortised
linear); one longer than :data:`_LARGEST` (256 KB; the largest GitLab node is 110 KB) is walked
like the levels above instead, so damage that leaves an object open to the end of the file
never makes the window the whole text. Damage is reported as the whole-file decode reports
it: the same reason, line, column and byte (:class:`SyntaxFault`), so a message does not
depend on whether the file was gzipped.

Cost, on the GitLab manifest (3.5 MB gzip, 40 MB of text, 30,000 members of its sections):
the decode takes ~2.6× as long as the whole-text decode (a skip and a decode per member, and
the walk in Python), a read into a Project ~1.7×, ``ingest`` ~1.5×; the read's peak falls
from 74 MB to 50 MB, most of which is what the reader keeps (31.5 MB of pruned nodes, then a
25 MB Project).

>>> decode_stream(iter([b'{"nodes": {"a": {"name": "x", "d', b'ocs": [1]}}, "macros": {}}']),
...               None)
{'nodes': {'a': {'name': 'x', 'docs': [1]}}, 'macros': {}}
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from saosim.inputs._prune import SKIPPED, decode_type
from saosim.inputs._shape import KeysOf, ListOf, MapOf, Obj, Shape

__all__ = ["LONE_SURROGATE", "SyntaxFault", "decode_stream"]

# \uD800-\uDBFF not followed by \uDC00-\uDFFF, or a low half alone (not after an escaped \)
LONE_SURROGATE = re.compile(
    rb"(?<!\\)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<![\\]u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_BYTE = re.compile(r"\(byte (\d+)\)$")
_BLANKS = re.compile(rb"[ \t\r\n]*")
_KEY = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# a member's key and colon, with the first byte of its value in view; what ends a member
_HEAD = re.compile(
    rb'[ \t\r\n]*("[^"\\]*(?:\\.[^"\\]*)*")[ \t\r\n]*:[ \t\r\n]*(?=[^ \t\r\n])', re.DOTALL
)
_OBJECT_NEXT = re.compile(rb"[ \t\r\n]*([,}])")
_LIST_NEXT = re.compile(rb"[ \t\r\n]*([,\]])")
_TRUNCATED = "Input data was truncated"
_BAD_UTF8 = "Invalid UTF-8 encoded string"
_TRAILING = "JSON is malformed: trailing characters (byte "
# Values this deep in the file are decoded whole by msgspec; the levels above are walked here.
_WALKED = 2
# Bytes read at least per refill of the window; a value longer than the window doubles it.
_REFILL = 1 << 16
# A value whose text is longer is walked rather than held whole (the largest GitLab node: 110 KB)
_LARGEST = 1 << 18
_OPENERS = (ord("{"), ord("["))
# An error this close to the window's end may be an artefact of the cut (``1.`` of ``1.5``):
# it is retried with more text before it is believed.
_NEAR_END = 16


class SyntaxFault(Exception):
    """The text is not valid JSON: msgspec's reason, and the byte it points at (the end of the
    text when msgspec names none, as for truncation), with its line and column. Raised after
    the input has been read to its end, so ``total`` (the text's length) is known."""

    def __init__(self, reason: str, pos: int, total: int, line: int, column: int):
        super().__init__(reason)
        self.reason, self.pos, self.total = reason, pos, total
        self.line, self.column = line, column


class _Skip:
    """A position whose value is walked or decoded to be validated, then dropped."""


_DROP = _Skip()
# A position: a shape (its decode type keeps what it names), None (keep everything), _DROP,
# or SKIPPED (a KeysOf's values: decoded as :data:`saosim.inputs._prune.SKIPPED`).
Position = Any


def _decode_type(pos: Position) -> Any:
    if pos is _DROP:
        return msgspec.Raw
    if pos is SKIPPED:
        return SKIPPED
    return Any if pos is None else decode_type(pos)  # type: ignore[arg-type]


def _walkable(pos: Position) -> bool:
    return pos is None or pos is _DROP or isinstance(pos, Obj | MapOf | KeysOf | ListOf)


def _member(pos: Position, key: str | None) -> tuple[Position, str]:
    """The position of ``key`` in an object at ``pos``, and its step in msgspec's path."""
    if isinstance(pos, Obj):
        return (_DROP, "") if key is None else (pos.fields.get(key, _DROP), f".{key}")
    if isinstance(pos, MapOf):
        return pos.value, "[...]"
    if isinstance(pos, KeysOf):
        return SKIPPED, "[...]"
    return (_DROP if pos is _DROP else None), "[...]"


def _item(pos: Position) -> Position:
    """The position of an item of a list at ``pos``."""
    if isinstance(pos, ListOf):
        return pos.item
    if isinstance(pos, KeysOf):
        return SKIPPED
    return _DROP if pos is _DROP else None


class _Reader:
    """The window over the text: ``buf[at:size]`` is not yet consumed, and ``buf[0]`` is byte
    ``start`` of the text.

    The window is an anonymous memory map, reused from refill to refill (the unread text moved
    to its front) and replaced by one twice as large when a value outgrows it: a window made
    of new ``bytes`` at every refill fragments the heap, and a read of a 40 MB text that keeps
    nothing took 5 MB of resident memory instead of a few hundred KB.
    """

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.buf = _new_map(2 * _REFILL)
        self.size = 0
        self.at = 0
        self.start = 0
        self.eof = False
        self.lines = 0  # newlines in the text read so far,
        self.line_start = 0  # and the byte after the last one
        self.start_line_start = 0  # the same, of the text before ``start``

    def view(self) -> memoryview:
        """The text not yet consumed."""
        return memoryview(self.buf)[self.at : self.size]

    def refill(self, at_least: int | None = None) -> bool:
        """Drop the consumed text, read ``at_least`` more bytes; False at the end of the text."""
        if self.eof:
            return False
        if self.at:
            newline = self.buf.rfind(b"\n", 0, self.at)
            if newline >= 0:
                self.start_line_start = self.start + newline + 1
            self.buf.move(0, self.at, self.size - self.at)
            self.start, self.size, self.at = self.start + self.at, self.size - self.at, 0
        got, wanted = 0, _REFILL if at_least is None else at_least
        while got < wanted:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.eof = True
                break
            found = chunk.count(b"\n")
            if found:
                self.lines += found
                self.line_start = self.start + self.size + chunk.rfind(b"\n") + 1
            end = self.size + len(chunk)
            if end > len(self.buf):
                # a new map, not resize(): a view of the old one may still be alive
                bigger = _new_map(max(end, 2 * len(self.buf)))
                bigger[: self.size] = self.buf[: self.size]
                self.buf = bigger
            self.buf[self.size : end] = chunk
            self.size = end
            got += len(chunk)
        return got > 0

    def peek(self) -> int | None:
        """The next byte that is not blank (not consumed), or None at the end of the text."""
        while True:
            self.at = _BLANKS.match(self.buf, self.at, self.size).end()  # type: ignore[union-attr]
            if self.at < self.size:
                return self.buf[self.at]
            if not self.refill():
                return None

    def fault(self, reason: str, pos: int | None) -> SyntaxFault:
        """A fault at byte ``pos`` of the text (``None``: its end), raised after the rest of the
        input is read — whose own faults (a damaged gzip stream, the size bound) come first, as
        they do when the text is read whole before it is decoded."""
        total, lines, line_start = self.start + self.size, self.lines, self.line_start
        for chunk in self.chunks:  # its length, and its newlines for a fault at the end
            found = chunk.count(b"\n")
            if found:
                lines, line_start = lines + found, total + chunk.rfind(b"\n") + 1
            total += len(chunk)
        self.eof = True
        if pos is not None:  # in the window: count back from the text read so far
            at = pos - self.start
            lines = self.lines - self.buf[at : self.size].count(b"\n")
            newline = self.buf.rfind(b"\n", 0, at)
            line_start = self.start + newline + 1 if newline >= 0 else self.start_line_start
        at = total if pos is None else pos
        return SyntaxFault(reason, at, total, lines + 1, at - line_start + 1)


def _new_map(size: int) -> mmap.mmap:
    # private: a shared anonymous map is backed by a file
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _fault_from(reader: _Reader, exc: Exception, base: int, path: str) -> SyntaxFault:
    """msgspec's error on a value decoded from byte ``base`` (at msgspec path ``path``), in
    the terms of the whole text."""
    text = str(exc)
    found = _BYTE.search(text)
    reason = re.sub(r"^JSON is malformed: |\s*\(byte \d+\)$", "", text)
    if isinstance(exc, msgspec.ValidationError):
        # msgspec names the path below the value it was given, none for that value itself
        if " - at `$" in reason:
            reason = reason.replace(" - at `$", f" - at `{path}", 1)
        elif path != "$":
            reason += f" - at `{path}`"
    if found:
        return reader.fault(reason, base + int(found.group(1)))
    return reader.fault(reason, None)


def _end(view: memoryview) -> int | None:
    """Where the value at the start of ``view`` ends, if it ends before the view does and is
    well formed: msgspec skips it without building it and stops at the next byte."""
    try:
        msgspec.json.decode(view, type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        text = str(exc)
        if text.startswith(_TRAILING):
            return int(text[len(_TRAILING) : -1]) - 1  # msgspec counts the trailing byte itself
    return None


def _damage(reader: _Reader, exc: Exception, view: memoryview, base: int, path: str) -> SyntaxFault:
    """msgspec's error on ``view`` (byte ``base`` of the text on), as a fault of the text;
    "truncated" said of an unpaired surrogate escape (\\ud800) points at the escape."""
    lone = LONE_SURROGATE.search(view) if str(exc) == _TRUNCATED else None
    if lone is not None:
        snippet = bytes(view[lone.start() : lone.start() + 6]).decode()
        reason = f"{snippet} is half of a UTF-16 surrogate pair"
        return reader.fault(reason, base + lone.start())
    return _fault_from(reader, exc, base, path)


def _decode_value(reader: _Reader, pos: Position, depth: int, path: str) -> Any:
    """Decode the value at the reader's position whole (msgspec, ``pos``'s decode type) — or,
    if it outgrows :data:`_LARGEST` (damage that leaves an object open to the end of the file,
    or a value that large), walk it as the levels above are walked."""
    kind = _decode_type(pos)
    while True:
        view = reader.view()
        base = reader.start + reader.at
        end = _end(view)
        if end is not None:  # the common case: one skip to find the end, one decode
            try:
                value = None if pos is _DROP else msgspec.json.decode(view[:end], type=kind)
            except msgspec.DecodeError as exc:  # refused by its type (a number out of range)
                raise _damage(reader, exc, view[:end], base, path) from None
            reader.at += end
            return value
        # damaged, or longer than the window: decode it to learn which
        try:
            value = msgspec.json.decode(view, type=kind)
        except msgspec.ValidationError as exc:
            raise _fault_from(reader, exc, base, path) from None
        except msgspec.DecodeError as exc:
            text = str(exc)
            found = _BYTE.search(text)
            cut = text == _TRUNCATED or (found and int(found.group(1)) >= len(view) - _NEAR_END)
            if not cut or reader.eof:
                raise _damage(reader, exc, view, base, path) from None
        else:
            if reader.eof:
                reader.at = reader.size
                return None if pos is _DROP else value
        # the value runs past the window (or may: a number cut short): read as much again
        del view
        too_long = reader.size - reader.at >= _LARGEST
        if too_long and _walkable(pos) and reader.buf[reader.at] in _OPENERS:
            return _walk(reader, pos, depth, path)
        reader.refill(max(_REFILL, reader.size - reader.at))


def _key(reader: _Reader, pos: Position) -> str | None:
    """The object key at the reader's position (a JSON string, as msgspec decodes it).

    msgspec matches the keys of a field list without checking their UTF-8, and only skips
    those of an object it skips: ``None`` for such a key that is not valid text."""
    while True:
        match = _KEY.match(reader.buf, reader.at, reader.size)
        # a few bytes past the key: msgspec looks ahead of an escape (a surrogate pair)
        if match is not None and reader.size - match.end() >= _NEAR_END:
            break
        if not reader.refill():
            match = _KEY.match(reader.buf, reader.at, reader.size)
            if match is None:
                raise reader.fault(_TRUNCATED, None)
            break
    base = reader.start + reader.at
    try:
        key: str | None = msgspec.json.decode(match.group(), type=str)
    except msgspec.DecodeError as exc:
        key = None
        if not (isinstance(pos, Obj) and str(exc) == _BAD_UTF8):
            # msgspec's own words on the key where it stands (with what follows it)
            view = reader.view()
            try:
                msgspec.json.decode(view, type=msgspec.Raw if pos is _DROP else str)
            except msgspec.DecodeError as why:
                if not str(why).startswith(_TRAILING):
                    raise _damage(reader, why, view, base, "$") from None
                if pos is not _DROP:
                    raise _damage(reader, exc, view, base, "$") from None
    reader.at = match.end()
    return key


def _expect(reader: _Reader) -> int:
    found = reader.peek()
    if found is None:
        raise reader.fault(_TRUNCATED, None)
    return found


def _here(reader: _Reader) -> int:
    return reader.start + reader.at


def _head(reader: _Reader, pos: Position, after_comma: bool) -> str | None:
    """The key of the next member of an object and its colon; the value's first byte is then
    in the window."""
    match = _HEAD.match(reader.buf, reader.at, reader.size)
    if match is not None:  # the common case, in one step
        try:
            key = msgspec.json.decode(match.group(1), type=str)
        except msgspec.DecodeError:
            pass  # reported by the careful way below
        else:
            reader.at = match.end()
            return key
    char = _expect(reader)
    if char != ord('"'):
        if after_comma and char == ord("}"):
            raise reader.fault("trailing comma in object", _here(reader))
        reason = "expected '\"'" if pos is _DROP else "object keys must be strings"
        raise reader.fault(reason, _here(reader))
    key = _key(reader, pos)
    if _expect(reader) != ord(":"):
        raise reader.fault("expected ':'", _here(reader))
    reader.at += 1
    _expect(reader)
    return key


def _next(reader: _Reader, pattern: re.Pattern[bytes], close: int, expected: str) -> bool:
    """Past the ``,`` after a member (True) or the closing bracket (False)."""
    match = pattern.match(reader.buf, reader.at, reader.size)
    if match is not None:
        reader.at = match.end()
        return match.group(1)[0] != close
    char = _expect(reader)
    if char != close and char != ord(","):
        raise reader.fault(expected, _here(reader))
    reader.at += 1
    return char != close


def _walk_object(reader: _Reader, pos: Position, depth: int, path: str) -> dict[str, Any] | None:
    out: dict[str, Any] | None = {} if pos is not _DROP else None
    reader.at += 1
    if _expect(reader) == ord("}"):
        reader.at += 1
        return out
    same = None if isinstance(pos, Obj) else _member(pos, "")
    more = False
    while True:
        key = _head(reader, pos, more)
        child, step = same or _member(pos, key)
        value = _value(reader, child, depth + 1, path + step)
        if out is not None and child is not _DROP and key is not None:
            out[key] = value
        more = _next(reader, _OBJECT_NEXT, ord("}"), "expected ',' or '}'")
        if not more:
            return out


def _walk_list(reader: _Reader, pos: Position, depth: int, path: str) -> list[Any] | None:
    out: list[Any] | None = [] if pos is not _DROP else None
    reader.at += 1
    if _expect(reader) == ord("]"):
        reader.at += 1
        return out
    item = _item(pos)
    index = 0
    while True:
        value = _value(reader, item, depth + 1, f"{path}[{index}]")
        if out is not None:
            out.append(value)
        index += 1
        if not _next(reader, _LIST_NEXT, ord("]"), "expected ',' or ']'"):
            return out
        if _expect(reader) == ord("]"):
            raise reader.fault("trailing comma in array", _here(reader))


def _walk(reader: _Reader, pos: Position, depth: int, path: str) -> Any:
    if reader.buf[reader.at] == ord("{"):
        return _walk_object(reader, pos, depth, path)
    return _walk_list(reader, pos, depth, path)


def _value(reader: _Reader, pos: Position, depth: int, path: str) -> Any:
    if depth < _WALKED and _walkable(pos) and reader.buf[reader.at] in _OPENERS:
        return _walk(reader, pos, depth, path)
    return _decode_value(reader, pos, depth, path)


def decode_stream(chunks: Iterator[bytes], shape: Shape | None) -> Any:
    """Decode the JSON text that ``chunks`` yield, keeping what ``shape`` names (``None``: all).

    The answer equals ``msgspec.json.decode(b"".join(chunks), type=decode_type(shape))``
    (``Any`` for ``None``); what the iterator raises passes through.

    Raises:
        SyntaxFault: the text is not valid JSON (or is empty).

    >>> from saosim.inputs._shape import Obj, Str
    >>> decode_stream(iter([b'{"a": 1, "b"', b': [2]}']), Obj({"b": Str()}))
    {'b': [2]}
    >>> decode_stream(iter([b'{"a": 1,', b' }']), None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.inputs._stream.SyntaxFault: trailing comma in object
    """
    reader = _Reader(chunks)
    if reader.peek() is None:
        raise reader.fault(_TRUNCATED, None)
    value = _value(reader, shape, 0, "$")
    if reader.peek() is not None:
        raise reader.fault("trailing characters", _here(reader) + 1)  # as msgspec counts
    return value
