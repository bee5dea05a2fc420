"""Split dbt model code into SQL, string literals and Jinja, for fingerprints.

dbt renders Jinja before the warehouse sees SQL, so Jinja is found first, even inside SQL string
literals; SQL comments (``--``, ``/* */``, Snowflake's ``//``) and Jinja comments (``{# #}``)
are dropped. What is left is a list of :class:`Piece` s from which :mod:`saosim.project.fingerprint`
builds both the text sqlglot parses (Jinja masked by stable placeholders) and the normalised
text it hashes when sqlglot cannot parse.

>>> [p.kind for p in split_code("select {{ ref('a') }} -- note\\n from t where x = 'y'")]
['sql', 'expr', 'sql', 'string']
>>> normalise_text("SELECT  a,\\n  B  FROM {{ ref( \\"t\\" ) }} -- c")
"select a,b from {{ref('t')}}"
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from saosim.project._scan import outside_strings

__all__ = [
    "Piece",
    "is_config_call",
    "jinja_placeholder",
    "normalise_jinja",
    "normalise_text",
    "split_code",
]


@dataclass(frozen=True, slots=True)
class Piece:
    """One part of model code.

    ``kind`` is ``sql`` (code outside literals, comments removed), ``string`` (a SQL string
    literal, quotes included), ``ident`` (a quoted identifier, quotes included), ``expr``
    (a Jinja ``{{ }}``, normalised inner text) or ``stmt`` (a Jinja ``{% %}``, normalised).
    A string or identifier that holds Jinja has it as ``{{…}}`` with normalised inner text.
    """

    kind: str
    text: str


_QUOTE_KIND = {"'": "string", '"': "ident", "`": "ident"}


_SPECIAL = re.compile(r"\{[#{%]|--|/\*|\$\$|['\"`]")
_SPECIAL_SLASHES = re.compile(r"\{[#{%]|--|//|/\*|\$\$|['\"`]")
# A quoted literal without Jinja inside (the common case), read in one step.
_PLAIN_QUOTED = {
    "'": re.compile(r"'(?:[^'\\{]|\\.|''|\{(?![{%#]))*'(?!')", re.S),
    '"': re.compile(r'"(?:[^"{]|""|\{(?![{%#]))*"(?!")', re.S),
    "`": re.compile(r"`(?:[^`{]|``|\{(?![{%#]))*`(?!`)", re.S),
}


def split_code(code: str, *, line_comment_slashes: bool = False) -> list[Piece]:
    """The pieces of ``code`` in order; comments are dropped.

    Args:
        code: raw (Jinja) or compiled SQL.
        line_comment_slashes: treat ``//`` as a line comment (Snowflake).
    """
    special = _SPECIAL_SLASHES if line_comment_slashes else _SPECIAL
    pieces: list[Piece] = []
    sql: list[str] = []
    n = len(code)
    i = 0

    def flush() -> None:
        if sql:
            pieces.append(Piece("sql", "".join(sql)))
            sql.clear()

    while i < n:
        match = special.search(code, i)
        if match is None:
            sql.append(code[i:])
            break
        start = match.start()
        if start > i:
            sql.append(code[i:start])
        token = match.group()
        if token == "{#":
            end = code.find("#}", start + 2)
            i = n if end < 0 else end + 2
            sql.append(" ")
        elif token in ("{{", "{%"):
            inner, i = _jinja_block(code, start)
            flush()
            pieces.append(Piece("expr" if token == "{{" else "stmt", normalise_jinja(inner)))
        elif token in ("--", "//"):
            end = code.find("\n", start)
            i = n if end < 0 else end
            sql.append(" ")
        elif token == "/*":
            end = code.find("*/", start + 2)
            i = n if end < 0 else end + 2
            sql.append(" ")
        elif token == "$$":
            end = code.find("$$", start + 2)
            stop = n if end < 0 else end + 2
            flush()
            pieces.append(Piece("string", code[start:stop]))
            i = stop
        else:
            plain = _PLAIN_QUOTED[token].match(code, start)
            if plain:
                text, i = plain.group(), plain.end()
            else:
                text, i = _quoted(code, start)
            flush()
            pieces.append(Piece(_QUOTE_KIND[token], text))
    flush()
    return pieces


def _jinja_block(code: str, start: int) -> tuple[str, int]:
    """Inner text of the Jinja block at ``start`` and the index after it (strings respected)."""
    close = "}}" if code[start + 1] == "{" else "%}"
    # dict literals inside the block (`config(freshness={'build_after': {...}})`) hold "}}"
    # of their own: only a close at brace depth 0 ends the block
    depth = 0
    for i, ch in outside_strings(code, start + 2):
        if depth == 0 and code.startswith(close, i):
            return code[start + 2 : i], i + 2
        if ch in "{[(":
            depth += 1
        elif ch in "}])" and depth > 0:
            depth -= 1
    return code[start + 2 :], len(code)


def _quoted(code: str, start: int) -> tuple[str, int]:
    """A quoted literal or identifier from ``start``; Jinja inside is normalised in place."""
    quote = code[start]
    out = [quote]
    i = start + 1
    n = len(code)
    while i < n:
        ch = code[i]
        two = code[i : i + 2]
        if two in ("{{", "{%"):
            inner, i = _jinja_block(code, i)
            out.append("{{" + normalise_jinja(inner) + "}}")
            continue
        if ch == "\\" and quote == "'" and i + 1 < n:
            out.append(code[i : i + 2])
            i += 2
            continue
        out.append(ch)
        i += 1
        if ch == quote:
            if code[i : i + 1] == quote:  # doubled quote: an escaped quote, not the end
                out.append(quote)
                i += 1
                continue
            break
    return "".join(out), i


_JINJA_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\w+|\s+|.""", re.S)


def normalise_jinja(inner: str) -> str:
    """Jinja inner text without whitespace control, extra spaces or quote style.

    >>> normalise_jinja("- ref( 'orders' ,  \\"v2\\" ) -")
    "ref('orders','v2')"
    """
    text = inner.strip()
    text = text.removeprefix("-").removeprefix("+").removesuffix("-").removesuffix("+").strip()
    out: list[str] = []
    pending_space = False
    for token in _JINJA_TOKEN.findall(text):
        if token.isspace():
            pending_space = True
            continue
        if token[0] == '"' and "'" not in token[1:-1]:
            token = "'" + token[1:-1] + "'"
        if pending_space and out and _wordish(out[-1][-1]) and _wordish(token[0]):
            out.append(" ")
        out.append(token)
        pending_space = False
    return "".join(out)


def _wordish(ch: str) -> bool:
    return ch.isalnum() or ch in "_'\""


def is_config_call(expr_text: str) -> bool:
    """True for a normalised ``{{ config(...) }}`` (what it changes is in ``build_config``)."""
    return expr_text.startswith("config(")


def jinja_placeholder(expr_text: str) -> str:
    """A stable SQL identifier standing for one Jinja expression (same text, same name)."""
    return "__jinja_" + hashlib.sha1(expr_text.encode()).hexdigest()[:12] + "__"


_SPACES = re.compile(r"\s+")
_PUNCT_SPACE = re.compile(r"\s*([^\w\s])\s*")


def _normalise_sql_text(text: str) -> str:
    text = _SPACES.sub(" ", text.lower())
    return _PUNCT_SPACE.sub(r"\1", text)


def normalise_text(code: str, *, line_comment_slashes: bool = False) -> str:
    """Code as one line: comments gone, whitespace and case normalised outside literals.

    Jinja keeps its (normalised) text; ``{{ config(...) }}`` calls are dropped.
    """
    return normalised_pieces(split_code(code, line_comment_slashes=line_comment_slashes))


def normalised_pieces(pieces: Iterable[Piece]) -> str:
    """Join pieces as :func:`normalise_text` does (literals untouched)."""
    out: list[str] = []
    space = False  # whitespace seen since the last emitted text
    for piece in pieces:
        if piece.kind == "sql":
            text = _normalise_sql_text(piece.text)
            if text.startswith(" "):
                space = True
            body = text.strip()
            if body:
                _append(out, body, space)
                space = text.endswith(" ")
        elif piece.kind == "expr":
            if not is_config_call(piece.text):
                _append(out, "{{" + piece.text + "}}", space)
                space = False
        elif piece.kind == "stmt":
            _append(out, "{%" + piece.text + "%}", space)
            space = False
        else:
            _append(out, piece.text, space)
            space = False
    return "".join(out)


def _append(out: list[str], text: str, space: bool) -> None:
    # One space between two word-like ends that had whitespace between them, none elsewhere:
    # "( {{ x }} )" and "({{x}})" agree, "from {{ x }}" and "from{{ x }}" do not.
    if out and space and _joinable(out[-1][-1]) and _joinable(text[0]):
        out.append(" ")
    out.append(text)


def _joinable(ch: str) -> bool:
    return ch.isalnum() or ch in "_'\"`{}$"
