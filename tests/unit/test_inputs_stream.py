"""Gzip artifacts decoded as they decompress (saosim.inputs._stream) read exactly as when their
text is decoded whole: the same values, and the same refusal of damage, word for word.

The window, the decompression steps and the longest value held whole are made tiny here, so
every value, key and escape of the fixtures is cut somewhere by a window's end, and values are
walked at every depth.
"""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.errors import ArtifactError, SaosimError
from saosim.inputs import _io, _stream
from saosim.inputs._prune import decode_type
from saosim.inputs._shape import AnyJson, KeysOf, ListOf, MapOf, Obj, OneOf, Shape, Str
from saosim.inputs._shapes import MANIFEST, RUN_RESULTS, SOURCES
from saosim.inputs._stream import SyntaxFault, decode_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts"
_SHAPES: list[Shape | None] = [
    MANIFEST,
    RUN_RESULTS,
    SOURCES,
    None,
    Obj({"a": MapOf(Obj({"b": ListOf(Str())})), "k": KeysOf(), "l": ListOf(MapOf(AnyJson()))}),
    Obj({"a": OneOf(ListOf(Str()), Obj({"x": Str()}), what="either"), "b": Obj({})}),
]


@pytest.fixture
def tiny_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stream, "_REFILL", 7)
    monkeypatch.setattr(_stream, "_LARGEST", 50)
    monkeypatch.setattr(_io, "_CHUNK", 13)


def _pieces(text: bytes, size: int) -> list[bytes]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _whole(text: bytes, shape: Shape | None) -> Any:
    try:
        return msgspec.json.decode(text, type=Any if shape is None else decode_type(shape))
    except msgspec.DecodeError:  # the words are compared in the tests of read_json below
        return "fault"
    except RecursionError:
        return "RecursionError"


def _streamed(text: bytes, shape: Shape | None, size: int) -> Any:
    try:
        return decode_stream(iter(_pieces(text, size)), shape)
    except SyntaxFault:
        return "fault"
    except RecursionError:
        return "RecursionError"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "k", "l", "x", "nodes", "é\n"]), inner)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    value=st.dictionaries(st.sampled_from(["a", "b", "k", "l", "nodes", "results", "z"]), _json),
    size=st.integers(1, 40),
    largest=st.sampled_from([1, 20, 1 << 18]),
    spaces=st.booleans(),
)
def test_a_streamed_decode_equals_the_whole_decode(
    value: Any, size: int, largest: int, spaces: bool
) -> None:
    text = msgspec.json.encode(value)
    if spaces:
        text = msgspec.json.format(text, indent=1)
    old = _stream._REFILL, _stream._LARGEST
    _stream._REFILL, _stream._LARGEST = 3, largest
    try:
        for shape in _SHAPES:
            assert _streamed(text, shape, size) == _whole(text, shape)
    finally:
        _stream._REFILL, _stream._LARGEST = old


@pytest.mark.parametrize(
    "text",
    [
        b'{"nodes": {"a": {"name": "x"}, "a": {"name": "y"}}, "nodes": {"b": {}}}',  # duplicates
        b'{"nodes": {"a": {"name": 1e400}}}',  # out of range where a number is kept
        b'{"macros": {"a": 1e400, "b\xff": [1]}, "nodes": {"a": {"x\xff": 1}}}',  # skipped
        b'{"nodes": [1, 2.5, "x"], "metadata": 5}',
        b'{"nodes": {"a": {"name": "\\ud83d\\ude00"}}}',
        b'{"nodes": {"a":' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"a": 1}   \n\n ',
        b'{"a": 1} x',
        b'{"a": 1,}',
        b'{"a": [1,]}',
        b'{"a" 1}',
        b'{"a": 1 "b": 2}',
        b'{"nodes": {"\\ud800": 1}}',
        b'{"nodes": {"a": "\\ud800"}}',
        b'{"nodes": {"a": "\\ud800  "}}',
        b'{"nodes": {"a\xff": 1}}',
        b'{"nodes": {"a": 1.',
        b'{"nodes": {"a": 12',
        b'{"nodes": {"a": tru',
        b'{"nodes": {',
        b'{"nodes"',
        b"{",
    ],
)
def test_edge_cases_read_as_the_whole_decode_reads_them(
    text: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    for largest in (3, 1 << 18):
        monkeypatch.setattr(_stream, "_LARGEST", largest)
        for shape in _SHAPES:
            for size in (1, 2, 5, 64, 1000):
                assert _streamed(text, shape, size) == _whole(text, shape), (shape, size)


def _read(path: Path, shape: Shape | None, stream: bool) -> Any:
    old = _io.STREAM_GZIP
    _io.STREAM_GZIP = stream
    try:
        return _io.read_json(path, shape=shape)
    except SaosimError as exc:
        return str(exc)
    finally:
        _io.STREAM_GZIP = old


def _damage(rng: random.Random, body: bytearray) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return bytes(body[: rng.randrange(len(body))])
    at = rng.randrange(len(body))
    if roll < 0.7:
        body[at] = rng.choice(b'x,:}]{["\\\x01 0-.e\xff')
    elif roll < 0.85:
        insert = [b",", b"}", b"1e400", b'"\\ud800"', b"\n", b"[", b"{}", b'"a":1,', b'"\\u12']
        body[at:at] = rng.choice(insert)
    else:
        del body[at : at + rng.randint(1, 5)]
    return bytes(body)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("manifest_v12.json", MANIFEST),
        ("runs_tree/hourly/2026-01-05T08/target/run_results.json", RUN_RESULTS),
        ("sources_fusion.json", SOURCES),
    ],
)
def test_damage_is_refused_in_the_same_words(
    name: str, shape: Shape, tmp_path: Path, tiny_windows: None
) -> None:
    source = FIXTURES / name
    text = source.read_bytes()
    rng = random.Random(name)
    path = tmp_path / "artifact.json"
    for _ in range(60):
        path.write_bytes(gzip.compress(_damage(rng, bytearray(text))))
        for kind in (shape, None):
            assert _read(path, kind, True) == _read(path, kind, False)


def test_gzip_faults_come_before_the_json_faults_they_follow(tmp_path: Path) -> None:
    # invalid JSON early, then a damaged gzip stream: the damage is named, as when the text is
    # decompressed whole first
    packed = gzip.compress(b'{"a": x' + b" " * 200_000 + b"}")
    path = tmp_path / "m.json.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ArtifactError, match="damaged or truncated gzip"):
        _io.read_json(path)
    path.write_bytes(packed)
    with pytest.raises(ArtifactError, match=r"invalid character at line 1, column 7 \(byte 6 of"):
        _io.read_json(path)
    with pytest.raises(ArtifactError, match="decompresses to more than 0 MB"):
        _io.read_json(path, max_bytes=100_000)
    flipped = bytearray(packed)
    flipped[len(packed) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    try:
        zlib.decompress(bytes(flipped), 16 + zlib.MAX_WBITS)
    except zlib.error:
        with pytest.raises(ArtifactError, match="damaged or truncated gzip"):
            _io.read_json(path)


def test_a_truncated_text_is_reported_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(gzip.compress(b'{"nodes": {\n "a": {"name": "x"},\n "b": {"na'))
    with pytest.raises(ArtifactError, match=r"truncated at line 3, column 11 \(byte 43 of 43\)"):
        _io.read_json(path, shape=MANIFEST)
    path.write_bytes(gzip.compress(b'{"nodes": {"a": "\\ud800"}}'))
    words = _read(path, MANIFEST, True)
    assert "\\ud800 is half of a UTF-16 surrogate pair at line 1" in words
    assert words == _read(path, MANIFEST, False)


def test_the_text_of_a_gzip_file_is_never_whole_in_memory(tmp_path: Path) -> None:
    # 40 MB of text of which the reader keeps a few nodes: the read holds a window, not the text
    macros = {
        f"macro.p.m{i}": {"macro_sql": "x" * 4000, "docs": {"show": True}} for i in range(10_000)
    }
    nodes = {f"model.p.m{i}": {"name": f"m{i}", "resource_type": "model"} for i in range(100)}
    text = msgspec.json.encode({"metadata": {}, "macros": macros, "nodes": nodes})
    path = tmp_path / "manifest.json.gz"
    path.write_bytes(gzip.compress(text, compresslevel=1))
    del macros, text
    tracemalloc.start()
    try:
        data = _io.read_json(path, shape=MANIFEST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data["nodes"]) == 100 and "macros" not in data
    assert peak < 2 * 2**20, peak


def test_an_object_left_open_to_the_end_is_not_held_whole(tmp_path: Path) -> None:
    # a node whose closing brace is lost swallows every later member: its text runs to the end
    # of the file, so it is walked, not held, and the fault is the one of the whole decode
    nodes = {f"model.p.m{i}": {"name": f"m{i}", "raw_code": "select 1 " * 100} for i in range(5000)}
    text = msgspec.json.encode({"metadata": {}, "nodes": nodes})
    text = text.replace(b' "}', b' "', 1)
    path = tmp_path / "manifest.json.gz"
    path.write_bytes(gzip.compress(text, compresslevel=1))
    tracemalloc.start()
    try:
        words = _read(path, MANIFEST, True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "is not valid JSON: Input data was truncated" in words
    assert words == _read(path, MANIFEST, False)
    assert peak < len(text) // 4, (peak, len(text))
