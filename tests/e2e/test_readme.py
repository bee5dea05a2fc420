"""A newcomer's first hour: the README's commands run as written, so the README cannot drift
from what works.

Blocks between ``<!-- readme-test: NAME -->`` and ``<!-- /readme-test -->`` are run as bash
scripts (``set -euo pipefail``), in a copy of the repository whose ``.venv`` is the environment
running this test. Only placeholders a reader replaces are substituted (``path/to/target``,
``path/to/run-history/``, ``path/to/manifest.json``); two lines are not run, and say why in
:data:`NOT_RUN`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
GITLAB = REPO.parent / "shared" / "real-artifacts" / "tnmy44__gitlab-analytics"

#: lines of marked blocks this test does not run, and why
NOT_RUN = {
    "make test": "make test is what runs this test",
    "make notebooks": "starts a JupyterLab server that waits for a browser",
}

_BLOCK = re.compile(r"<!-- readme-test: ([\w-]+)[^>]*-->(.*?)<!-- /readme-test -->", re.S)
_FENCE = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)
_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "saosim-out",
    "target",
    "logs",
    ".saosim",
    "*.duckdb",
    "*.duckdb.wal",
    "dbt_packages",
    "*.egg-info",
)


def readme_blocks(text: str) -> dict[str, str]:
    """The bash of each marked block (fenced blocks inside a marked region, dedented, joined).

    >>> readme_blocks("<!-- readme-test: a -->\\n1. x\\n   ```bash\\n   echo hi\\n   ```\\n"
    ...               "<!-- /readme-test -->")
    {'a': 'echo hi\\n'}
    """
    out = {}
    for name, body in _BLOCK.findall(text):
        scripts = []
        for fence in _FENCE.findall(body):
            lines = fence.splitlines()
            indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
            scripts.append("\n".join(x[indent:] for x in lines) + "\n")
        out[name] = "".join(scripts)
    return out


def _runnable(script: str) -> str:
    lines = []
    for line in script.splitlines():
        command = line.split("#", 1)[0].strip()
        if command in NOT_RUN:
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    return readme_blocks(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh clone has it, with this test's environment as its ``.venv``
    (entries linked, so ``.venv/bin/python`` finds its ``pyvenv.cfg``; install stamps newer
    than ``pyproject.toml``, so ``make`` installs nothing)."""
    root = tmp_path_factory.mktemp("clone") / "saosim"
    shutil.copytree(REPO, root, ignore=_IGNORE)
    venv = root / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry)
    os.utime(root / "pyproject.toml", (0, 0))
    for stamp in (".core-installed", ".notebook-installed", ".all-installed"):
        (venv / stamp).touch()
    return root


def _bash(script: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(cwd), SAOSIM_DEBUG="0")
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_marked_blocks_are_there(blocks):
    assert set(blocks) >= {
        "quick-start",
        "four-commands",
        "only-a-manifest",
        "dag-only",
        "live-walkthrough",
    }
    for name, script in blocks.items():
        assert script.strip(), name
        # as written from a fresh clone: no bare `python`, no activated venv assumed
        for line in script.splitlines():
            assert not re.match(r"\s*(python|saosim|dbt)\b", line), (name, line)


@pytest.mark.slow
def test_quick_start(blocks, clone):
    script = _runnable(blocks["quick-start"])
    assert "make demo" in script and "make test" not in script
    out = _ok(_bash(script, clone))
    assert "tuned" in out and "baseline" in out
    assert (clone / "saosim-out" / "savings.html").is_file()


@pytest.mark.slow
def test_four_commands_on_your_own_artifacts(blocks, clone, tmp_path):
    import saosim

    # dbt artifacts as a project writes them: target/manifest.json and a folder of runs
    estate = saosim.synthetic_estate(n_models=120, days=3, seed=21)
    art = Path(saosim.write_artifacts(estate, tmp_path / "runs"))
    target = tmp_path / "project" / "target"
    target.mkdir(parents=True)
    shutil.move(str(art / "manifest.json"), target / "manifest.json")
    script = blocks["four-commands"]
    script = script.replace("path/to/target", str(target))
    script = script.replace("path/to/run-history/", f"{art}/")
    out = _ok(_bash(script, clone))
    assert "tuned" in out and "report:" in out
    assert (clone / "savings.html").is_file()


@pytest.mark.slow
@pytest.mark.real_artifacts
def test_only_a_manifest_on_gitlab(blocks, clone):
    manifests = sorted(GITLAB.glob("*manifest*.json.gz"))
    if not manifests:
        pytest.skip(f"{GITLAB} is absent (../shared/real-artifacts)")
    for name in ("only-a-manifest", "dag-only"):
        script = blocks[name].replace("path/to/manifest.json", str(manifests[-1]))
        out = _ok(_bash(script, clone))
        assert "baseline" in out, name
    assert (clone / "savings.html").is_file()


@pytest.mark.slow
@pytest.mark.live
def test_live_walkthrough(blocks, clone):
    pytest.importorskip("dbt.adapters.duckdb", reason="the dbt extra (make install)")
    script = blocks["live-walkthrough"]
    assert script.count("--explain") == 3 and "make install" in script
    out = _ok(_bash(script, clone))
    assert "reused: built 45m ago, build_after 1h not yet passed (until 08:00)" in out
    assert "stg_orders: built: new upstream data" in out
    assert "fct_orders: reused: built 2h ago, build_after 1d not yet passed" in out
    assert "'built': 1," in out  # the 09:00 run built one model and reused the rest
