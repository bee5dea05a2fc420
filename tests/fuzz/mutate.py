"""Mutated inputs for the fuzz suite: every reader, every kind of damage, one seed per case.

A case is a seed file (a fixture, or a real artifact from ``../shared/real-artifacts``) and one
mutation of it, written to a scratch folder and handed to the reader a user would run. The
property (:func:`run_case`): the reader either returns or raises a ``SaosimError`` whose message
names the file; never another exception, never a hang, and a mutation of a class that must be
refused (``must_fail``) is never accepted. Used by ``tests/fuzz`` (a few hundred cases) and by
``benchmarks/fuzz.py`` (thousands).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import shutil
import signal
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from saosim.errors import SaosimError
from tests.fuzz.memory import Meter

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "artifacts"
REAL = ROOT / ".." / "shared" / "real-artifacts"
_MAX_REAL_BYTES = 2_000_000  # bigger real files make a case slow; the fixtures cover the rest


@dataclass(frozen=True)
class Seed:
    """An input to mutate: its kind (which reader) and where it is."""

    kind: str  # manifest | run_results | sources | export | cloud | scenario | tiers
    path: Path


@dataclass
class Case:
    seed: Seed
    mutation: str
    must_fail: bool
    path: Path  # the mutated input (a file, or a folder for exports)


@dataclass
class Outcome:
    case: Case
    result: str  # read | refused | traceback | unnamed | silent | hang
    detail: str = ""
    seconds: float = 0.0
    peak_bytes: int = 0


class Hang(BaseException):
    """Raised by the alarm in a case that runs too long (a BaseException: readers that catch
    ``Exception`` cannot swallow it)."""


# -- the corpus -----------------------------------------------------------------------------


def _schema_kind(path: Path) -> str | None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(4000).decode("utf-8", "replace")
    for marker, kind in (
        ("/dbt/manifest/v", "manifest"),
        ("/dbt/run-results/v", "run_results"),
        ("/dbt/sources/v", "sources"),
    ):
        at = head.find(marker)
        if at >= 0:
            version = int(
                "".join(c for c in head[at + len(marker) : at + len(marker) + 3] if c.isdigit())
            )
            floor = {"manifest": 4, "run_results": 4, "sources": 3}[kind]
            return kind if version >= floor else None
    return None


def corpus(*, real: bool = True) -> list[Seed]:
    """Every seed: the repository's fixtures, example settings, and (if present) real artifacts."""
    seeds = [Seed("manifest", FIXTURES / "manifest_v12.json")]
    seeds += [
        Seed("manifest", p) for p in sorted((FIXTURES / "manifests_over_time").glob("*.json"))
    ]
    seeds += [
        Seed("run_results", p) for p in sorted((FIXTURES / "runs_tree").rglob("*run_results.json"))
    ]
    seeds += [Seed("sources", p) for p in sorted((FIXTURES / "runs_tree").rglob("sources.json"))]
    seeds.append(Seed("sources", FIXTURES / "sources_fusion.json"))
    seeds += [
        Seed("export", FIXTURES / name) for name in ("dbt_artifacts_export", "elementary_export")
    ]
    seeds.append(Seed("cloud", FIXTURES / "cloud_runs"))
    seeds += [Seed("scenario", p) for p in sorted((ROOT / "examples" / "scenarios").glob("*.yml"))]
    seeds.append(Seed("tiers", ROOT / "tests" / "fixtures" / "freshness" / "tiers.yml"))
    if real and REAL.is_dir():
        for path in sorted(REAL.glob("*/*.json*")):
            if path.stat().st_size <= _MAX_REAL_BYTES:
                kind = _schema_kind(path)
                if kind:
                    seeds.append(Seed(kind, path))
    return seeds


# -- values that break things ------------------------------------------------------------------

NASTY: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    5,
    1.5,
    -3.25,
    1e30,
    -1e308,
    2**70,
    -(2**63),
    "",
    "x",
    " ",
    "\x00\x1b\x7f",
    "line\nbreak",
    "🦆 ünïcödé",
    "a" * 5000,
    "2999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2024-13-45T99:99:99Z",
    "2024-01-01T00:00:00",
    "not a time",
    "{{ var('x') }}",
    [],
    ["x"],
    [None],
    [1, 2],
    {},
    {"a": 1},
    {"count": 1, "period": "weeks"},
]
YAML_NASTY = [*NASTY, float("nan"), float("inf"), 10**20, -(10**20), "no", "yes", "0 0 30 2 *"]


def _paths(value: Any, at: tuple = ()) -> Iterator[tuple]:
    yield at
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*at, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*at, i))


def _random_path(rng: random.Random, data: Any) -> tuple:
    """A random path, biased towards short ones (a random walk that may stop at any level)."""
    at: tuple = ()
    node = data
    while isinstance(node, dict | list) and node and rng.random() < 0.85:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        at, node = (*at, key), node[key]
    return at


def _get(data: Any, at: tuple) -> Any:
    for key in at:
        data = data[key]
    return data


def _set(data: Any, at: tuple, value: Any) -> Any:
    if not at:
        return value
    _get(data, at[:-1])[at[-1]] = value
    return data


def _delete(data: Any, at: tuple) -> Any:
    if not at:
        return data
    parent = _get(data, at[:-1])
    del parent[at[-1]]
    return data


# -- JSON artifacts ----------------------------------------------------------------------------


def _node_ids(data: dict, kinds: tuple[str, ...] = ("model",)) -> list[str]:
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        return []
    return [u for u, e in nodes.items() if isinstance(e, dict) and e.get("resource_type") in kinds]


def _manifest_refusals(rng: random.Random, data: dict) -> tuple[str, dict] | None:
    """A mutation of a class the manifest reader must refuse, if this manifest allows one."""
    models = _node_ids(data)
    if not models:
        return None
    uid = rng.choice(models)
    node = data["nodes"][uid]
    choice = rng.randrange(6)
    if choice == 0:
        section = rng.choice(["sources", "exposures", "unit_tests"])
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            return None
        data[section][uid] = copy.deepcopy(node)
        return f"id {uid} also in {section}", data
    if choice == 1:
        node.setdefault("depends_on", {"nodes": []})
        node["depends_on"].setdefault("nodes", [])
        node["depends_on"]["nodes"].append(uid)
        return "self-dependency", data
    if choice == 2:
        parents = [
            p for p in (node.get("depends_on") or {}).get("nodes") or [] if p in data["nodes"]
        ]
        parents = [
            p
            for p in parents
            if data["nodes"][p].get("resource_type") in ("model", "seed", "snapshot")
        ]
        if not parents:
            return None
        parent = data["nodes"][rng.choice(parents)]
        parent.setdefault("depends_on", {}).setdefault("nodes", []).append(uid)
        return "cycle", data
    if choice == 3:
        bad = rng.choice(
            [
                {"count": 1, "period": "weeks"},
                {"count": 1, "period": None},
                {"count": 1, "period": 3},
                {"count": 1, "period": "hour", "updates_on": "some"},
                {"count": 0, "period": "hour"},
                {"count": -1, "period": "day"},
                {"count": 10**20, "period": "hour"},
            ]
        )
        node.setdefault("config", {})["freshness"] = {"build_after": bad}
        return f"build_after {bad}", data
    if choice == 4:
        node["resource_type"] = rng.choice(["source", "seed", "test", "exposure"])
        return "resource_type does not match the id", data
    data["metadata"]["dbt_schema_version"] = rng.choice(
        [12, None, ["x"], "v12", "https://x/v99.json"]
    )
    return "bad schema version", data


def _run_results_refusals(rng: random.Random, data: dict) -> tuple[str, dict] | None:
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    if not results:
        return None
    result = rng.choice(results)
    choice = rng.randrange(4)
    if choice == 0:
        result["execution_time"] = -rng.choice([0.5, 3, 1e9])
        return "negative execution_time", data
    if choice == 1:
        steps = [
            t for t in result.get("timing") or [] if t.get("started_at") and t.get("completed_at")
        ]
        if not steps:
            return None
        step = rng.choice(steps)
        step["completed_at"] = "2001-01-01T00:00:00Z"
        return "completed_at before started_at", data
    if choice == 2:
        data["metadata"]["invocation_started_at"] = "2999-01-01T00:00:00Z"
        return "run starts after it was written", data
    result["unique_id"] = rng.choice([None, 5, ["x"]])
    return "result without a text unique_id", data


def _sources_refusals(rng: random.Random, data: dict) -> tuple[str, dict] | None:
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    if not results:
        return None
    rng.choice(results)["max_loaded_at"] = rng.choice(["2999-01-01T00:00:00Z", 1735689600])
    return "max_loaded_at in the future / not text", data


_REFUSALS: dict[str, Callable[[random.Random, dict], tuple[str, dict] | None]] = {
    "manifest": _manifest_refusals,
    "run_results": _run_results_refusals,
    "sources": _sources_refusals,
}


def _mutate_json(rng: random.Random, seed: Seed, out: Path) -> tuple[str, bool]:
    raw = seed.path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    data = orjson.loads(raw)
    roll = rng.random()
    name, must_fail = "", False
    if roll < 0.3:
        found = _REFUSALS[seed.kind](rng, data)
        if found:
            name, data = found
            must_fail = True
    if not name and roll < 0.75:
        at = _random_path(rng, data)
        if rng.random() < 0.2 and at:
            name, data = f"delete {at[-3:]}", _delete(data, at)
        else:
            value = rng.choice(NASTY)
            name, data = f"set {at[-3:]} = {value!r:.40}", _set(data, at, copy.deepcopy(value))
    body = json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass") if name else raw
    if not name:
        choice = rng.randrange(4)
        if choice == 0:
            cut = rng.randrange(1, max(2, len(body) - 1))
            name, body, must_fail = f"truncated at byte {cut}", body[:cut], True
        elif choice == 1:
            flipped = bytearray(body)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            name, body = "random bytes flipped", bytes(flipped)
        elif choice == 2:
            depth = rng.choice([2000, 100_000])
            name, body, must_fail = f"nested {depth} deep", b"[" * depth + b"]" * depth, True
        else:
            name, body, must_fail = "gzip of 64 MB of blanks", b" " * (64 << 20), True
    suffix = ".json"
    if rng.random() < 0.25 or name.startswith("gzip"):
        body, suffix = gzip.compress(body, compresslevel=1), ".json.gz"
        if not name.startswith("gzip") and rng.random() < 0.5:
            cut = rng.randrange(10, max(11, len(body) - 4))
            body = body[:cut] + bytes([body[cut] ^ 0xFF]) + body[cut + 1 :]
            # a flip in bits deflate never reads (a block's padding) leaves the same content
            try:
                harmless = zlib.decompress(body, 16 + zlib.MAX_WBITS) is not None
            except zlib.error:
                harmless = False
            name = f"{name}; gzip damaged at byte {cut}" + (" (harmless)" if harmless else "")
            must_fail = must_fail or not harmless
    stem = {"manifest": "manifest", "run_results": "run_results", "sources": "sources"}[seed.kind]
    (out / f"{stem}{suffix}").write_bytes(body)
    return name, must_fail


# -- exports -------------------------------------------------------------------------------


def _mutate_export(rng: random.Random, seed: Seed, out: Path) -> tuple[str, bool]:
    folder = out / seed.path.name
    shutil.copytree(seed.path, folder)
    tables = sorted(p for p in folder.iterdir() if p.suffix == ".csv")
    table = rng.choice(tables)
    roll = rng.random()
    if roll < 0.25:
        table.write_bytes(rng.randbytes(rng.randint(1, 4000)))
        return f"{table.name} is random bytes", True
    lines = table.read_text().splitlines()
    if roll < 0.35:
        table.write_text(lines[0] + "\n")
        return f"{table.name} has a header only", False
    if roll < 0.45:
        header = lines[0].split(",")
        dropped = rng.choice(header)
        import polars as pl

        frame = pl.read_csv(table, infer_schema=False)
        frame.drop(dropped).write_csv(table)
        return f"{table.name} without column {dropped}", False
    import polars as pl

    frame = pl.read_csv(table, infer_schema=False)
    if frame.height == 0:
        return "unchanged", False
    column = rng.choice(frame.columns)
    row = rng.randrange(frame.height)
    value = rng.choice([v for v in NASTY if not isinstance(v, dict | list)])
    cells = frame.get_column(column).to_list()
    cells[row] = None if value is None else str(value)
    frame = frame.with_columns(pl.Series(column, cells, dtype=pl.String))
    if rng.random() < 0.2:
        frame = pl.concat([frame, frame.slice(row, 1)])
        column += " (row repeated)"
    frame.write_csv(table)
    return f"{table.name} row {row + 1} {column} = {value!r:.30}", False


# -- dbt Cloud exports -----------------------------------------------------------------------


def _mutate_cloud(rng: random.Random, seed: Seed, out: Path) -> tuple[str, bool]:
    folder = out / seed.path.name
    shutil.copytree(seed.path, folder)
    listing = folder / "runs.json"
    data = orjson.loads(listing.read_bytes())
    roll = rng.random()
    runs = data["data"]
    if roll < 0.15:
        runs[rng.randrange(len(runs))]["finished_at"] = "2001-01-01 00:00:00+00:00"
        name, must_fail = "a run finishes before it starts", True
    elif roll < 0.25:
        runs.append(copy.deepcopy(rng.choice(runs)))
        name, must_fail = "a run listed twice", True
    elif roll < 0.35:
        body = listing.read_bytes()
        cut = rng.randrange(1, len(body) - 1)
        listing.write_bytes(body[:cut])
        return f"runs.json truncated at byte {cut}", True
    else:
        at = _random_path(rng, data)
        value = rng.choice(NASTY)
        name, must_fail = f"set {at[-3:]} = {value!r:.40}", False
        data = _set(data, at, copy.deepcopy(value))
    listing.write_text(json.dumps(data, ensure_ascii=False))
    return name, must_fail


# -- settings files ----------------------------------------------------------------------------


def _yaml_refusal(rng: random.Random, kind: str) -> tuple[str, Any]:
    if kind == "tiers":
        bad = rng.choice(
            [
                {"default": {"build_after": {"count": 10**20, "period": "hour"}}},
                {"default": {"sla": float("nan")}},
                {"default": {"build_after": {"count": 1, "period": "weeks"}}},
                {"hourly": {"select": ["tag:x"], "build_after": {"count": 1, "period": "hour"}}},
            ]
        )
        return f"tiers {bad}", {"tiers": bad}
    bad = rng.choice(
        [
            {"jobs": [{"name": "h", "cron": "0 0 * * *", "full_refresh": "no"}]},
            {"jobs": [{"name": "h", "cron": "0 0 30 2 *"}]},
            {"jobs": [{"name": "h", "cron": "* * * * * *"}]},
            {"tiers": {"default": {"build_after": {"count": 10**20, "period": "day"}}}},
            {"tiers": {"default": {"sla": float("nan")}}},
            {"profile": "saoo"},
        ]
    )
    return f"scenario {bad}", {"profile": "sao", **bad}


def _mutate_yaml(rng: random.Random, seed: Seed, out: Path) -> tuple[str, bool]:
    text = seed.path.read_text()
    target = out / seed.path.name
    roll = rng.random()
    if roll < 0.25:
        name, data = _yaml_refusal(rng, seed.kind)
        target.write_text(yaml.safe_dump(data))
        return name, True
    if roll < 0.35:
        depth = rng.choice([200, 5000])
        target.write_text("tiers: " + "[" * depth + "]" * depth + "\n")
        return f"nested {depth} deep", True
    if roll < 0.5:
        cut = rng.randrange(1, max(2, len(text)))
        target.write_text(text[:cut])
        return f"truncated at {cut}", False
    data = yaml.safe_load(text)
    at = _random_path(rng, data)
    value = rng.choice(YAML_NASTY)
    data = _set(data, at, copy.deepcopy(value))
    target.write_text(yaml.safe_dump(data, allow_unicode=True))
    return f"set {at[-3:]} = {value!r:.40}", False


# -- cases and the property ---------------------------------------------------------------------


def make_case(seed: Seed, case_seed: int, scratch: Path) -> Case:
    """Write one mutation of ``seed`` (chosen by ``case_seed``) into ``scratch``."""
    rng = random.Random(case_seed)
    scratch.mkdir(parents=True, exist_ok=True)
    if seed.kind in _REFUSALS:
        name, must_fail = _mutate_json(rng, seed, scratch)
        path = next(scratch.iterdir())
    elif seed.kind == "export":
        name, must_fail = _mutate_export(rng, seed, scratch)
        path = scratch / seed.path.name
    elif seed.kind == "cloud":
        name, must_fail = _mutate_cloud(rng, seed, scratch)
        path = scratch / seed.path.name
    else:
        name, must_fail = _mutate_yaml(rng, seed, scratch)
        path = scratch / seed.path.name
    return Case(seed, name, must_fail, path)


def _read(case: Case) -> None:
    from saosim.inputs import ingest, read_export, read_runs, read_sources
    from saosim.project.tiers import load_tiers
    from saosim.replay.scenario_config import load_scenario

    kind = case.seed.kind
    if kind == "manifest":
        estate = ingest([case.path])
        estate.summary()
    elif kind == "run_results":
        read_runs(case.path)
    elif kind == "sources":
        read_sources(case.path)
    elif kind == "export":
        read_export(case.path)
    elif kind == "cloud":
        ingest([case.path]).summary()
    elif kind == "scenario":
        load_scenario(case.path)
    else:
        from saosim.inputs import read_manifest

        tiers = load_tiers(case.path)
        tiers.resolve(read_manifest(FIXTURES / "manifest_v12.json"))


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _names_the_file(message: str, case: Case) -> bool:
    path = case.path
    return str(path.name) in message or str(path.parent.name) in message


def run_case(case: Case, *, timeout_s: float = 30.0, measure_memory: bool = False) -> Outcome:
    """Read one case and classify what happened (see the module docstring); with
    ``measure_memory``, ``peak_bytes`` is what the read took (:class:`tests.fuzz.memory.Meter`)."""
    import warnings

    start = time.perf_counter()
    meter = Meter() if measure_memory else None
    try:
        with warnings.catch_warnings(), meter or nullcontext():
            warnings.simplefilter("ignore")
            with _alarm(timeout_s):
                _read(case)
    except Hang as exc:
        return Outcome(case, "hang", str(exc), time.perf_counter() - start)
    except SaosimError as exc:
        message = str(exc)
        result = "refused" if _names_the_file(message, case) else "unnamed"
        if "\n" in message:
            result, message = "unnamed", "multi-line message: " + message
        return Outcome(case, result, message[:300], time.perf_counter() - start, _peak(meter))
    except Exception as exc:  # the property's failure: anything but a SaosimError
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc!s:.200} at {Path(where.filename).name}:{where.lineno}"
        return Outcome(case, "traceback", detail, time.perf_counter() - start, _peak(meter))
    seconds = time.perf_counter() - start
    if case.must_fail:
        return Outcome(case, "silent", "accepted a mutation that must be refused", seconds)
    return Outcome(case, "read", "", seconds, _peak(meter))


def _peak(meter: Meter | None) -> int:
    return meter.peak if meter is not None else 0
