"""Reading JSON artifacts and timestamps: every failure names the file (and where in it)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from saosim.errors import ArtifactError
from saosim.inputs._io import parse_time, read_json, schema_version

FIXTURES = Path(__file__).parents[1] / "fixtures" / "artifacts"
BROKEN = FIXTURES / "broken"


def test_reads_plain_and_gzipped_json_alike(tmp_path: Path) -> None:
    plain = read_json(FIXTURES / "manifest_v12.json")
    packed = tmp_path / "manifest.json.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "manifest_v12.json").read_bytes()))
    assert read_json(packed) == plain
    assert plain["metadata"]["project_name"] == "shop"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated_manifest.json", r"not valid JSON: .* at line \d+, column \d+ \(byte \d+ of"),
        ("truncated_manifest.json.gz", "damaged or truncated gzip"),
        ("empty.json", "is empty"),
        ("not_an_object.json", "does not hold a JSON object"),
    ],
)
def test_broken_files_are_rejected_with_their_name(name: str, expected: str) -> None:
    with pytest.raises(ArtifactError, match=expected) as info:
        read_json(BROKEN / name)
    assert info.value.path == str(BROKEN / name)
    assert name in str(info.value)


def test_missing_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        read_json(tmp_path / "nope.json")


def test_whitespace_only_file_counts_as_empty(tmp_path: Path) -> None:
    blank = tmp_path / "run_results.json"
    blank.write_text("  \n\n")
    with pytest.raises(ArtifactError, match="is empty"):
        read_json(blank)


def test_schema_version_parses_kind_and_number() -> None:
    data = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}
    }
    assert schema_version(data, "r.json") == ("run-results", 6)
    with pytest.raises(ArtifactError, match="no recognisable dbt schema version") as info:
        schema_version({"metadata": {}}, "x.json")
    assert info.value.field == "metadata.dbt_schema_version"


def test_parse_time_keeps_microseconds_of_nanosecond_stamps_and_converts_offsets() -> None:
    at = parse_time("2026-08-20T13:47:12.141833351Z", path="r.json", field="f")
    assert at == datetime(2026, 8, 20, 13, 47, 12, 141833, tzinfo=UTC)
    shifted = parse_time("2026-01-05T09:00:00+02:00", path="r.json", field="f")
    assert shifted == datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    assert parse_time(None, path="r.json", field="f") is None


@pytest.mark.parametrize("value", ["2026-01-05T07:00:00", "2026-01-05 07:00:00.123"])
def test_naive_timestamps_are_an_error_naming_field_and_row(value: str) -> None:
    with pytest.raises(ArtifactError, match="has no time zone") as info:
        parse_time(value, path="run_results.json", field="timing.started_at", row=4)
    assert (info.value.field, info.value.row) == ("timing.started_at", 4)


def test_garbage_timestamp_is_not_iso() -> None:
    with pytest.raises(ArtifactError, match="not an ISO 8601"):
        parse_time("yesterday+00:00", path="r.json", field="f")
    with pytest.raises(ArtifactError, match="not a timestamp"):
        parse_time(12345, path="r.json", field="f")
