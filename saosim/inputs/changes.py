"""Code changes from a sequence of manifests taken over time.

Between two consecutive manifests (ordered by ``metadata.generated_at``), a model, seed or
snapshot whose ``checksum`` or build config (materialization, unique_key, incremental strategy,
contract …) differs changed at the later manifest's ``generated_at``. A node that first appears
in the later manifest counts as a change too: SAO builds a new node on its first run, and the
replay needs to know when it appeared. The first manifest is the baseline and yields no changes.

>>> from pathlib import Path
>>> folder = Path(__file__).parents[2] / "tests" / "fixtures" / "artifacts" / "manifests_over_time"
>>> changes = code_changes(sorted(folder.glob("*.json")))
>>> changes.select("unique_id").to_series().to_list()
['model.shop.fct_orders', 'model.shop.stg_payments']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl

from saosim.errors import ArtifactError
from saosim.inputs._config import build_config, checksum_of
from saosim.inputs._io import parse_time, read_json
from saosim.inputs._shapes import MANIFEST
from saosim.inputs.manifest import manifest_metadata
from saosim.inputs.schema import TABLES, validate

__all__ = ["code_changes", "manifest_versions"]

_BUILDABLE = ("model", "seed", "snapshot")


def manifest_versions(
    path: str | Path, data: dict[str, Any] | None = None
) -> tuple[datetime, dict[str, tuple[str | None, str | None]]]:
    """A manifest's ``generated_at`` and, per buildable node, its (checksum, build config).

    ``data`` is the already parsed manifest, when the caller has it (saves a second read).
    """
    data = read_json(path, shape=MANIFEST) if data is None else data
    meta = manifest_metadata(data, path=str(path))
    generated = parse_time(meta.get("generated_at"), path=path, field="metadata.generated_at")
    if generated is None:
        raise ArtifactError("is missing", path=str(path), field="metadata.generated_at")
    versions: dict[str, tuple[str | None, str | None]] = {}
    for uid, entry in (data.get("nodes") or {}).items():
        if entry.get("resource_type") not in _BUILDABLE:
            continue
        config = entry.get("config") or {}
        if config.get("enabled") is False:
            continue
        versions[uid] = (checksum_of(entry), build_config(config))
    return generated, versions


def code_changes(
    manifests: Iterable[str | Path] | Iterable[tuple[datetime, dict[str, Any]]],
) -> pl.DataFrame:
    """The canonical ``code_changes`` table from manifests of one project taken over time.

    Args:
        manifests: manifest paths in any order (they are sorted by ``generated_at``), or
            already-read ``(generated_at, versions)`` pairs from :func:`manifest_versions`.

    Raises:
        ArtifactError: two manifests carry the same ``generated_at`` (the same parse, copied).
    """
    loaded = []
    for item in manifests:
        if isinstance(item, tuple):
            loaded.append((item[0], "<given>", item[1]))
        else:
            at, versions = manifest_versions(item)
            loaded.append((at, str(item), versions))
    loaded.sort(key=lambda t: t[0])
    rows: list[dict[str, Any]] = []
    for (prev_at, prev_path, prev), (at, path, cur) in pairwise(loaded):
        if at == prev_at:
            raise ArtifactError(
                f"has the same metadata.generated_at as {prev_path}; keep one of the two",
                path=path,
                field="metadata.generated_at",
            )
        for uid in sorted(cur):
            if prev.get(uid) != cur[uid]:
                rows.append({"unique_id": uid, "changed_at": at, "checksum": cur[uid][0]})
    schema = TABLES["code_changes"]
    frame = pl.DataFrame({k: [r.get(k) for r in rows] for k in schema}, schema=schema, strict=False)
    return validate(frame, "code_changes")
