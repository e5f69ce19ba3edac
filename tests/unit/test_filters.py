"""The search filter language: parser (``core.filters``) and SQL compiler (``store.filters``).

The compiler cases run real queries on SQLite and, when ``MODELPLANE_TEST_POSTGRES_URL``
is set, on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from modelplane.core.errors import InvalidArgumentError
from modelplane.core.filters import (
    ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Field,
    FilterSchema,
    Not,
    Or,
    format_filter,
    parse_filter,
    parse_order_by,
)
from modelplane.store.filters import (
    _like_to_glob,
    compile_filter,
    compile_order_by,
    keyed_exists,
    keyed_value,
)

SCHEMA = FilterSchema(
    keyed={"metrics": "number", "params": "string", "tags": "string"},
    attributes={"name": "string", "status": "string", "start_time": "time",
                "created_ms": "time", "version": "number", "archived": "bool"},
)


def M(key: str) -> Field:
    return Field("metrics", key)


def A(name: str) -> Field:
    return Field(ATTRIBUTES, name)


# -- parser ----------------------------------------------------------------------------------


def test_parses_precedence_parentheses_and_lists() -> None:
    expr = parse_filter(
        "metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('a', \"b\"))", SCHEMA)
    assert expr == And((
        Comparison(M("auc"), ">", 0.9),
        Or((Comparison(Field("params", "C"), "=", "1.0"),
            Comparison(Field("tags", "team"), "in", ("a", "b")))),
    ))
    # and binds tighter than or
    assert parse_filter("status = 'a' or status = 'b' and version = 1", SCHEMA) == Or((
        Comparison(A("status"), "=", "a"),
        And((Comparison(A("status"), "=", "b"), Comparison(A("version"), "=", 1))),
    ))


def test_keywords_are_case_insensitive_and_not_is_supported() -> None:
    expr = parse_filter("NOT metrics.auc >= 1 AND tags.x NOT IN ('a') Or name ILike 'x%'",
                        SCHEMA)
    assert expr == Or((
        And((Not(Comparison(M("auc"), ">=", 1)),
             Comparison(Field("tags", "x"), "not in", ("a",)))),
        Comparison(A("name"), "ilike", "x%"),
    ))
    assert parse_filter("not (status = 'a' or status = 'b')", SCHEMA) == Not(Or((
        Comparison(A("status"), "=", "a"), Comparison(A("status"), "=", "b"))))


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics.`val.auc` < 1", Comparison(M("val.auc"), "<", 1)),
    ('metrics."val auc" < 1', Comparison(M("val auc"), "<", 1)),
    ("metrics.val.auc < 1", Comparison(M("val.auc"), "<", 1)),
    ("metrics.`a``b` < 1", Comparison(M("a`b"), "<", 1)),
    ("tags.and = 'x'", Comparison(Field("tags", "and"), "=", "x")),
    ("metric.auc == -1.5e-3", Comparison(M("auc"), "=", -0.0015)),
    ("attr.status <> 'x'", Comparison(A("status"), "!=", "x")),
    ("attributes.status = 'it''s'", Comparison(A("status"), "=", "it's")),
    ('status = "say ""hi"""', Comparison(A("status"), "=", 'say "hi"')),
    ("metrics.auc > '0.5'", Comparison(M("auc"), ">", 0.5)),
    ("metrics.n = 12", Comparison(M("n"), "=", 12)),
    ("params.C = 1.0", Comparison(Field("params", "C"), "=", "1.0")),
    ("params.C in (1, 2.50)", Comparison(Field("params", "C"), "in", ("1", "2.50"))),
    ("tags.flag = true", Comparison(Field("tags", "flag"), "=", "true")),
    ("archived = FALSE", Comparison(A("archived"), "=", False)),
    ("archived != 'true'", Comparison(A("archived"), "!=", True)),
    ("tags.x is null", Comparison(Field("tags", "x"), "is null", None)),
    ("tags.x IS NOT NULL", Comparison(Field("tags", "x"), "is not null", None)),
    ("name not like 'a%'", Comparison(A("name"), "not like", "a%")),
    ("start_time >= '2024-01-02'",
     Comparison(A("start_time"), ">=", datetime(2024, 1, 2, tzinfo=UTC))),
    ("start_time < '2024-01-02T03:04:05+02:00'",
     Comparison(A("start_time"), "<", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC))),
    ("start_time < 1704067200000",
     Comparison(A("start_time"), "<", datetime(2024, 1, 1, tzinfo=UTC))),
    ("Status = 'x'", Comparison(A("status"), "=", "x")),
])
def test_parses_fields_and_literals(text: str, expected: Expr) -> None:
    assert parse_filter(text, SCHEMA) == expected


def test_empty_filter_is_none() -> None:
    assert parse_filter("", SCHEMA) is None
    assert parse_filter("   ", SCHEMA) is None
    assert parse_filter(None, SCHEMA) is None


def test_syntax_error_points_at_the_position() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_filter("metrics.auc > ", SCHEMA)
    assert str(info.value) == ("filter: expected a value after '>' at position 14 (column 15); "
                               "found the end of the input")
    assert info.value.details == {"field": "filter", "position": 14, "column": 15,
                                  "expected": "a value", "found": "the end of the input"}
    assert info.value.http_status == 422


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("metrics.auc >", 13, "expected a value"),
    ("(status = 'a'", 13, "expected ')'"),
    ("status = 'a' status = 'b'", 13, "expected 'and', 'or' or the end"),
    ("status = 'abc", 9, "unterminated string"),
    ("status = 'a' & version = 1", 13, "unexpected character '&'"),
    ("metrics = 1", 8, "expected '.' and a key"),
    ("metrics. = 1", 9, "expected a key"),
    ("metrics.`` = 1", 8, "expected a key"),
    ("status", 6, "expected a comparison operator"),
    ("status not = 'a'", 11, "expected 'like', 'ilike' or 'in'"),
    ("status in 'a'", 10, "expected '(' after 'in'"),
    ("status in ('a' 'b')", 15, "expected ',' or ')'"),
    ("status in ()", 11, "expected a value"),
    ("status is 'a'", 10, "expected 'null' or 'not null'"),
    ("metrics.auc > 'high'", 14, "expected a number for metrics.auc"),
    ("metrics.auc > 1e999", 14, "expected a number"),
    ("start_time > 'yesterday'", 13, "ISO-8601"),
    ("archived > true", 9, "does not apply to the true/false field"),
    ("archived = 3", 11, "expected true or false"),
    ("metrics.auc like '1%'", 12, "needs a text field"),
    ("= 1", 0, "expected a field"),
    ("status = null", 9, "expected a value"),
    ("status = 'a' and\n  bogus = 1", 19, "unknown attribute 'bogus'"),
])
def test_syntax_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_filter(text, SCHEMA)
    assert fragment in str(info.value)
    assert info.value.details["position"] == position
    assert info.value.details["field"] == "filter"
    assert f"at position {position} " in str(info.value)


def test_multiline_errors_name_the_line() -> None:
    with pytest.raises(InvalidArgumentError, match=r"line 2, column 3"):
        parse_filter("status = 'a' and\n  bogus = 1", SCHEMA)


def test_unknown_prefix_and_attribute_list_the_valid_ones() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_filter("metrix.auc > 1", SCHEMA)
    assert "valid prefixes: attributes, metrics, params, tags" in str(info.value)
    assert info.value.details["expected"] == ["attributes", "metrics", "params", "tags"]
    with pytest.raises(InvalidArgumentError) as info:
        parse_filter("colour = 'red'", SCHEMA)
    assert "unknown attribute 'colour'" in str(info.value)
    assert "archived, created_ms, name, start_time, status, version" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="unknown attribute 'nope'"):
        parse_filter("attributes.nope = 1", SCHEMA)
    # an alias only counts when its target is allowed
    with pytest.raises(InvalidArgumentError, match="unknown field prefix 'dataset'"):
        parse_filter("dataset.name = 'x'", SCHEMA)


def test_deep_nesting_is_an_invalid_argument_not_a_recursion_error() -> None:
    with pytest.raises(InvalidArgumentError, match="nested deeper"):
        parse_filter("(" * 500 + "status = 'a'" + ")" * 500, SCHEMA)
    with pytest.raises(InvalidArgumentError, match="nested deeper"):
        parse_filter("not " * 500 + "status = 'a'", SCHEMA)
    assert parse_filter("(" * 30 + "status = 'a'" + ")" * 30, SCHEMA) is not None


def test_order_by() -> None:
    assert parse_order_by("metrics.auc desc, start_time, metrics.`a b` ASC", SCHEMA) == [
        (M("auc"), True), (A("start_time"), False), (M("a b"), False)]
    assert parse_order_by("", SCHEMA) == []
    with pytest.raises(InvalidArgumentError) as info:
        parse_order_by("metrics.auc desc,", SCHEMA)
    assert info.value.details["field"] == "order_by"
    assert info.value.details["position"] == 17
    with pytest.raises(InvalidArgumentError, match="expected ',', 'asc', 'desc'"):
        parse_order_by("metrics.auc down", SCHEMA)
    with pytest.raises(InvalidArgumentError, match="unknown field prefix"):
        parse_order_by("metricz.auc", SCHEMA)


def test_format_round_trips() -> None:
    text = ("not (metrics.`val auc` > 0.9 or tags.team in ('a', 'b''c')) and "
            "start_time >= '2024-01-01T00:00:00+00:00' and (archived = true or tags.x is null)")
    expr = parse_filter(text, SCHEMA)
    assert parse_filter(format_filter(expr), SCHEMA) == expr


# -- properties --------------------------------------------------------------------------------

_FRAGMENTS = ["metrics.auc", "params.C", "tags.`a b`", "status", "start_time", "archived",
              "and", "or", "not", "in", "like", "is", "null", "(", ")", ",", ".", "=", "!=",
              "<", ">=", "'x'", "'", '"', "`", "1", "-2.5e3", "true", "'2024-01-01'", " "]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map(" ".join)))
def test_any_text_parses_or_raises_invalid_argument(text: str) -> None:
    for parse in (parse_filter, parse_order_by):
        try:
            parse(text, SCHEMA)
        except InvalidArgumentError as exc:
            assert exc.details["field"] in ("filter", "order_by")
            assert 0 <= exc.details["position"] <= len(text)


_keys = st.text(min_size=1, max_size=8)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_ints = st.integers(min_value=-(2**62), max_value=2**62)
_times = st.datetimes(timezones=st.just(UTC))


def _comparisons() -> st.SearchStrategy[Comparison]:
    numeric = st.tuples(st.builds(M, _keys), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
                        st.one_of(_floats, _ints))
    text = st.tuples(st.builds(Field, st.sampled_from(["params", "tags"]), _keys),
                     st.sampled_from(["=", "!=", "<", ">=", "like", "not ilike"]), st.text())
    listed = st.tuples(st.just(A("status")), st.sampled_from(["in", "not in"]),
                       st.lists(st.text(), min_size=1, max_size=3).map(tuple))
    times = st.tuples(st.just(A("start_time")), st.sampled_from(["<", ">="]), _times)
    flags = st.tuples(st.just(A("archived")), st.sampled_from(["=", "!="]), st.booleans())
    nulls = st.tuples(st.builds(Field, st.just("tags"), _keys),
                      st.sampled_from(["is null", "is not null"]), st.none())
    return st.one_of(numeric, text, listed, times, flags, nulls).map(
        lambda t: Comparison(*t))


_exprs = st.recursive(
    _comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        inner.map(Not)),
    max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_exprs)
def test_format_then_parse_is_identity(expr: Expr) -> None:
    assert parse_filter(format_filter(expr), SCHEMA) == expr


# -- compiler, against a real database -------------------------------------------------------

md = MetaData()
runs = Table("t_runs", md, Column("id", String(8), primary_key=True),
             Column("name", String(50)), Column("status", String(20)),
             Column("start_time", DateTime(timezone=True)), Column("created_ms", BigInteger),
             Column("version", BigInteger))
KV = {
    prefix: Table(f"t_{prefix}", md,
                  Column("run_id", String(8), ForeignKey("t_runs.id"), primary_key=True),
                  Column("key", String(50), primary_key=True),
                  Column("value", Float if prefix == "metrics" else String(100)))
    for prefix in ("metrics", "params", "tags")
}
RUN_SCHEMA = FilterSchema(
    keyed={"metrics": "number", "params": "string", "tags": "string"},
    attributes={"name": "string", "status": "string", "start_time": "time",
                "created_ms": "time", "version": "number"},
)


def _ms(day: datetime) -> int:
    return int(day.timestamp() * 1000)


ROWS: list[dict[str, Any]] = [
    {"id": f"r{i}", "name": name, "status": status, "start_time": day,
     "created_ms": _ms(day), "version": i}
    for i, (name, status, day) in enumerate([
        ("alpha", "FINISHED", datetime(2024, 1, 1, tzinfo=UTC)),
        ("beta", "FINISHED", datetime(2024, 2, 1, tzinfo=UTC)),
        ("Gamma", "FAILED", datetime(2024, 3, 1, tzinfo=UTC)),
        ("delta", "RUNNING", datetime(2024, 4, 1, tzinfo=UTC)),
        ("alpha_2", "FINISHED", datetime(2024, 5, 1, tzinfo=UTC)),
    ], start=1)
]
VALUES = {
    "metrics": [("r1", "auc", 0.95), ("r1", "loss", 0.1), ("r2", "auc", 0.85),
                ("r3", "auc", 0.92), ("r3", "val.auc", 0.7), ("r5", "auc", 0.9)],
    "params": [("r1", "C", "1.0"), ("r2", "C", "1"), ("r3", "C", "10"), ("r4", "C", "0.1"),
               ("r5", "C", "1.0")],
    "tags": [("r1", "team", "a"), ("r2", "team", "b"), ("r3", "team", "c"),
             ("r4", "note", "50% off_x"), ("r5", "team", "a"), ("r5", "note", "star*")],
}


class RunResolver:
    def attribute(self, name: str) -> Any:
        return runs.c[name]

    def keyed(self, prefix: str, key: str, op: str, value: Any) -> Any:
        t = KV[prefix]
        return keyed_exists(t, t.c.run_id, t.c.key, t.c.value, runs.c.id, key, op, value)

    def order_key(self, field: Field) -> Any:
        t = KV[field.prefix]
        return keyed_value(t, t.c.run_id, t.c.key, t.c.value, runs.c.id, field.key)


@pytest.fixture
def engine(database_url: str, mp_home: Path) -> Iterator[Engine]:
    mp_home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(runs.insert(), ROWS)
        for prefix, rows in VALUES.items():
            conn.execute(KV[prefix].insert(),
                         [{"run_id": r, "key": k, "value": v} for r, k, v in rows])
    yield engine
    engine.dispose()


def _search(engine: Engine, text: str, order_by: str = "") -> list[str]:
    resolver = RunResolver()
    stmt = select(runs.c.id).where(compile_filter(parse_filter(text, RUN_SCHEMA), resolver))
    stmt = stmt.order_by(*compile_order_by(parse_order_by(order_by, RUN_SCHEMA), resolver),
                         runs.c.id)
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


@pytest.mark.parametrize(("text", "expected"), [
    ("", "r1 r2 r3 r4 r5"),
    ("metrics.auc > 0.9", "r1 r3"),
    ("metrics.auc >= 0.9", "r1 r3 r5"),
    ("metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('b', 'c'))", "r1 r3"),
    ("metrics.auc > 0.9 or status = 'RUNNING'", "r1 r3 r4"),
    ("(status = 'FINISHED' or status = 'FAILED') and metrics.auc < 0.93", "r2 r3 r5"),
    ("params.C = 1.0", "r1 r5"),        # a bare literal compares as the text written
    ("params.C = 1", "r2"),
    ("params.C > '1'", "r1 r3 r5"),     # params compare as strings: '10' > '1', '0.1' < '1'
    ("metrics.`val.auc` < 0.8", "r3"),
    ("metrics.val.auc < 0.8", "r3"),
    ("tags.team != 'a'", "r2 r3"),       # keyed != needs the key
    ("not tags.team = 'a'", "r2 r3 r4"),
    ("tags.team not in ('a', 'b')", "r3"),
    ("tags.team is null", "r4"),
    ("metrics.loss is not null", "r1"),
    ("name like 'alpha%'", "r1 r5"),
    ("name like 'gamma'", ""),            # like is case-sensitive on every database
    ("name ilike 'gamma'", "r3"),
    ("name like 'alpha\\_%'", "r5"),      # \ escapes _
    ("name not like 'alpha%'", "r2 r3 r4"),
    ("tags.note like '50\\% off%'", "r4"),
    ("tags.note like '50_ off%'", "r4"),
    ("tags.note like 'star*'", "r5"),     # GLOB metacharacters stay literal
    ("tags.note like 'sta?*'", ""),
    ("status in ('FAILED', 'RUNNING')", "r3 r4"),
    ("status not in ('FINISHED')", "r3 r4"),
    ("status != 'FINISHED'", "r3 r4"),
    ("start_time >= '2024-03-01'", "r3 r4 r5"),
    ("start_time < '2024-02-01T00:00:01Z'", "r1 r2"),
    ("created_ms >= '2024-03-01'", "r3 r4 r5"),   # epoch-millisecond column
    ("created_ms in ('2024-01-01', 1706745600000)", "r1 r2"),
    ("version <= 2 or version = 5", "r1 r2 r5"),
    ("not (version <= 2 or version = 5)", "r3 r4"),
])
def test_compiled_filters_select_the_right_runs(engine: Engine, text: str,
                                                expected: str) -> None:
    assert _search(engine, text) == expected.split()


def test_order_by_metric_puts_missing_last(engine: Engine) -> None:
    assert _search(engine, "", "metrics.auc desc") == ["r1", "r3", "r5", "r2", "r4"]
    assert _search(engine, "", "metrics.auc") == ["r2", "r5", "r3", "r1", "r4"]
    assert _search(engine, "status = 'FINISHED'", "start_time desc") == ["r5", "r2", "r1"]
    assert _search(engine, "", "params.C desc, name") == ["r3", "r1", "r5", "r2", "r4"]


def test_values_are_bound_never_inlined() -> None:
    text = ("metrics.auc > 0.123 and params.C = 'secret1' and tags.t in ('secret2') and "
            "name like 'secret3%' and name ilike 'secret4' and start_time > '2031-05-06' and "
            "created_ms < '2031-05-06' and not tags.`x'; drop table t_runs; --` is null")
    where = compile_filter(parse_filter(text, RUN_SCHEMA), RunResolver())
    stmt = select(runs.c.id).where(where)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = stmt.compile(dialect=dialect)
        sql = str(compiled)
        for literal in ("0.123", "secret", "2031", "drop table", "'1'"):
            assert literal not in sql
        params = [str(v) for v in compiled.params.values()]
        assert any("secret1" in p for p in params)
        assert "x'; drop table t_runs; --" in params
    assert " GLOB " in str(stmt.compile(dialect=sqlite.dialect()))
    assert "LIKE" in str(stmt.compile(dialect=postgresql.dialect()))


def test_like_to_glob() -> None:
    assert _like_to_glob("a%b_c") == "a*b?c"
    assert _like_to_glob("50\\%*?[x") == "50%[*][?][[]x"
    assert _like_to_glob("a\\_b\\\\") == "a_b\\"
    assert _like_to_glob("trailing\\") == "trailing\\"
