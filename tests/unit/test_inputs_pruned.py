"""Decoding only what the shapes name (saosim.inputs._prune) changes no reader's answer, and
neither does decoding a gzip file as it decompresses (saosim.inputs._stream).

Every reader is run twice on every fixture and real artifact: once as shipped, and once with
the pruning switched off (the whole file decoded, as before). The projects, code versions, run
tables and observations must be equal: a field a reader uses but its shape forgot would be
dropped by the pruned decode and show up here as a difference. Each file is also read gzipped
(streamed) and plain; the real gzip manifests (40 MB of text each) are read streamed and
decompressed whole.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from saosim.errors import SaosimError
from saosim.inputs import _io, ingest, read_runs, read_sources
from saosim.inputs.changes import manifest_versions
from saosim.inputs.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "artifacts"
REAL = ROOT / ".." / "shared" / "real-artifacts"
_MAX_BYTES = 4_000_000  # the 40 MB manifests take seconds to decode whole; the rest suffice


def _kind(path: Path) -> str | None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(4000)
    for marker, kind in ((b"/manifest/v", "manifest"), (b"/run-results/v", "run_results")):
        if marker in head:
            return kind
    return "sources" if b"/sources/v" in head else None


def _files() -> list[tuple[str, Path]]:
    found = [("manifest", p) for p in sorted(FIXTURES.rglob("*manifest*.json"))]
    found += [("run_results", p) for p in sorted(FIXTURES.rglob("*run_results.json"))]
    found += [("sources", p) for p in sorted(FIXTURES.rglob("sources*.json"))]
    if REAL.is_dir():
        for path in sorted(REAL.glob("*/*.json*")):
            small = path.stat().st_size <= (_MAX_BYTES // 8 if path.suffix == ".gz" else _MAX_BYTES)
            kind = _kind(path) if small else None
            if kind:
                found.append((kind, path))
    return found


def _read(kind: str, path: Path) -> Any:
    try:
        if kind == "manifest":
            project = read_manifest(path)
            return (
                project.name,
                project.dialect,
                project.nodes,
                sorted(project.graph.edges),
                manifest_versions(path),
            )
        if kind == "run_results":
            history = read_runs(path)
            return history.runs.to_dicts(), history.node_runs.to_dicts()
        return read_sources(path).to_dicts()
    except SaosimError as exc:  # the same refusal, word for word (the file named alike)
        return type(exc).__name__, str(exc).replace(str(path), "<file>")


@pytest.mark.parametrize(("kind", "path"), _files(), ids=lambda v: getattr(v, "name", v))
def test_the_pruned_decode_reads_what_the_whole_file_reads(
    kind: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pruned = _read(kind, path)
    monkeypatch.setattr(_io, "decode_type", lambda shape: Any)
    assert _read(kind, path) == pruned


def test_an_export_folder_and_a_target_tree_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [FIXTURES / "runs_tree", FIXTURES / "manifests_over_time", FIXTURES / "cloud_runs"]
    pruned = ingest(paths).summary()
    monkeypatch.setattr(_io, "decode_type", lambda shape: Any)
    assert ingest(paths).summary() == pruned


@pytest.mark.parametrize(("kind", "path"), _files(), ids=lambda v: getattr(v, "name", v))
def test_a_gzipped_file_streamed_reads_what_the_plain_file_reads(
    kind: str, path: Path, tmp_path: Path
) -> None:
    text = path.read_bytes()
    if text[:2] == b"\x1f\x8b":
        text = gzip.decompress(text)
    copy = tmp_path / path.name.removesuffix(".gz")
    copy.write_bytes(text)
    plain = _read(kind, copy)
    copy.write_bytes(gzip.compress(text, compresslevel=1))  # gzip is known by its magic bytes
    assert _read(kind, copy) == plain


def _big_gzip() -> list[Path]:
    if not REAL.is_dir():
        return []
    return [p for p in sorted(REAL.glob("*/*.json.gz")) if p.stat().st_size > _MAX_BYTES // 8]


@pytest.mark.slow
@pytest.mark.real_artifacts
@pytest.mark.parametrize("path", _big_gzip(), ids=lambda p: p.name)
def test_a_big_gzip_manifest_streamed_reads_what_its_whole_text_reads(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed = _read("manifest", path)
    assert len(streamed[2]) > 1000  # a project was read, not a refusal
    monkeypatch.setattr(_io, "STREAM_GZIP", False)
    assert _read("manifest", path) == streamed
