"""The example dbt project (``examples/jaffle_duckdb``), copied somewhere to play with.

The example lives in the repository beside the package, not inside it: it is found from a
source checkout (or an editable install) only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from saosim.errors import SaosimError

__all__ = ["EXAMPLE_PROJECT", "example_project"]

#: Where the example project is in a source checkout.
EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "examples" / "jaffle_duckdb"
_BUILD_OUTPUTS = shutil.ignore_patterns(
    "target",
    "logs",
    "dbt_packages",
    ".saosim",
    "*.duckdb",
    "*.duckdb.wal",
    "__pycache__",
)


def example_project(dest: str | Path, *, init: bool = True) -> Path:
    """Copy the example dbt project to ``dest/jaffle_duckdb`` and load its raw tables.

    Args:
        dest: an existing folder (e.g. a temporary directory).
        init: run the copy's ``land.py --init`` (creates ``jaffle.duckdb`` with the raw tables).

    Returns:
        The copied project folder.

    Raises:
        SaosimError: the example is not there (saosim installed without its repository), or
            ``dest/jaffle_duckdb`` exists already.
    """
    if not (EXAMPLE_PROJECT / "dbt_project.yml").is_file():
        raise SaosimError(
            f"the example project is not at {EXAMPLE_PROJECT}; it ships with saosim's "
            "repository (examples/jaffle_duckdb), not with an installed wheel"
        )
    target = Path(dest) / "jaffle_duckdb"
    if target.exists():
        raise SaosimError(f"{target} exists already; pass an empty folder")
    shutil.copytree(EXAMPLE_PROJECT, target, ignore=_BUILD_OUTPUTS)
    if init:
        done = subprocess.run(
            [sys.executable, str(target / "land.py"), "--init"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SaosimError(f"land.py --init failed in {target}: {done.stderr.strip()}")
    return target
