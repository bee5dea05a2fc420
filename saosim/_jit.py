"""numba, cached on disk, and kept honest about what its cache was compiled from.

``cache=True`` keys a compiled function on its own source file only. The replay loop and the
planner's run pass inline the rules, the facts step and the codes of other modules, so an edit
there alone would keep running the old machine code — different decisions, silently. Before
the first compiled call, :func:`refresh_cache` compares a digest of every module that compiled
code is built from with the digest the cache was made from, and drops numba's index files when
they differ (numba then compiles afresh).

>>> jit_inline(lambda x: x + 1)(1)
2
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from numba import njit

__all__ = ["COMPILED_SOURCES", "jit_cached", "jit_inline", "refresh_cache"]

_ROOT = Path(__file__).parent

#: Every module whose code or constants end up in cached machine code.
COMPILED_SOURCES = (
    "core/codes.py",
    "core/facts.py",
    "core/rules.py",
    "core/run_pass.py",
    "core/transition.py",
    "replay/kernel/loop.py",
    "replay/kernel/timing.py",
)
_STAMP = "compiled_sources.sha256"
_checked = False


def jit_cached(func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True)``, after making sure the cache is not stale."""
    refresh_cache()
    options.setdefault("cache", True)
    return njit(**options) if func is None else njit(**options)(func)


def jit_inline(func: Callable[..., Any]) -> Any:
    """A small function numba inlines into its callers (its IR is copied in, no call)."""
    return njit(inline="always")(func)


def refresh_cache(root: Path = _ROOT, sources: tuple[str, ...] = COMPILED_SOURCES) -> bool:
    """Drop numba's index files under ``root`` unless ``sources`` are those the cache was
    compiled from; True when it dropped them (once per process for the package itself)."""
    global _checked
    if root == _ROOT:
        if _checked:
            return False
        _checked = True
    digest = hashlib.sha256()
    for name in sources:
        path = root / name
        digest.update(path.read_bytes() if path.exists() else b"")
    stamp = root / "__pycache__" / _STAMP
    try:
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return False
        for folder in {(root / name).parent / "__pycache__" for name in sources}:
            for index in folder.glob("*.nbi"):
                index.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        return False  # a read-only install: numba caches elsewhere, keyed the same way
    return True
