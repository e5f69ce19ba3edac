"""The search filter language shared by runs, model versions and every searchable record.

    metrics.auc > 0.9 and (params.C = '1.0' or tags.team in ('a', 'b'))

Grammar (keywords case-insensitive; ``and`` binds tighter than ``or``)::

    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" or_expr ")" | comparison
    comparison := field ( ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
                        | ["not"] ("like" | "ilike") string | ["not"] "in" "(" value,... ")"
                        | "is" ["not"] "null" )
    field      := prefix "." key ("." key)* | attribute    (key: name, `quoted` or "quoted")
    value      := 'string' | "string" | number | true | false

A caller's :class:`FilterSchema` names the keyed prefixes (``metrics``, ``params``...) and
attributes (``status``...) allowed and the kind of value each holds; values are coerced
here so the compiler (``modelplane.store.filters``) only binds them. ``number``: numbers;
``string``: strings, a bare literal comparing as the text written (``params.C = 1.0``
means ``'1.0'``, not ``'1'``); ``time``: ISO-8601 (naive is UTC) or epoch milliseconds, as
aware UTC datetimes; ``bool``: true/false. ``like`` uses ``%``/``_``, ``\\`` escapes.
A regex tokenizer and recursive descent, cached per (text, schema): the frozen AST is
shared. Malformed filters raise :class:`InvalidArgumentError` with the position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, NoReturn, TypeAlias

from modelplane.core.errors import InvalidArgumentError

__all__ = ["ATTRIBUTES", "And", "Comparison", "Expr", "Field", "FilterSchema", "Not", "Or",
           "Value", "format_filter", "parse_filter", "parse_order_by"]

ValueKind = Literal["string", "number", "time", "bool"]
Scalar: TypeAlias = str | int | float | bool | datetime
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None

#: The prefix of bare attributes (``status`` is ``Field("attributes", "status")``).
ATTRIBUTES = "attributes"
MAX_DEPTH = 64
MAX_IN_VALUES = 10_000
_KINDS = frozenset({"string", "number", "time", "bool"})
_DEFAULT_ALIASES = {"attr": ATTRIBUTES, "attribute": ATTRIBUTES, "metric": "metrics",
                    "param": "params", "tag": "tags", "dataset": "datasets"}
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "true",
                       "false", "asc", "desc"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_INT = re.compile(r"[-+]?\d+")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<str>'[^']*(?:''[^']*)*')
  | (?P<dq>"[^"]*(?:""[^"]*)*")
  | (?P<bq>`[^`]*(?:``[^`]*)*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Field:
    """``prefix.key``; bare attributes have the prefix :data:`ATTRIBUTES`."""

    prefix: str
    key: str

    def __str__(self) -> str:
        if self.prefix == ATTRIBUTES and _NAME.fullmatch(self.key):
            return self.key
        key = self.key if _IDENT.fullmatch(self.key) else "`" + self.key.replace("`", "``") + "`"
        return f"{self.prefix}.{key}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """``op``: ``= != < <= > >= [not] like [not] ilike [not] in is [not] null``; ``value``
    is a tuple for the ``in`` forms and None for the ``null`` forms."""

    field: Field
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]  # two or more


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]  # two or more


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not


class FilterSchema:
    """The ``keyed`` prefixes and bare ``attributes`` a filter may name, with their kinds."""

    def __init__(self, *, keyed: Mapping[str, ValueKind], attributes: Mapping[str, ValueKind],
                 aliases: Mapping[str, str] | None = None) -> None:
        for name, kind in {**keyed, **attributes}.items():
            if kind not in _KINDS:
                raise ValueError(f"field {name!r}: kind must be one of {sorted(_KINDS)}")
        self.keyed: dict[str, ValueKind] = dict(keyed)
        self.attributes: dict[str, ValueKind] = dict(attributes)
        merged = {**_DEFAULT_ALIASES, **(aliases or {})}
        self.aliases = {a: t for a, t in merged.items() if t in self.keyed or t == ATTRIBUTES}


_Token: TypeAlias = tuple[str, str, int, str]  # kind, value (unquoted/lower-cased), pos, raw


def _tokenize(text: str, what: str) -> list[_Token]:
    tokens: list[_Token] = []
    for m in _TOKEN.finditer(text):
        kind, raw, pos = m.lastgroup or "", m.group(), m.start()
        if kind == "ws":
            continue
        if kind == "ident":
            low = raw.lower()
            tokens.append(("kw", low, pos, raw) if low in _KEYWORDS else ("ident", raw, pos, raw))
        elif kind in ("str", "dq", "bq"):
            tokens.append((kind, raw[1:-1].replace(raw[0] * 2, raw[0]), pos, raw))
        elif kind == "bad":
            if raw in "'\"`":
                _fail(text, what, pos, "a closing " + raw, None, "an unterminated string",
                      f"unterminated string starting with {raw}")
            _fail(text, what, pos, "a field, operator or value", None, repr(raw),
                  f"unexpected character {raw!r}")
        else:
            tokens.append((kind, raw, pos, raw))
    tokens.append(("end", "", len(text), ""))
    return tokens


def _fail(text: str, what: str, pos: int, expected: str | list[str], after: _Token | None,
          found: str, problem: str | None = None, hint: str = "") -> NoReturn:
    column = pos - text.rfind("\n", 0, pos)
    line = f"line {text.count(chr(10), 0, pos) + 1}, " if "\n" in text else ""
    where = f"at position {pos} ({line}column {column})"
    if problem is None:
        exp = expected if isinstance(expected, str) else "one of " + ", ".join(expected)
        tail = f" after {_describe(after)}" if after is not None and after[0] != "end" else ""
        message = f"expected {exp}{tail} {where}; found {found}"
    else:
        message = f"{problem} {where}{hint}"
    raise InvalidArgumentError(f"{what}: {message}", details={
        "field": what, "position": pos, "column": column, "expected": expected, "found": found})


def _describe(tok: _Token) -> str:
    if tok[0] == "end":
        return "the end of the input"
    return tok[3] if tok[0] in ("str", "dq", "bq") else repr(tok[3])


class _Parser:
    def __init__(self, text: str, schema: FilterSchema, what: str) -> None:
        self.text, self.schema, self.what = text, schema, what
        self.tokens, self.i, self.depth = _tokenize(text, what), 0, 0

    def fail(self, expected: str | list[str]) -> NoReturn:
        tok = self.tokens[self.i]
        after = self.tokens[self.i - 1] if self.i > 0 else None
        _fail(self.text, self.what, tok[2], expected, after, _describe(tok))

    def reject(self, tok: _Token, expected: str | list[str], problem: str,
               hint: str = "") -> NoReturn:
        _fail(self.text, self.what, tok[2], expected, None, _describe(tok), problem, hint)

    def accept(self, kind: str, value: str, expected: str | None = None) -> bool:
        """Consume the next token if it is ``value``; else fail when ``expected`` is given."""
        tok = self.tokens[self.i]
        if tok[0] == kind and tok[1] == value:
            self.i += 1
            return True
        if expected is not None:
            self.fail(expected)
        return False

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.accept("kw", "or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.unary()]
        while self.accept("kw", "and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Expr:
        tok = self.tokens[self.i]
        if tok[0] not in ("kw", "punct") or tok[1] not in ("not", "("):
            return self.comparison()
        self.i, self.depth = self.i + 1, self.depth + 1
        if self.depth > MAX_DEPTH:
            self.reject(tok, f"at most {MAX_DEPTH} levels",
                        f"nested deeper than {MAX_DEPTH} parentheses or 'not'")
        if tok[1] == "not":
            expr: Expr = Not(self.unary())
        else:
            expr = self.or_expr()
            self.accept("punct", ")", "')'")
        self.depth -= 1
        return expr

    def field(self) -> tuple[Field, ValueKind]:
        tok = self.tokens[self.i]
        if tok[0] != "ident":
            self.fail("a field such as metrics.<key> or an attribute name")
        self.i += 1
        low = tok[1].lower()
        prefix = self.schema.aliases.get(low, low)
        if not self.accept("punct", "."):
            if prefix in self.schema.keyed:
                self.fail("'.' and a key")
            return self.attribute(tok[1], tok)
        if prefix == ATTRIBUTES:
            return self.attribute(self.key_part(), tok)
        if prefix not in self.schema.keyed:
            valid = sorted({ATTRIBUTES, *self.schema.keyed})
            self.reject(tok, valid, f"unknown field prefix {tok[3]!r}",
                        f"; valid prefixes: {', '.join(valid)}")
        parts = [self.key_part()]
        while self.accept("punct", "."):
            parts.append(self.key_part())
        return Field(prefix, ".".join(parts)), self.schema.keyed[prefix]

    def key_part(self) -> str:
        tok = self.tokens[self.i]
        if tok[0] not in ("ident", "kw", "bq", "dq") or not tok[1]:
            self.fail("a key (quote keys with `back-quotes` if they hold spaces)")
        self.i += 1
        return tok[3] if tok[0] == "kw" else tok[1]

    def attribute(self, name: str, tok: _Token) -> tuple[Field, ValueKind]:
        attrs = self.schema.attributes
        key = name if name in attrs else name.lower()
        if key not in attrs:
            valid = sorted(attrs)
            prefixes = ", ".join(f"{p}.<key>" for p in sorted(self.schema.keyed))
            self.reject(tok, valid, f"unknown attribute {name!r}",
                        f"; valid attributes: {', '.join(valid)}"
                        + (f" (or {prefixes})" if prefixes else ""))
        return Field(ATTRIBUTES, key), attrs[key]

    def comparison(self) -> Comparison:
        field, kind = self.field()
        tok = self.tokens[self.i]
        negate = tok[0] == "kw" and tok[1] == "not"
        tok = self.tokens[self.i + negate]
        self.i += 1 + negate
        if tok[0] == "op" and not negate:
            op = _OPS[tok[3]]
            if kind == "bool" and op not in ("=", "!="):
                self.reject(tok, "'=' or '!='",
                            f"{tok[3]!r} does not apply to the true/false field {field}")
            return Comparison(field, op, self.value(kind, field))
        if tok[0] == "kw" and tok[1] in ("like", "ilike"):
            if kind != "string":
                self.reject(tok, "a text field",
                            f"{tok[3]!r} needs a text field but {field} holds {kind} values")
            pattern = self.value("string", field)
            return Comparison(field, ("not " if negate else "") + tok[1], pattern)
        if tok[0] == "kw" and tok[1] == "in":
            self.accept("punct", "(", "'(' after 'in'")
            values = [self.value(kind, field)]
            while self.accept("punct", ","):
                values.append(self.value(kind, field))
            self.accept("punct", ")", "',' or ')'")
            if len(values) > MAX_IN_VALUES:
                self.reject(tok, f"at most {MAX_IN_VALUES} values",
                            f"more than {MAX_IN_VALUES} values in the 'in' list")
            return Comparison(field, "not in" if negate else "in", tuple(values))
        if tok[0] == "kw" and tok[1] == "is" and not negate:
            is_not = self.accept("kw", "not")
            self.accept("kw", "null", "'null'" if is_not else "'null' or 'not null'")
            return Comparison(field, "is not null" if is_not else "is null", None)
        self.i -= 1
        self.fail("'like', 'ilike' or 'in'" if negate else
                  "a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, not in, is null)")

    def value(self, kind: ValueKind, field: Field) -> Scalar:
        tok = self.tokens[self.i]
        if tok[0] not in ("str", "dq", "num") and tok[1] not in ("true", "false"):
            self.fail("a value")
        value = _coerce(kind, tok)
        if value is None:
            self.fail(_EXPECTED[kind] + f" for {field}")
        self.i += 1
        return value


_EXPECTED = {"number": "a number", "string": "a string", "bool": "true or false",
             "time": "an ISO-8601 timestamp or epoch milliseconds"}


def _coerce(kind: ValueKind, tok: _Token) -> Scalar | None:
    """``tok`` as a value of ``kind``, or None when it cannot be one."""
    tkind, text = tok[0], tok[1]
    if kind == "string":
        return text
    if kind == "bool":
        low = text.lower()
        return low == "true" if low in ("true", "false") and tkind != "num" else None
    try:  # true/false keywords fail the conversions below
        if kind == "time" and tkind != "num":
            moment = datetime.fromisoformat(text.strip())
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        is_int = _INT.fullmatch(text.strip()) and abs(int(text)) < 2**63
        number = int(text) if is_int else float(text)
        if not math.isfinite(number):
            return None
        return datetime.fromtimestamp(number / 1000, UTC) if kind == "time" else number
    except (ValueError, OverflowError, OSError):
        return None


def parse_filter(text: str | None, schema: FilterSchema, *, what: str = "filter") -> Expr | None:
    """The AST of ``text``, or None for an empty filter. ``what`` names the input in errors."""
    return _parse_filter(text, schema, what) if text and not text.isspace() else None


@lru_cache(maxsize=512)
def _parse_filter(text: str, schema: FilterSchema, what: str) -> Expr:
    parser = _Parser(text, schema, what)
    expr = parser.or_expr()
    if parser.tokens[parser.i][0] != "end":
        parser.fail("'and', 'or' or the end of the filter")
    return expr


def parse_order_by(text: str | None, schema: FilterSchema, *,
                   what: str = "order_by") -> list[tuple[Field, bool]]:
    """``"metrics.auc desc, start_time"`` as ``[(Field, descending), ...]``."""
    return list(_parse_order_by(text, schema, what)) if text and not text.isspace() else []


@lru_cache(maxsize=256)
def _parse_order_by(text: str, schema: FilterSchema, what: str) -> tuple[tuple[Field, bool], ...]:
    parser = _Parser(text, schema, what)
    items: list[tuple[Field, bool]] = []
    while True:
        field, _ = parser.field()
        descending = parser.accept("kw", "desc") or (parser.accept("kw", "asc") and False)
        items.append((field, descending))
        if parser.tokens[parser.i][0] == "end":
            return tuple(items)
        parser.accept("punct", ",", "',', 'asc', 'desc' or the end of the input")


def _format_value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def format_filter(expr: Expr | None) -> str:
    """Filter text that parses back to ``expr`` (against the schema it came from)."""
    if expr is None:
        return ""
    if isinstance(expr, Comparison):
        if expr.op in ("is null", "is not null"):
            return f"{expr.field} {expr.op}"
        return f"{expr.field} {expr.op} {_format_value(expr.value)}"
    if isinstance(expr, Not):
        inner = format_filter(expr.item)
        return f"not ({inner})" if isinstance(expr.item, And | Or) else f"not {inner}"
    joiner, wrap = (" and ", (And, Or)) if isinstance(expr, And) else (" or ", (Or,))
    return joiner.join(f"({format_filter(e)})" if isinstance(e, wrap) else format_filter(e)
                       for e in expr.items)
