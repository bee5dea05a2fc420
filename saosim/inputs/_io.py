"""Reading artifact files: JSON from ``.json`` or ``.json.gz``; timestamps that carry a zone.

Every failure is an :class:`~saosim.errors.ArtifactError` that names the file (and, for bad JSON,
the position), so a user knows which of a hundred downloaded files to look at.

The work is bounded: a file (or what a gzip file decompresses to) larger than
:data:`MAX_JSON_BYTES` is refused before it is held in memory — gzip is decompressed in
chunks, so a small ``.json.gz`` that expands to gigabytes stops at the bound — and a file whose
first non-blank byte is not ``{`` is refused at once. The bound is ``max_bytes=`` or the
``SAOSIM_MAX_JSON_MB`` environment variable (default 2048 MB).

Memory stays near the file's size: a reader passes the shape of what it uses and only those
fields are built into Python objects (:mod:`saosim.inputs._prune`). A plain file's text is
released as soon as it is decoded. A gzip file's text is never whole in memory: it is decoded
as it decompresses (:mod:`saosim.inputs._stream`), so a read holds a window of the text and
what the shape keeps — which, for a manifest, is mostly its SQL and can itself be several
times the compressed file. The fuzz suite checks the bounds (``tests/fuzz/memory.py``).

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d, "m.json")
...     _ = p.write_text('{"metadata": {}}')
...     read_json(p)
{'metadata': {}}
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from saosim.errors import ArtifactError, reading
from saosim.inputs._prune import decode_type
from saosim.inputs._shape import Shape
from saosim.inputs._stream import LONE_SURROGATE, SyntaxFault, decode_stream

__all__ = [
    "MAX_JSON_BYTES",
    "is_json_file",
    "max_json_bytes",
    "parse_time",
    "parse_times",
    "read_json",
    "schema_version",
]

#: Default bound on the bytes of one JSON artifact (after decompression): 2 GiB.
MAX_JSON_BYTES = 2048 * 2**20
# Bytes per step of gunzip (read and decompressed) and of counting lines. Each step allocates
# its input, its output and zlib's unconsumed input anew: at 64 KB these fragmented the heap
# (a streamed read that keeps nothing of a 40 MB text took 2.6 MB resident), at 16 KB 0.6 MB.
_CHUNK = 1 << 14
_MAX_LEADING_BLANK = 1 << 20
_BLANK = frozenset(b" \t\r\n")
_FIRST_BYTE = re.compile(rb"[^ \t\r\n]")
_JSON_SUFFIXES = (".json", ".json.gz")
#: Decode gzip files as they decompress (off: decompress whole, then decode; tests compare both).
STREAM_GZIP = True
Buffer = bytes | bytearray | memoryview
# dbt Fusion writes nanoseconds; datetime keeps microseconds, so extra digits are cut, not rounded.
_FRACTION = re.compile(r"(\.\d{6})\d+")
_HAS_ZONE = re.compile(r"(Z|z|[+-]\d\d:?\d\d)$")


def is_json_file(path: Path) -> bool:
    """True for ``*.json`` and ``*.json.gz`` files."""
    return path.is_file() and path.name.lower().endswith(_JSON_SUFFIXES)


def max_json_bytes() -> int:
    """The bound on one JSON artifact's size: ``SAOSIM_MAX_JSON_MB`` (in MB) or 2048 MB.

    >>> max_json_bytes() == MAX_JSON_BYTES or "SAOSIM_MAX_JSON_MB" in os.environ
    True
    """
    value = os.environ.get("SAOSIM_MAX_JSON_MB", "").strip()
    if not value:
        return MAX_JSON_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        raise ArtifactError(
            f"{value!r} is not a number of megabytes", field="SAOSIM_MAX_JSON_MB"
        ) from None
    if not 0 < megabytes < 2**40:
        raise ArtifactError(f"{value!r} must be a positive size", field="SAOSIM_MAX_JSON_MB")
    return int(megabytes * 2**20)


def _too_big(file: Path, bound: int, what: str) -> ArtifactError:
    return ArtifactError(
        f"{what} more than {bound / 2**20:,.0f} MB, the bound on one JSON artifact; raise it "
        "with SAOSIM_MAX_JSON_MB=<megabytes> if the file is real",
        path=str(file),
    )


def _not_an_object(file: Path, first: bytes) -> ArtifactError:
    return ArtifactError(
        f"does not hold a JSON object (it starts with {first[:12]!r}); expected a dbt artifact",
        path=str(file),
    )


def _check_start(file: Path, buffer: Buffer, final: bool, *, blank_before: int = 0) -> bool:
    """True once the first non-blank byte is known to be ``{``; raises when it is not.

    ``buffer`` follows ``blank_before`` bytes already seen to be blank (a gzip file is checked
    chunk by chunk as it decompresses)."""
    match = _FIRST_BYTE.search(buffer)
    if match is None:
        if blank_before + len(buffer) > _MAX_LEADING_BLANK:
            raise ArtifactError(
                f"starts with more than {_MAX_LEADING_BLANK:,} blank bytes; not a dbt artifact",
                path=str(file),
            )
        if final:
            raise ArtifactError("is empty; expected a dbt artifact (a JSON object)", path=str(file))
        return False
    if buffer[match.start() : match.start() + 1] != b"{":
        raise _not_an_object(file, bytes(buffer[match.start() : match.start() + 12]))
    return True


def _gunzip(file: Path, bound: int) -> Iterator[bytes]:
    """The text of a (possibly multi-member) gzip file, a chunk at a time, never past ``bound``
    bytes; checks that it starts as a JSON object as soon as a non-blank byte arrives."""
    started = in_member = False
    size = 0
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with file.open("rb") as handle:
            pending = b""
            while True:
                if not pending:
                    pending = handle.read(_CHUNK)
                    if not pending:
                        break
                in_member = True
                # at most one chunk of output per step, so the bound holds before memory grows
                chunk = decomp.decompress(pending, _CHUNK)
                pending = decomp.unconsumed_tail
                if decomp.eof:
                    # another member may follow (`cat a.gz b.gz`), or zero padding. It is all in
                    # unused_data: unconsumed_tail still holds the same bytes at the end of a
                    # member, and adding both read every later member twice, then again…
                    pending = decomp.unused_data.lstrip(b"\x00")
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    in_member = False
                if size + len(chunk) > bound:
                    raise _too_big(file, bound, "decompresses to")
                if not started:
                    started = _check_start(file, chunk, final=False, blank_before=size)
                size += len(chunk)
                if chunk:
                    yield chunk
            if in_member:
                chunk = decomp.flush()
                if not decomp.eof:
                    raise EOFError("the gzip stream ends before its end marker")
                if size + len(chunk) > bound:
                    raise _too_big(file, bound, "decompresses to")
                if not started:
                    started = _check_start(file, chunk, final=False, blank_before=size)
                size += len(chunk)
                if chunk:
                    yield chunk
    except (EOFError, zlib.error) as exc:
        raise ArtifactError(
            f"is a damaged or truncated gzip file ({exc}); download it again", path=str(file)
        ) from None
    if not started:
        _check_start(file, b"", final=True, blank_before=size)


def _line_column(raw: Buffer, pos: int) -> tuple[int, int]:
    """The 1-based line and column of byte ``pos``, counted a chunk at a time (``raw`` may be
    a view of a memory map, which has no ``count``)."""
    line, line_start = 1, 0
    for at in range(0, pos, _CHUNK):
        piece = bytes(raw[at : min(at + _CHUNK, pos)])
        found = piece.count(b"\n")
        if found:
            line += found
            line_start = at + piece.rfind(b"\n") + 1
    return line, pos - line_start + 1


def _not_json(
    file: Path, reason: str, pos: int, total: int, line: int, column: int
) -> ArtifactError:
    return ArtifactError(
        f"is not valid JSON: {reason} at line {line}, column {column} "
        f"(byte {pos} of {total}); the file may be truncated",
        path=str(file),
    )


def _too_deep(file: Path) -> ArtifactError:
    # dbt writes a few levels of nesting; thousands are damage, and would exhaust the stack
    return ArtifactError("nests arrays or objects too deeply to be a dbt artifact", path=str(file))


def _decode(file: Path, raw: Buffer, shape: Shape | None) -> Any:
    """The JSON in ``raw`` (only what ``shape`` names, when given), or an error naming the file
    and the line, column and byte of the first fault."""
    try:
        if shape is None:
            return msgspec.json.decode(raw)
        return msgspec.json.decode(raw, type=decode_type(shape))
    except msgspec.DecodeError as exc:
        # msgspec says "... (byte N)", or "Input data was truncated" when the text stops early
        found = re.search(r"\(byte (\d+)\)$", str(exc))
        pos = int(found.group(1)) if found else len(raw)
        reason = re.sub(r"^JSON is malformed: |\s*\(byte \d+\)$", "", str(exc))
        # msgspec also says "truncated" of an unpaired surrogate escape (\ud800) anywhere
        lone = LONE_SURROGATE.search(raw) if not found else None
        if lone is not None:
            pos = lone.start()
            reason = f"{bytes(raw[pos : pos + 6]).decode()} is half of a UTF-16 surrogate pair"
        line, column = _line_column(raw, pos)
        raise _not_json(file, reason, pos, len(raw), line, column) from None
    except RecursionError:
        raise _too_deep(file) from None


def _decode_gzip(file: Path, bound: int, shape: Shape | None) -> Any:
    """The JSON of a gzip file, decoded as it decompresses (:mod:`saosim.inputs._stream`), so
    its text is never whole in memory; with :data:`STREAM_GZIP` off, decompressed whole and
    decoded at once (as plain files are)."""
    chunks = _gunzip(file, bound)
    try:
        if not STREAM_GZIP:
            raw = b"".join(chunks)
            _check_start(file, raw, final=True)
            return _decode(file, raw, shape)
        return decode_stream(chunks, shape)
    except SyntaxFault as fault:
        raise _not_json(
            file, fault.reason, fault.pos, fault.total, fault.line, fault.column
        ) from None
    except RecursionError:
        for _ in chunks:  # a damaged stream or the bound is named first, as when read whole
            pass
        raise _too_deep(file) from None
    finally:
        chunks.close()


def read_json(
    path: str | Path, *, max_bytes: int | None = None, shape: Shape | None = None
) -> dict[str, Any]:
    """Read one JSON object from a ``.json`` or gzipped ``.json.gz`` file.

    Args:
        path: the file (gzip is recognised by its magic bytes, whatever the name).
        max_bytes: bound on the file's size after decompression (default :func:`max_json_bytes`).
        shape: what the reader uses of the file: only the fields it names are kept (see
            :mod:`saosim.inputs._prune`), so a manifest's docs, columns and macros are never
            built into Python objects. ``None`` keeps everything.

    Raises:
        ArtifactError: the file is missing, empty, larger than the bound, truncated, not JSON,
            or not a JSON object.
    """
    file = Path(path)
    bound = max_json_bytes() if max_bytes is None else max_bytes
    with reading(file):
        if not file.is_file():
            raise ArtifactError("does not exist or is not a file", path=str(file))
        try:
            with file.open("rb") as handle:
                magic = handle.read(2)
            if magic == b"\x1f\x8b":
                # the text's first byte is checked as it decompresses: it is an object
                return _decode_gzip(file, bound, shape)  # type: ignore[no-any-return]
            if file.stat().st_size > bound:
                raise _too_big(file, bound, "is")
            raw = file.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"cannot be read ({exc.strerror or exc})", path=str(file)) from None
        _check_start(file, raw, final=True)
        data = _decode(file, raw, shape)
        if not isinstance(data, dict):
            raise _not_an_object(file, raw[:12])
        return data


def schema_version(data: dict[str, Any], path: str | Path) -> tuple[str, int]:
    """The artifact kind and version from ``metadata.dbt_schema_version``.

    >>> schema_version({"metadata": {"dbt_schema_version":
    ...     "https://schemas.getdbt.com/dbt/manifest/v12.json"}}, "m.json")
    ('manifest', 12)
    """
    meta = data.get("metadata")
    url = meta.get("dbt_schema_version") if isinstance(meta, dict) else None
    match = re.search(r"/dbt/([a-z_-]+)/v(\d+)\.json$", url) if isinstance(url, str) else None
    if not match:
        raise ArtifactError(
            f"has no recognisable dbt schema version ({url!r}); is it a dbt artifact?",
            path=str(path),
            field="metadata.dbt_schema_version",
        )
    return match.group(1), int(match.group(2))


def parse_time(
    value: object, *, path: str | Path, field: str, row: int | None = None
) -> datetime | None:
    """Parse an ISO 8601 timestamp with a zone into an aware UTC datetime; ``None`` stays ``None``.

    >>> parse_time("2026-08-20T13:47:12.141833351Z", path="r.json", field="started_at")
    datetime.datetime(2026, 8, 20, 13, 47, 12, 141833, tzinfo=datetime.timezone.utc)
    >>> parse_time("2026-08-20T13:47:12", path="r.json", field="at")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saosim.errors.ArtifactError: r.json, field "at": '2026-08-20T13:47:12' has no time zone; ...
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ArtifactError(
                f"{value.isoformat()!r} has no time zone", path=str(path), field=field, row=row
            )
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ArtifactError(f"{value!r} is not a timestamp", path=str(path), field=field, row=row)
    text = value.strip()
    if not _HAS_ZONE.search(text):
        raise ArtifactError(
            f"{value!r} has no time zone; dbt writes UTC with a Z or +00:00 suffix, so this file "
            "was edited or produced by another tool",
            path=str(path),
            field=field,
            row=row,
        )
    text = _FRACTION.sub(r"\1", text)
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise ArtifactError(
            f"{value!r} is not an ISO 8601 timestamp", path=str(path), field=field, row=row
        ) from None


_ISO = "%Y-%m-%dT%H:%M:%S%.f%z"


def parse_times(
    values: pl.Series, *, path: str | Path, field: str, row_offset: int = 0
) -> pl.Series:
    """Vectorised :func:`parse_time` for a column of ISO 8601 strings (``None`` stays null).

    Rows are numbered from ``row_offset`` in messages.

    >>> parse_times(pl.Series(["2026-01-05T07:00:07Z", "2026-01-05 09:00:00.5+02:00", None]),
    ...             path="r.json", field="f").to_list()[1]
    datetime.datetime(2026, 1, 5, 7, 0, 0, 500000, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    """
    text = values.cast(pl.String).str.strip_chars()
    given = text.is_not_null() & (text != "")
    naive = given & ~text.str.contains(_HAS_ZONE.pattern)
    if naive.any():
        row = int(naive.arg_true()[0])
        raise ArtifactError(
            f"{text[row]!r} has no time zone; dbt writes UTC with a Z or +00:00 suffix, so this "
            "file was edited or produced by another tool",
            path=str(path),
            field=field,
            row=row + row_offset,
        )
    # chrono's %.f takes any number of fraction digits and keeps microseconds (truncating
    # Fusion's nanoseconds, as parse_time does).
    parsed = (
        text.str.replace(r"[zZ]$", "+00:00")
        .str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
        .str.to_datetime(format=_ISO, time_zone="UTC", time_unit="us", strict=False)
    )
    bad = given & parsed.is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise ArtifactError(
            f"{text[row]!r} is not an ISO 8601 timestamp",
            path=str(path),
            field=field,
            row=row + row_offset,
        )
    return parsed.alias(values.name)
