"""How many of the GitLab data team's real code changes are cosmetic, and how fast fingerprints are.

Reads the four ``dbt parse`` manifests of gitlab-data/analytics (Aug–Sep 2024, Snowflake) in
``../shared/real-artifacts/tnmy44__gitlab-analytics``, fingerprints every node, and for each pair
of consecutive snapshots reports the models whose dbt checksum (or build config) changed and how
many of those saosim finds cosmetic (equal fingerprint: no rebuild under SAO), with examples.

    .venv/bin/python benchmarks/fingerprint.py [--examples 3] [--folder PATH]
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from itertools import pairwise
from pathlib import Path

from saosim.inputs import read_manifest
from saosim.project.fingerprint import (
    FingerprintReport,
    compare_fingerprints,
    fingerprint_code,
    fingerprint_project,
)
from saosim.project.graph import Project

DEFAULT_FOLDER = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "real-artifacts"
    / "tnmy44__gitlab-analytics"
)


def short_diff(old: str, new: str, limit: int = 8) -> str:
    """The first changed lines of a unified diff, without headers."""
    lines = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    shown = [f"      {line[:110]}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"      … {len(lines) - limit} more changed lines")
    return "\n".join(shown) if shown else "      (no line differs: whitespace at line ends)"


def timeline(folder: Path) -> list[tuple[str, Project]]:
    files = sorted(folder.glob("*manifest*.json*"))
    if not files:
        raise SystemExit(f"no manifests in {folder}")
    return [(f.name, read_manifest(f)) for f in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args(argv)

    snapshots = timeline(args.folder.resolve())
    name, largest = max(snapshots, key=lambda s: len(s[1].of_type("model")))
    fingerprint_code.cache_clear()
    wall, cpu = time.perf_counter(), time.process_time()
    _, report = fingerprint_project(largest, warn=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    models = len(largest.of_type("model"))
    print(f"Cold fingerprint of {name}: {models:,} models, {report.total:,} nodes with tests")
    print(f"  {wall:.2f} s wall, {cpu:.2f} s CPU (cache cleared)")
    _print_report(report, largest)

    fingerprint_code.cache_clear()
    done = []
    for file, project in snapshots:
        wall = time.perf_counter()
        fingerprinted, _ = fingerprint_project(project, warn=False)
        done.append((file, fingerprinted, time.perf_counter() - wall))
    print("\nTimeline (each snapshot after the previous one; unchanged code is cached):")
    total_changed = total_cosmetic = 0
    for (file_a, old, _), (file_b, new, seconds) in pairwise(done):
        diff = compare_fingerprints(old, new)
        total_changed += len(diff.changed)
        total_cosmetic += len(diff.cosmetic)
        print(
            f"  {_date(file_a)} → {_date(file_b)}: {len(diff.changed)} models changed by dbt "
            f"checksum/config, {len(diff.cosmetic)} cosmetic, {len(diff.real)} real "
            f"(fingerprinted in {seconds:.2f} s)"
        )
        for uid in diff.cosmetic[: args.examples]:
            print(f"    cosmetic: {new.nodes[uid].name}")
            print(short_diff(old.nodes[uid].raw_code or "", new.nodes[uid].raw_code or ""))
        for uid in diff.real[:1]:
            print(f"    real, for contrast: {new.nodes[uid].name}")
            print(short_diff(old.nodes[uid].raw_code or "", new.nodes[uid].raw_code or "", 4))
    share = total_cosmetic / total_changed if total_changed else 0.0
    print(f"\nIn all: {total_cosmetic} of {total_changed} changed models cosmetic ({share:.1%}).")
    return 0


def _print_report(report: FingerprintReport, project: Project) -> None:
    fallback_models = sum(
        1
        for uid in project.of_type("model")
        if project.nodes[uid].language != "sql" or project.nodes[uid].raw_code is None
    )
    reasons = ", ".join(f"{k}: {v}" for k, v in report.by_reason.items()) or "none"
    print(
        f"  parsed by sqlglot: {report.parsed:,}; normalised-text fallback: {report.fallback:,} "
        f"({report.fallback_share:.1%} of nodes; reasons {reasons}; non-SQL models "
        f"{fallback_models})"
    )


def _date(file: str) -> str:
    return file.split("@")[-1][:10] if "@" in file else file


if __name__ == "__main__":
    sys.exit(main())
