"""read_json as the readers use it: msgspec decoding of only what a shape names, gzip text grown
in a memory map, and errors that still name the file, line, column and byte."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import orjson
import pytest

from saosim.errors import ArtifactError
from saosim.inputs._io import read_json
from saosim.inputs._shape import Int, ListOf, Obj, Str, check
from saosim.inputs._shapes import MANIFEST
from saosim.inputs.manifest import read_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "artifacts"


def _big_manifest(nodes: int) -> dict:
    """A manifest whose bulk is what saosim never reads (docs, columns, macros)."""
    data = orjson.loads((FIXTURES / "manifest_v12.json").read_bytes())
    columns = {f"c{i}": {"name": f"c{i}", "description": "words " * 20} for i in range(20)}
    for i in range(nodes):
        data["nodes"][f"model.shop.m{i}"] = {
            "resource_type": "model",
            "name": f"m{i}",
            "package_name": "shop",
            "description": "a long description " * 20,
            "columns": columns,
            "config": {"materialized": "table", "meta": {"owner": "x" * 50}},
            "depends_on": {"nodes": []},
        }
    data["macros"] = {f"macro.shop.x{i}": {"macro_sql": "select 1 " * 50} for i in range(nodes)}
    return data


def test_a_gzip_file_reads_like_its_text_across_members_and_map_growth(tmp_path: Path) -> None:
    text = orjson.dumps(_big_manifest(600))
    assert len(text) > 16 * 65536  # past the first capacity of the map: it grew by mremap
    plain, packed = tmp_path / "manifest.json", tmp_path / "manifest.json.gz"
    plain.write_bytes(text)
    half = len(text) // 2
    packed.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]) + b"\0" * 8)
    assert read_json(packed, shape=MANIFEST) == read_json(plain, shape=MANIFEST)
    assert read_manifest(packed).nodes == read_manifest(plain).nodes


def test_only_the_fields_a_shape_names_are_kept(tmp_path: Path) -> None:
    file = tmp_path / "r.json"
    file.write_bytes(b'{"results": [{"n": 1, "junk": {"a": [1]}}, 5], "other": {"x": 1}}')
    shape = Obj({"results": ListOf(Obj({"n": Int()}))})
    assert read_json(file, shape=shape) == {"results": [{"n": 1}, 5]}
    assert read_json(file)["other"] == {"x": 1}  # without a shape, everything


def test_reading_a_manifest_builds_little_beyond_its_text(tmp_path: Path) -> None:
    # Python objects only (tracemalloc); the fuzz suite measures every allocator
    file = tmp_path / "manifest.json"
    file.write_bytes(orjson.dumps(_big_manifest(800)))
    read_manifest(file)  # warm: imports and decode types
    tracemalloc.start()
    try:
        read_manifest(file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * file.stat().st_size


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": [1,\n 2', r"Input data was truncated at line 2, column 3 \(byte 12 of 12\)"),
        (b'{"a": 1,\n "b": x}', r"invalid character at line 2, column 7 \(byte 15 of 17\)"),
        (b'{"a": "\\ud800"}', r"\\ud800 is half of a UTF-16 surrogate pair at line 1, column 8"),
        (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "nests arrays or objects too deeply"),
    ],
)
def test_bad_json_names_the_file_and_where(tmp_path: Path, body: bytes, expected: str) -> None:
    for name, data in (("m.json", body), ("m.json.gz", gzip.compress(body))):
        file = tmp_path / name
        file.write_bytes(data)
        with pytest.raises(ArtifactError, match=expected) as caught:
            read_json(file, shape=MANIFEST)
        assert name in str(caught.value)


def test_integers_past_64_bits_stay_integers_and_are_refused_by_the_shape(tmp_path: Path) -> None:
    # orjson read 2**70 as a float; msgspec keeps the integer, and the shape refuses it
    file = tmp_path / "r.json"
    file.write_bytes(b'{"n": 1180591620717411303424, "s": "x"}')
    shape = Obj({"n": Int(), "s": Str()})
    data = read_json(file, shape=shape)
    assert data["n"] == 2**70
    with pytest.raises(ArtifactError, match="is more than"):
        check(data, shape, path=str(file))
