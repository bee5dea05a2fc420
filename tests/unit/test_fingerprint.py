"""Fingerprints: cosmetic edits keep them, logic changes move them (saosim.project.fingerprint)."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saosim.errors import SaosimWarning
from saosim.project.fingerprint import (
    Fingerprint,
    FingerprintReport,
    Method,
    Reason,
    fingerprint_code,
    fingerprint_node,
    fingerprint_project,
    fingerprint_sql,
)
from saosim.project.fingerprint_text import normalise_jinja, normalise_text, split_code
from saosim.project.graph import Node, Project

BASE = """
with orders as (
    select id, customer_id, amount, status from raw.orders
), customers as (
    select id, name from raw.customers
)
select o.id, c.name, sum(o.amount) as total
from orders o
left join customers c on c.id = o.customer_id
where o.status = 'paid'
group by 1, 2
"""

# Each variant keeps BASE's logic: comments, whitespace, keyword case, CTE layout, AS or not,
# quoting that does not change meaning (Snowflake folds unquoted names to upper case), the
# trailing comma the dialect allows, OUTER spelled out.
SAME_AS_BASE = {
    "comments": BASE.replace("select o.id", "-- the report\nselect /* ids */ o.id")
    + "\n// snowflake comment\n",
    "whitespace": " ".join(BASE.split()),
    "keyword case": BASE.upper().replace("'PAID'", "'paid'"),
    "cte layout": (
        "WITH\n  orders AS (SELECT id, customer_id, amount, status FROM raw.orders),\n"
        "  customers AS (SELECT id, name FROM raw.customers)\n"
        "SELECT o.id, c.name, SUM(o.amount) AS total FROM orders AS o\n"
        "LEFT OUTER JOIN customers AS c ON c.id = o.customer_id\n"
        "WHERE o.status = 'paid' GROUP BY 1, 2;"
    ),
    "quoting": BASE.replace("raw.orders", '"RAW"."ORDERS"').replace("c.name", 'c."NAME"'),
    "trailing comma": BASE.replace("as total\n", "as total,\n"),
    "alias without AS": BASE.replace("sum(o.amount) as total", "sum(o.amount) total"),
    "tabs and blank lines": BASE.replace("    ", "\t").replace("\n", "\n\n"),
}

# Each variant changes what the model returns.
DIFFERENT_FROM_BASE = {
    "where changed": BASE.replace("'paid'", "'open'"),
    "where removed": BASE.replace("where o.status = 'paid'\n", ""),
    "where added": BASE.replace("group by", "and o.amount > 0\ngroup by"),
    "join type": BASE.replace("left join", "inner join"),
    "column added": BASE.replace("c.name,", "c.name, o.status,"),
    "literal case": BASE.replace("'paid'", "'PAID'"),
    "select order": BASE.replace("o.id, c.name", "c.name, o.id"),
    "aggregate": BASE.replace("sum(o.amount)", "avg(o.amount)"),
    "alias renamed": BASE.replace("as total", "as total_amount"),
    "group by": BASE.replace("group by 1, 2", "group by 1, 2, 3"),
    "source table": BASE.replace("raw.orders", "raw.orders_v2"),
    "quoted lower case is another name": BASE.replace("raw.orders", 'raw."orders"'),
    "join key": BASE.replace("c.id = o.customer_id", "c.id = o.id"),
    "distinct": BASE.replace("select o.id", "select distinct o.id"),
}


@pytest.mark.parametrize("name", sorted(SAME_AS_BASE))
def test_cosmetic_edits_keep_the_fingerprint(name: str) -> None:
    base = fingerprint_code(BASE, "snowflake")
    other = fingerprint_code(SAME_AS_BASE[name], "snowflake")
    assert base.method is Method.SQLGLOT and other.method is Method.SQLGLOT
    assert other.value == base.value


@pytest.mark.parametrize("name", sorted(DIFFERENT_FROM_BASE))
def test_logic_changes_move_the_fingerprint(name: str) -> None:
    other = fingerprint_code(DIFFERENT_FROM_BASE[name], "snowflake")
    assert other.method is Method.SQLGLOT
    assert other.value != fingerprint_sql(BASE, "snowflake")


def test_all_logic_variants_are_distinct_from_each_other() -> None:
    values = {fingerprint_sql(sql, "snowflake") for sql in DIFFERENT_FROM_BASE.values()}
    assert len(values) == len(DIFFERENT_FROM_BASE)


@pytest.mark.parametrize(
    ("a", "b", "dialect", "same"),
    [
        ("select a from t union select a from u", "select a from t union all select a from u",
         "snowflake", False),
        ("select a from t union all select a from u", "SELECT a FROM t UNION ALL SELECT a FROM u",
         "snowflake", True),
        ("select a from t join u on t.id = u.id", "select a from t inner join u on t.id = u.id",
         "snowflake", True),
        ("select a from t join u on t.id = u.id", "select a from t cross join u", "snowflake",
         False),
        ("select a from t where a != 1", "select a from t where a <> 1", "snowflake", True),
        ("select a from t where a < 1", "select a from t where a <= 1", "snowflake", False),
        ("select cast(x as int) from t", "select x::int from t", "snowflake", True),
        ("select my_udf(x) from t", "select MY_UDF(x) from t", "snowflake", True),
        ("select 1 as x", "select 2 as x", "snowflake", False),
        ("select a from t limit 10", "select a from t limit 100", "snowflake", False),
        ("select a from t order by a", "select a from t order by a desc", "snowflake", False),
        # DuckDB folds every identifier, quoted or not; Postgres keeps quoted upper case
        ('select "A" from "T"', "select a from t", "duckdb", True),
        ('select "a" from t', "select a from t", "postgres", True),
        ('select "A" from t', "select a from t", "postgres", False),
        ("select a, from t", "select a from t", "duckdb", True),
        ("select a from `p.d.t`", "select a from p.d.t", "bigquery", True),
        ("select a from t qualify row_number() over (partition by a order by b) = 1",
         "select a from t qualify rank() over (partition by a order by b) = 1", "snowflake",
         False),
    ],
)  # fmt: skip
def test_sql_pairs(a: str, b: str, dialect: str, same: bool) -> None:
    assert (fingerprint_sql(a, dialect) == fingerprint_sql(b, dialect)) is same


RAW = """{{ config(materialized='incremental', unique_key='id', tags=['daily']) }}

with src as (
    select * from {{ source('raw', 'orders') }}
    {% if is_incremental() %}
    where updated_at > (select max(updated_at) from {{ this }})
    {% endif %}
)
select id, amount, '{{ var("region") }}' as region from src
"""

RAW_SAME = {
    "jinja whitespace and quotes": RAW.replace("{{ source('raw', 'orders') }}",
                                                '{{-source( "raw" , "orders" )-}}')
    .replace("{% if is_incremental() %}", "{%- if is_incremental()  -%}"),
    "jinja comment": RAW.replace("with src", "{# incremental on updated_at #}\nwith src"),
    "sql comment": RAW.replace("select id", "-- final\nselect id"),
    "keyword case": RAW.replace("select id, amount", "SELECT id, amount")
    .replace("with src as", "WITH src AS"),
    "config tags": RAW.replace("tags=['daily']", "tags=['daily', 'finance']"),
}  # fmt: skip

RAW_DIFFERENT = {
    "ref target": RAW.replace("'orders'", "'orders_v2'"),
    "incremental condition": RAW.replace("max(updated_at)", "min(updated_at)"),
    "if condition": RAW.replace("is_incremental()", "is_incremental() and var('x')"),
    "endif moved": RAW.replace("    {% endif %}\n)", ")\n{% endif %}").replace(
        "select id, amount", "{% if true %}select id, amount"
    ),
    "condition moved": RAW.replace("    {% if is_incremental() %}\n", "").replace(
        "where updated_at", "where {% if is_incremental() %} updated_at"
    ),
    "jinja in a literal": RAW.replace('var("region")', 'var("country")'),
    "select list": RAW.replace("select id, amount", "select id, amount, status"),
}


@pytest.mark.parametrize("name", sorted(RAW_SAME))
def test_raw_code_cosmetic_edits(name: str) -> None:
    base = fingerprint_code(RAW, "snowflake")
    assert base.method is Method.SQLGLOT
    assert fingerprint_code(RAW_SAME[name], "snowflake") == base


@pytest.mark.parametrize("name", sorted(RAW_DIFFERENT))
def test_raw_code_logic_changes(name: str) -> None:
    assert fingerprint_code(RAW_DIFFERENT[name], "snowflake").value != (
        fingerprint_code(RAW, "snowflake").value
    )


def test_where_a_jinja_tag_sits_counts() -> None:
    inner = "select a from t where a = 1 {% if x %} and b = 2 {% endif %} and c = 3"
    outer = "select a from t where a = 1 {% if x %} and b = 2 and c = 3 {% endif %}"
    assert fingerprint_code(inner).method is Method.SQLGLOT
    assert fingerprint_code(inner) != fingerprint_code(outer)
    assert fingerprint_code(inner) == fingerprint_code(inner.replace(" and ", "\n  AND "))


def test_leading_and_trailing_macros_still_parse() -> None:
    model = """{{ simple_cte([('a', 'a'), ('b', 'b')]) }}
, final AS (
    SELECT a.id, b.x FROM a JOIN b ON a.id = b.id
)
{{ dbt_audit(cte_ref="final", created_by="@me", updated_by="@me") }}
"""
    fp = fingerprint_code(model, "snowflake")
    assert fp.method is Method.SQLGLOT
    assert fingerprint_code(model.replace("final AS", "final  as"), "snowflake") == fp
    assert fingerprint_code(model.replace("b.x", "b.y"), "snowflake") != fp
    assert fingerprint_code(model.replace('updated_by="@me"', 'updated_by="@you"')) != (
        fingerprint_code(model)
    )


def test_a_macro_where_sql_has_no_expression_is_lifted_not_a_fallback() -> None:
    model = "select a, b, count(*) from {{ ref('t') }} where x = 1 {{ dbt_utils.group_by(2) }}"
    fp = fingerprint_code(model, "snowflake")
    assert fp.method is Method.SQLGLOT
    assert fingerprint_code(model.replace("group_by(2)", "group_by(3)"), "snowflake") != fp
    assert fingerprint_code(model.replace("where x", "WHERE  x"), "snowflake") == fp


def test_unparseable_code_falls_back_to_normalised_text() -> None:
    model = "select {% if a %} x {% else %} y z w {% endif %} from {{ ref('t') }} -- note"
    fp = fingerprint_code(model, "snowflake")
    assert (fp.method, fp.reason, fp.parsed) == (Method.TEXT, Reason.JINJA, False)
    cosmetic = "SELECT  {%- if a -%} x {% else %} y z w {%endif%}\nFROM {{ref('t')}}"
    assert fingerprint_code(cosmetic, "snowflake") == fp
    assert fingerprint_code(model.replace(" x ", " x2 "), "snowflake") != fp
    plain = fingerprint_code("select from where ((", "snowflake")
    assert (plain.method, plain.reason) == (Method.TEXT, Reason.PARSE_ERROR)
    assert fingerprint_code("SELECT FROM WHERE ((", "snowflake") == plain


def test_text_normalisation_keeps_literals() -> None:
    assert normalise_text("select 'A  b' from t") != normalise_text("select 'a b' from t")
    assert normalise_text("SELECT a ,b FROM t") == normalise_text("select a, b from t")
    assert normalise_text("select ( {{ x }} )") == normalise_text("select ({{x}})")
    assert normalise_text("from {{ x }}") != normalise_text("from{{ x }}")
    assert normalise_jinja(' ref("a")  ') == "ref('a')"
    kinds = [p.kind for p in split_code("select 'it''s {{ x }}', \"A\"\"b\" from t")]
    assert kinds == ["sql", "string", "sql", "ident", "sql"]


def node(**kw: object) -> Node:
    base = {"unique_id": "model.p.m", "name": "m", "resource_type": "model"}
    return Node(**{**base, **kw})  # type: ignore[arg-type]


def test_node_fingerprint_folds_in_build_config_not_tags() -> None:
    code = "select 1 as x"
    a = fingerprint_node(node(raw_code=code, build_config='{"materialized":"table"}'))
    assert a.method is Method.SQLGLOT
    same = fingerprint_node(
        node(
            raw_code="SELECT 1 x -- c",
            build_config='{"materialized": "table"}',
            tags=("new",),
            meta={"owner": "x"},
        )
    )
    assert same == a
    for config in ('{"materialized":"incremental"}', '{"materialized":"table","unique_key":"x"}'):
        assert fingerprint_node(node(raw_code=code, build_config=config)) != a
    assert fingerprint_node(node(raw_code=code, materialization="view")) != a
    # compiled code wins over raw code when both are present
    compiled = fingerprint_node(node(raw_code="{{ weird", compiled_code=code))
    assert compiled == fingerprint_node(node(compiled_code=code))


def test_seed_python_and_missing_code() -> None:
    seed = fingerprint_node(Node("seed.p.s", "s", "seed", checksum="abc"))
    assert seed == Fingerprint("abc", Method.CHECKSUM)
    assert fingerprint_node(Node("seed.p.s", "s", "seed")).reason is Reason.NO_CODE
    py = fingerprint_node(node(language="python", raw_code="def model(dbt, s):\n    return 1\n"))
    assert (py.method, py.reason) == (Method.TEXT, Reason.PYTHON)
    assert fingerprint_node(node()).reason is Reason.NO_CODE


def _project() -> Project:
    p = Project.from_spec({"raw.a": [], "good": ["raw.a"], "bad": ["good"], "worse": ["good"]})
    p = p.replace_node("model.demo.good", raw_code="select * from {{ source('raw', 'a') }}")
    p = p.replace_node("model.demo.bad", raw_code="select {% if a %} x {% else %} y z {% endif %}")
    return p.replace_node("model.demo.worse", raw_code="select ((( from")


def test_project_fingerprints_and_one_summary_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        project, report = fingerprint_project(_project(), dialect="duckdb")
    summaries = [w for w in caught if issubclass(w.category, SaosimWarning)]
    assert len(summaries) == 1
    assert "2 of 3 nodes" in str(summaries[0].message)
    assert report == FingerprintReport(3, 1, 2, {"jinja": 1, "parse_error": 1})
    assert report.fallback_share == pytest.approx(2 / 3)
    assert all(project.nodes[u].fingerprint for u in project.of_type("model"))
    assert project.nodes["source.demo.raw.a"].fingerprint is None
    # deterministic: same input, same fingerprints
    again, _ = fingerprint_project(_project(), dialect="duckdb", warn=False)
    assert {u: n.fingerprint for u, n in again.nodes.items()} == {
        u: n.fingerprint for u, n in project.nodes.items()
    }


def test_project_without_fallbacks_does_not_warn() -> None:
    p = Project.from_spec({"raw.a": [], "m": ["raw.a"]})
    p = p.replace_node("model.demo.m", raw_code="select 1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, report = fingerprint_project(p)
    assert (report.total, report.parsed, report.fallback, dict(report.by_reason)) == (1, 1, 0, {})


# -- properties: random cosmetic rewrites never move a fingerprint ---------------------------

_TOKEN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|'[^']*'|\w+|[^\w\s]")
_KEYWORDS = {"with", "as", "select", "from", "left", "join", "on", "where", "group", "by", "sum"}


@st.composite
def cosmetic_rewrite(draw: st.DrawFn, sql: str) -> str:
    """``sql`` with random whitespace, comments and keyword case between its tokens."""
    out = []
    for token in _TOKEN.findall(sql):
        if token.lower() in _KEYWORDS:
            token = draw(st.sampled_from([token.lower(), token.upper(), token.capitalize()]))
        gap = draw(st.sampled_from([" ", "  ", "\n", "\t", "\n    ", " /* x */ ", " -- y\n"]))
        out.append(token + gap)
    return "".join(out)


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_random_cosmetic_rewrites_keep_the_fingerprint(data: st.DataObject) -> None:
    rewritten = data.draw(cosmetic_rewrite(BASE))
    assert fingerprint_sql(rewritten, "snowflake") == fingerprint_sql(BASE, "snowflake")
    raw = data.draw(cosmetic_rewrite(RAW))
    assert fingerprint_code(raw, "snowflake") == fingerprint_code(RAW, "snowflake")


def test_one_line_config_with_a_dict_literal_is_one_jinja_block() -> None:
    """A `}}` inside a dict literal does not end the `{{ config(...) }}` block."""
    from saosim.project.fingerprint import fingerprint_code

    with_config = (
        "{{ config(freshness={'build_after': {'count': 4, 'period': 'hour'}}) }}\n"
        "select a from {{ ref('x') }}"
    )
    plain = "select a from {{ ref('x') }}"
    assert fingerprint_code(with_config, "duckdb") == fingerprint_code(plain, "duckdb")
    assert fingerprint_code(with_config, "duckdb").method.value == "sqlglot"
