"""What to say when a dbt selector matches nothing: the project's tags, folders and the names
closest to what was asked for.

A scenario file written for one project (``tag:hourly``) often names things another project does
not have; the error should tell the user what there is to select instead.

>>> from saosim.project.graph import Project
>>> p = Project.from_spec({"raw.a": [], "stg_orders": ["raw.a"], "fct_orders": ["stg_orders"]})
>>> print(selector_hint(p, "fct_order"))
tags: none; folders: none; closest names: fct_orders, stg_orders
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saosim.project.graph import Project

__all__ = ["project_folders", "project_tags", "selector_hint"]

#: how many tags and folders a hint lists before "… and N more"
SHOWN = 8


def project_tags(project: Project) -> list[str]:
    """The tags of the project's buildable nodes, most used first (ties by name).

    >>> from saosim.project.graph import Project
    >>> project_tags(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
    []
    """
    counts = Counter(t for n in project.nodes.values() if n.is_buildable for t in n.tags)
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def project_folders(project: Project, depth: int = 2) -> list[str]:
    """The folders (up to ``depth`` levels, e.g. ``models/staging``) that hold buildable nodes,
    most populated first.

    >>> from saosim.project.graph import Project
    >>> project_folders(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
    []
    """
    counts: Counter[str] = Counter()
    for node in project.nodes.values():
        if not node.is_buildable or "/" not in node.path:
            continue
        parts = node.path.split("/")[:-1]
        counts["/".join(parts[:depth])] += 1
    return [f for f, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _listed(values: list[str]) -> str:
    if not values:
        return "none"
    shown = ", ".join(values[:SHOWN])
    return shown + (f" … and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def _term_value(selector: str) -> tuple[str, str]:
    """The method and the value of a selector's first term, without graph operators."""
    term = selector.split()[0].split(",")[0] if selector.strip() else ""
    term = term.lstrip("@").lstrip("0123456789").lstrip("+").rstrip("0123456789").rstrip("+")
    method, sep, value = term.partition(":")
    return (method, value) if sep else ("name", term)


def selector_hint(project: Project, selector: str) -> str:
    """One clause listing what ``selector`` could have named: the project's tags, its folders
    and the closest tags, folders or node names (``difflib``) to the selector's value."""
    method, value = _term_value(selector)
    tags = project_tags(project)
    folders = project_folders(project)
    if method == "tag":
        pool, label, prefix = tags, "closest tags", "tag:"
    elif method == "path":
        deep = project_folders(project, depth=10)
        pool = sorted(
            {"/".join(f.split("/")[:k]) for f in deep for k in range(1, f.count("/") + 2)}
        )
        label, prefix = "closest folders", "path:"
    else:
        names = {n.name for n in project.nodes.values() if not n.is_test}
        pool, label, prefix = sorted(names), "closest names", ""
    close = difflib.get_close_matches(value, pool, n=3, cutoff=0.5) if value else []
    closest = ", ".join(prefix + c for c in close) or "none"
    return f"tags: {_listed(tags)}; folders: {_listed(folders)}; {label}: {closest}"
