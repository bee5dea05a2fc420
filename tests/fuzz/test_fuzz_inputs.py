"""The fuzz suite in ``make test``: mutations of every reader's inputs (the fixtures, the example
settings and, when present, ../shared/real-artifacts) either read or raise a ``SaosimError``
that names the file — never another exception, never a hang, never a silent acceptance of damage
that must be refused. ``benchmarks/fuzz.py --n 10000`` is the long run of the same property."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import REAL, corpus, make_case, run_case

SEEDS = corpus()
_FIXTURE_SEEDS = corpus(real=False)
# Hypothesis picks (seed input, mutation seed); derandomised so `make test` is repeatable —
# the long benchmark run explores new seeds.
_SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _check(index: int, case_seed: int, seeds: list) -> None:
    with tempfile.TemporaryDirectory(prefix="saosim-fuzz-") as scratch:
        case = make_case(seeds[index % len(seeds)], case_seed, Path(scratch))
        outcome = run_case(case, timeout_s=30)
        assert outcome.result in ("read", "refused"), (
            f"{outcome.result}: {case.seed.path.name} — {case.mutation}: {outcome.detail}"
        )


@_SETTINGS
@given(index=st.integers(0, 10_000), case_seed=st.integers(0, 2**32 - 1))
def test_every_mutated_input_reads_or_names_its_file(index: int, case_seed: int) -> None:
    _check(index, case_seed, SEEDS)


def test_the_corpus_covers_every_reader_and_real_artifacts_when_present() -> None:
    kinds = Counter(seed.kind for seed in SEEDS)
    assert set(kinds) == {
        "manifest",
        "run_results",
        "sources",
        "export",
        "cloud",
        "scenario",
        "tiers",
    }
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent: fuzzing the repository's fixtures only")
    assert len(SEEDS) > len(_FIXTURE_SEEDS) + 30


def test_mutations_include_classes_that_must_be_refused() -> None:
    # the property is only as strong as its oracle: enough cases must be must-fail ones
    results = Counter()
    with tempfile.TemporaryDirectory(prefix="saosim-fuzz-") as scratch:
        for i in range(60):
            case = make_case(_FIXTURE_SEEDS[i % len(_FIXTURE_SEEDS)], i, Path(scratch) / str(i))
            results[(case.seed.kind, case.must_fail)] += 1
    assert all(results[(kind, True)] for kind in ("manifest", "run_results", "scenario"))
