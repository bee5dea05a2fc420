"""Code fingerprints: a node's code identity, blind to cosmetic edits.

SQL is parsed with sqlglot in the project's dialect, identifiers are normalised by the
dialect's case rules, and the tree (not its spelling) is hashed: comments, whitespace, keyword
case, the trailing commas a dialect allows, ``AS`` or not before an alias, ``INNER``/``OUTER``
spelled out, and identifier quoting that does not change meaning do not change a fingerprint;
any change to the logic does. The configs that change what is built
(``Node.build_config``: materialization, unique_key, incremental strategy, contract …; not
tags, descriptions or meta) are folded in. A seed's fingerprint is its file checksum.

Manifests from ``dbt parse`` have raw code with Jinja and no compiled SQL. Raw code is split
into SQL, literals and Jinja (:mod:`saosim.project.fingerprint_text`); each ``{{ }}`` becomes a
stable
placeholder identifier, each ``{% %}`` is taken out (its normalised text and position are hashed
alongside), ``{{ config(...) }}`` is dropped, and sqlglot parses what is left. When it cannot,
the fingerprint is a hash of normalised text (comments gone, whitespace and case normalised
outside literals) and says so: :attr:`Fingerprint.method` is ``text`` and ``reason`` says why.

Pure: no files, no clock. Results are cached by code text, so re-fingerprinting a manifest
after a few edits costs only the edited models.

>>> fingerprint_sql("select a, b from t -- note") == fingerprint_sql("SELECT a,\\n  b\\nFROM t")
True
>>> fingerprint_sql("select a from t where x = 1") == fingerprint_sql("select a from t")
False
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import orjson
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from saosim.errors import SaosimWarning
from saosim.project.fingerprint_text import (
    Piece,
    is_config_call,
    jinja_placeholder,
    normalised_pieces,
    split_code,
)
from saosim.project.graph import Node, Project

__all__ = [
    "CodeDiff",
    "Fingerprint",
    "FingerprintReport",
    "Method",
    "Reason",
    "compare_fingerprints",
    "fingerprint_code",
    "fingerprint_node",
    "fingerprint_project",
    "fingerprint_sql",
]

#: Bumped when the canonical form changes, so old and new fingerprints never compare equal.
_VERSION = "saosim-fp-1"


class Method(StrEnum):
    """How a fingerprint was made."""

    SQLGLOT = "sqlglot"  # parsed and written back canonically
    TEXT = "text"  # normalised text (a fallback)
    CHECKSUM = "checksum"  # a seed's file checksum


class Reason(StrEnum):
    """Why a fingerprint fell back to normalised text."""

    PARSE_ERROR = "parse_error"  # SQL sqlglot cannot parse in this dialect
    JINJA = "jinja"  # raw code that does not parse once its Jinja is masked
    UNSUPPORTED = "unsupported_statement"  # sqlglot kept a statement as an opaque command
    PYTHON = "python_model"  # not SQL
    NO_CODE = "no_code"  # neither compiled nor raw code (or a seed without checksum)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A fingerprint with how it was made; ``reason`` is set for fallbacks only."""

    value: str
    method: Method
    reason: Reason | None = None

    @property
    def parsed(self) -> bool:
        return self.method is not Method.TEXT


@dataclass(frozen=True)
class FingerprintReport:
    """How a project's fingerprints were made.

    ``parsed`` counts fingerprints from parsed SQL (and seeds' checksums); ``fallback`` those
    from normalised text, by :class:`Reason` in ``by_reason``.

    >>> FingerprintReport(4, 3, 1, {"jinja": 1}).fallback_share
    0.25
    """

    total: int
    parsed: int
    fallback: int
    by_reason: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "by_reason", MappingProxyType(dict(sorted(self.by_reason.items())))
        )

    @property
    def fallback_share(self) -> float:
        return self.fallback / self.total if self.total else 0.0


def _digest(*parts: str) -> str:
    h = hashlib.sha256(_VERSION.encode())
    for part in parts:
        h.update(b"\x1f")
        h.update(part.encode())
    return h.hexdigest()[:32]


# sqlglot logs a warning for every statement it keeps as an opaque command, and its optimizer
# logs scope problems; the fingerprint reports those itself (Reason.UNSUPPORTED).
_SQLGLOT_LOGGERS = [logging.getLogger(name) for name in ("sqlglot", "sqlglot.optimizer.scope")]
_MAX_RETRIES = 8


class _Unsupported(Exception):
    """A statement sqlglot kept as an opaque command."""


def _parse(sql: str, dialect: str | None) -> tuple[list[exp.Expression] | None, Exception | None]:
    saved = [logger.disabled for logger in _SQLGLOT_LOGGERS]
    for logger in _SQLGLOT_LOGGERS:
        logger.disabled = True
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        return [normalize_identifiers(s, dialect=dialect) for s in statements], None
    except (SqlglotError, RecursionError, ValueError, KeyError, IndexError, AttributeError) as exc:
        return None, exc
    finally:
        for logger, was in zip(_SQLGLOT_LOGGERS, saved, strict=True):
            logger.disabled = was


# Join kinds that only restate the default: "JOIN" is "INNER JOIN", "LEFT JOIN" is "LEFT OUTER".
_NOISE_JOIN_KINDS = frozenset({"INNER", "OUTER"})


def _tree_text(tree: exp.Expression) -> str:
    """An unambiguous serialisation of a normalised tree, blind to quoting and comments.

    Ten times faster than generating SQL, and it compares trees, not spellings. Identifiers
    were normalised per the dialect's case rules first, so whether one was quoted no longer
    matters; comments live outside ``args`` and are never read.
    """
    out: list[str] = []
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, exp.Expression):
            out.append(repr(node))
            continue
        if isinstance(node, exp.Command):
            raise _Unsupported
        args = []
        for key, value in node.args.items():
            if value is None or value is False or (isinstance(value, list) and not value):
                continue
            if key == "quoted" and isinstance(node, exp.Identifier):
                continue
            if (
                key == "kind"
                and isinstance(node, exp.Join)
                and str(value).upper() in (_NOISE_JOIN_KINDS)
            ):
                continue
            if key == "this" and isinstance(node, exp.Anonymous) and isinstance(value, str):
                value = value.upper()  # an unknown function's name is case-insensitive
            args.append((key, value))
        out.append(f"{node.key}/{len(args)}")
        for key, value in reversed(args):
            if isinstance(value, list):
                stack.extend(reversed(value))
                stack.append(f"{key}[{len(value)}")
            else:
                stack.append(value)
                stack.append(key)
    return "\x1e".join(out)


def _canonical(statements: list[exp.Expression]) -> tuple[str | None, Reason | None]:
    if not statements:
        return None, Reason.PARSE_ERROR
    try:
        return "\x1d".join(_tree_text(s) for s in statements), None
    except _Unsupported:
        return None, Reason.UNSUPPORTED
    except RecursionError:
        return None, Reason.PARSE_ERROR


def _slashes(dialect: str | None) -> bool:
    return (dialect or "").lower() == "snowflake"


@lru_cache(maxsize=32768)
def fingerprint_code(code: str, dialect: str | None = None) -> Fingerprint:
    """The fingerprint of SQL or raw dbt code (Jinja allowed), with how it was made.

    >>> fp = fingerprint_code("select * from {{ ref('orders') }} {# note #}", "snowflake")
    >>> fp.method, fp.reason
    (<Method.SQLGLOT: 'sqlglot'>, None)
    >>> fingerprint_code("select {% if x %} a {% else %} b c d {% endif %} from t").reason
    <Reason.JINJA: 'jinja'>
    """
    pieces = split_code(code, line_comment_slashes=_slashes(dialect))
    has_jinja = any(p.kind in ("expr", "stmt") or "{{" in p.text for p in pieces)
    if not has_jinja:
        # Parse the text with comments taken out: sqlglot reads `GROUP /* x */ BY` as an alias.
        statements, _ = _parse("".join(p.text for p in pieces), dialect)
        canonical, reason = _canonical(statements or [])
        if canonical is not None:
            return Fingerprint(_digest("sql", canonical), Method.SQLGLOT)
        return Fingerprint(_digest("text", normalised_pieces(pieces)), Method.TEXT, reason)
    masked, tags = _mask(pieces)
    for _ in range(_MAX_RETRIES):
        statements, error = _parse(masked, dialect)
        if statements is not None:
            canonical, reason = _canonical(statements)
            if canonical is not None:
                return Fingerprint(_digest("sql", canonical, *tags), Method.SQLGLOT)
            break
        # A macro call standing where SQL has no expression (`{{ dbt_utils.group_by(3) }}`
        # after WHERE): take it out like a {% %} tag, hash its text and place, and parse again.
        lifted = _lift_placeholder(masked, error)
        if lifted is None:
            break
        masked, tag = lifted
        tags.append(tag)
    return Fingerprint(_digest("text", normalised_pieces(pieces)), Method.TEXT, Reason.JINJA)


_WORD = re.compile(r"\w+")
_IN_LITERAL = re.compile(r"\{\{(.*?)\}\}", re.S)
_PLACEHOLDER = re.compile(r"__jinja_[0-9a-f]{12}__", re.I)


def _mask(pieces: list[Piece]) -> tuple[str, list[str]]:
    """SQL with Jinja masked, and each ``{% %}`` as ``position:text`` (position in SQL words)."""
    out: list[str] = []
    tags: list[str] = []
    words = 0
    for piece in pieces:
        if piece.kind == "expr":
            if is_config_call(piece.text):
                continue
            out.append(f" {jinja_placeholder(piece.text)} ")
            words += 1
        elif piece.kind == "stmt":
            # Where a tag sits counts (moving an {% endif %} changes logic); positions are
            # counted in SQL words, which whitespace, case and comments do not move.
            tags.append(f"{words}:{piece.text}")
            out.append(" ")
        elif piece.kind == "sql":
            out.append(piece.text)
            words += len(_WORD.findall(piece.text))
        else:
            out.append(_IN_LITERAL.sub(lambda m: jinja_placeholder(m.group(1)), piece.text))
            words += 1
    return _trailing_macro_select(_lead_macro_ctes("".join(out))), tags


_LEADING_PLACEHOLDERS = re.compile(
    r"^\s*(?:with\s+)?((?:__jinja_[0-9a-f]{12}__\s*)+)(,|(?=\w+\s+as\s*\()|(?=select\b))", re.I
)
_TRAILING_PLACEHOLDER = re.compile(r"\)\s*(__jinja_[0-9a-f]{12}__)\s*;?\s*$")


def _lead_macro_ctes(sql: str) -> str:
    # `{{ simple_cte([...]) }} , final AS (...) SELECT …`: leading macros that write the first
    # CTEs. Read each as one CTE named by its placeholder so the rest of the model parses.
    match = _LEADING_PLACEHOLDERS.match(sql)
    if not match:
        return sql
    names = match.group(1).split()
    ctes = ", ".join(f"{name} AS (SELECT 1)" for name in names)
    rest = sql[match.end(1) :].lstrip()
    if rest[:6].lower() == "select":
        return f"WITH {ctes} {rest}"
    return f"WITH {ctes} ," + rest.removeprefix(",")


def _trailing_macro_select(sql: str) -> str:
    # `… final AS (…) {{ dbt_audit(cte_ref="final", …) }}`: a closing macro that writes the
    # final SELECT. Read it as selecting from its placeholder.
    match = _TRAILING_PLACEHOLDER.search(sql)
    if not match or not sql.lstrip().upper().startswith("WITH"):
        return sql
    return sql[: match.start(1)] + f"SELECT * FROM {match.group(1)}"


def _lift_placeholder(sql: str, error: Exception | None) -> tuple[str, str] | None:
    """Take out the placeholder a parse error points at; ``None`` if it points elsewhere."""
    details = getattr(error, "errors", None) or []
    if not details:
        return None
    line, col = details[0].get("line"), details[0].get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    lines = sql.split("\n")
    if not 0 < line <= len(lines):
        return None
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + col
    best = None
    for match in _PLACEHOLDER.finditer(sql, max(0, offset - 60), offset + 60):
        distance = min(abs(match.start() - offset), abs(match.end() - offset))
        if best is None or distance < best[0]:
            best = (distance, match)
    if best is None or best[0] > 2:
        return None
    match = best[1]
    words = len(_WORD.findall(sql, 0, match.start()))
    return sql[: match.start()] + " " + sql[match.end() :], f"{words}:{match.group()}"


def fingerprint_sql(sql: str, dialect: str | None = None) -> str:
    """The fingerprint of compiled SQL (or raw code); see :func:`fingerprint_code` for how.

    >>> a = fingerprint_sql('SELECT "A", b, FROM t', "snowflake")
    >>> a == fingerprint_sql("select a, B from T", "snowflake")
    True
    >>> a == fingerprint_sql('select "a", b from t', "snowflake")  # quoted lower case differs
    False
    """
    return fingerprint_code(sql, dialect).value


def _build_config(node: Node) -> str:
    """Canonical JSON of what changes the build: ``build_config`` plus the materialization."""
    config: dict[str, object] = {}
    if node.build_config:
        try:
            loaded = orjson.loads(node.build_config)
        except orjson.JSONDecodeError:
            loaded = {"raw": node.build_config}
        config = loaded if isinstance(loaded, dict) else {"raw": loaded}
    if node.materialization and "materialized" not in config:
        config["materialized"] = node.materialization
    return orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()


def fingerprint_node(node: Node, dialect: str | None = None) -> Fingerprint:
    """A node's fingerprint: its code (compiled if present, else raw) plus its build configs.

    >>> from saosim.project.graph import Node
    >>> view = Node("model.p.m", "m", "model", "view", raw_code="select 1 as x")
    >>> table = Node("model.p.m", "m", "model", "table", raw_code="SELECT 1 AS x -- note")
    >>> fingerprint_node(view).value == fingerprint_node(table).value
    False
    >>> fingerprint_node(Node("seed.p.s", "s", "seed", checksum="ab12")).value
    'ab12'
    """
    if node.resource_type == "seed":
        if node.checksum:
            return Fingerprint(node.checksum, Method.CHECKSUM)
        return Fingerprint(_digest("seed", _build_config(node)), Method.TEXT, Reason.NO_CODE)
    config = _build_config(node)
    code = node.compiled_code or node.raw_code
    if code is None:
        return Fingerprint(_digest("none", config), Method.TEXT, Reason.NO_CODE)
    if node.language != "sql":
        text = "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())
        return Fingerprint(_digest("python", text, config), Method.TEXT, Reason.PYTHON)
    code_fp = fingerprint_code(code, dialect)
    return replace(code_fp, value=_digest(code_fp.value, config))


#: Resource types that get a fingerprint (sources have no code; tests re-run on a code change).
FINGERPRINTED = frozenset({"model", "seed", "snapshot", "test"})


def fingerprint_project(
    project: Project, *, dialect: str | None = None, warn: bool = True
) -> tuple[Project, FingerprintReport]:
    """Fill ``Node.fingerprint`` for every model, seed, snapshot and data test.

    Args:
        project: the project; its ``dialect`` is used unless ``dialect`` is given.
        dialect: sqlglot dialect name (``snowflake``, ``bigquery``, ``duckdb`` …).
        warn: issue one :class:`SaosimWarning` summarising the fallbacks, if any.

    Returns:
        The project with fingerprints set, and a :class:`FingerprintReport`.

    >>> from saosim.project.graph import Project
    >>> p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    >>> p = p.replace_node("model.demo.m", raw_code="select * from {{ source('raw', 'a') }}")
    >>> p2, report = fingerprint_project(p)
    >>> report.total, report.parsed, len(p2.nodes["model.demo.m"].fingerprint)
    (1, 1, 32)
    """
    dialect = dialect or project.dialect
    updated = []
    reasons: Counter[str] = Counter()
    parsed = 0
    for uid in sorted(project.nodes):
        node = project.nodes[uid]
        if node.resource_type not in FINGERPRINTED:
            continue
        fp = fingerprint_node(node, dialect)
        if fp.parsed:
            parsed += 1
        else:
            reasons[str(fp.reason)] += 1
        updated.append(replace(node, fingerprint=fp.value))
    total = len(updated)
    report = FingerprintReport(total, parsed, total - parsed, dict(reasons))
    if warn and report.fallback:
        detail = ", ".join(f"{k} {v}" for k, v in report.by_reason.items())
        warnings.warn(
            f"{report.fallback} of {total} nodes of project {project.name!r} were fingerprinted "
            f"from normalised text, not parsed SQL ({detail}); a cosmetic edit to one of them "
            "may count as a code change. Fingerprints from compiled SQL (dbt compile) parse "
            "more often; pass warn=False to silence this.",
            SaosimWarning,
            stacklevel=2,
        )
    return project.with_nodes(updated), report


@dataclass(frozen=True)
class CodeDiff:
    """Nodes whose code changed between two versions of a project, by dbt and by saosim.

    ``changed``: present in both, with a different checksum or build config (what dbt's
    ``state:modified`` sees). ``cosmetic``: those among them with an equal fingerprint, which
    SAO would not rebuild for.
    """

    changed: tuple[str, ...]
    cosmetic: tuple[str, ...]

    @property
    def real(self) -> tuple[str, ...]:
        cosmetic = set(self.cosmetic)
        return tuple(u for u in self.changed if u not in cosmetic)


def compare_fingerprints(
    old: Project, new: Project, *, resource_types: tuple[str, ...] = ("model",)
) -> CodeDiff:
    """Which nodes changed between two fingerprinted projects, and which changes are cosmetic.

    >>> from saosim.project.graph import Project
    >>> p, m = Project.from_spec({"raw.a": [], "m": ["raw.a"]}), "model.demo.m"
    >>> old, _ = fingerprint_project(p.replace_node(m, raw_code="select 1", checksum="1"))
    >>> new, _ = fingerprint_project(p.replace_node(m, raw_code="SELECT 1", checksum="2"))
    >>> compare_fingerprints(old, new)
    CodeDiff(changed=('model.demo.m',), cosmetic=('model.demo.m',))
    """
    changed: list[str] = []
    cosmetic: list[str] = []
    for uid in sorted(old.nodes.keys() & new.nodes.keys()):
        a, b = old.nodes[uid], new.nodes[uid]
        if a.resource_type not in resource_types:
            continue
        if a.fingerprint is None or b.fingerprint is None:
            raise ValueError(f"{uid} has no fingerprint; run fingerprint_project on both first")
        if a.checksum == b.checksum and a.build_config == b.build_config:
            continue
        changed.append(uid)
        if a.fingerprint == b.fingerprint:
            cosmetic.append(uid)
    return CodeDiff(tuple(changed), tuple(cosmetic))
