"""The SOQL subset seqguard sends, parsed and translated to DuckDB SQL with bound values.

Supported: `SELECT f1, f2, Parent.f3 | COUNT() FROM SObject [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n]`, conditions with = != <> < <= > >= LIKE IN (...)
NOT IN (...), AND, OR, NOT and parentheses, and the literals Salesforce accepts: 'strings'
with backslash escapes, numbers, true/false, null, datetimes, dates, TODAY, YESTERDAY and
LAST_N_DAYS:n. Everything else is refused the way Salesforce refuses it (MALFORMED_QUERY,
INVALID_FIELD, INVALID_TYPE), so a query that works here is one Salesforce also accepts.

Salesforce semantics kept on purpose: text comparisons ignore case, a comparison with a
null field is false rather than unknown (so `Email != 'x'` includes rows with no email),
and AND and OR cannot be mixed without parentheses. Values are always bound parameters;
identifiers come only from the schema, never from the query text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# soql types of a field (from the DuckDB column type): drives literal checks and formatting
STRING, BOOLEAN, DOUBLE, INT, DATE, DATETIME = (
    "string", "boolean", "double", "int", "date", "datetime"
)
# the names Salesforce uses for them in "must be of type ..." messages
TYPE_NAMES = {STRING: "string", BOOLEAN: "boolean", DOUBLE: "double", INT: "integer",
              DATE: "date", DATETIME: "dateTime"}


class SoqlError(Exception):
    """A query Salesforce would refuse: `error_code` and `message` as its API returns them."""

    status = 400

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def body(self) -> list[dict[str, str]]:
        """The JSON error body of the REST API."""
        return [{"message": self.message, "errorCode": self.error_code}]


@dataclass(frozen=True)
class SObjectSchema:
    """What the translator needs to know about one sObject: its table and typed fields."""

    name: str                                   # canonical name, e.g. 'Contact'
    table: str                                  # DuckDB table or view, e.g. 'sf_contact'
    fields: Mapping[str, tuple[str, str]]       # lower-case name -> (canonical name, soql type)
    # parent relationships: lower-case relationship name -> (its name, the reference field,
    # the lower-case name of the sObject it refers to), e.g. 'account' -> (Account, AccountId,
    # account)
    relationships: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)

    def field(self, name: str) -> tuple[str, str] | None:
        return self.fields.get(name.lower())


@dataclass(frozen=True)
class Relation:
    """Fields of a parent record selected through a relationship (`Account.Name`)."""

    name: str                          # the relationship, e.g. 'Account'
    reference: str                     # the reference field holding the parent's Id
    parent: SObjectSchema
    fields: tuple[tuple[str, str], ...]  # (canonical name, soql type) on the parent


def soql_type(duckdb_type: str) -> str:
    """The soql type of a DuckDB column type."""
    t = duckdb_type.upper()
    if t == "BOOLEAN":
        return BOOLEAN
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return DOUBLE
    if t in ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT"):
        return INT
    if t == "DATE":
        return DATE
    if t.startswith("TIMESTAMP"):
        return DATETIME
    return STRING


# ---- tokens -------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<other>'|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str   # datetime | date | number | string | op | punct | ident | other | eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; an unterminated string becomes one 'other' token."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "other"
        if kind != "ws":
            tokens.append(Token(kind, match.group(), match.start()))
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


# ---- syntax tree --------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    kind: str        # string | number | boolean | null | datetime | date | range
    value: Any       # decoded value; for 'range' a (name, n) pair
    token: Token


@dataclass(frozen=True)
class Comparison:
    field: Token
    op: str          # = != < <= > >= like in notin
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class Junction:
    op: str          # and | or
    operands: tuple[Condition, ...]


Condition = Comparison | Not | Junction


@dataclass(frozen=True)
class OrderItem:
    field: Token
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """A parsed, not yet resolved, SOQL query."""

    text: str
    fields: tuple[Token, ...]
    count: bool
    sobject: Token
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None


# reserved words that can never be a field name where a field is expected
_RESERVED = {"SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "AND", "OR", "NOT", "LIKE",
             "IN", "ASC", "DESC", "NULLS", "TRUE", "FALSE", "NULL", "GROUP", "HAVING",
             "OFFSET", "WITH", "FOR", "USING", "INCLUDES", "EXCLUDES"}
_DATE_RANGES = {"TODAY", "YESTERDAY", "LAST_N_DAYS"}
_STRING_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"',
                   "'": "'", "\\": "\\", "_": "_", "%": "%"}


def error_at(text: str, pos: int, error_code: str, detail: str) -> SoqlError:
    """A SoqlError whose message points at `pos` the way Salesforce's messages do."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start:] if line_end == -1 else text[line_start:line_end]
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    return SoqlError(
        error_code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"
    )


class _Parser:
    """Recursive descent over the token list; every refusal is a MALFORMED_QUERY."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # token helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.upper in words

    def accept_word(self, word: str) -> bool:
        if self.at_word(word):
            self.i += 1
            return True
        return False

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.unexpected()
        return self.next()

    def expect_punct(self, char: str) -> Token:
        token = self.peek()
        if token.kind != "punct" or token.text != char:
            raise self.unexpected()
        return self.next()

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.peek()
        if token.kind == "other" and token.text == "'":
            return error_at(self.text, token.pos, "MALFORMED_QUERY",
                            "mismatched character '<EOF>' expecting '''")
        return error_at(self.text, token.pos, "MALFORMED_QUERY",
                        f"unexpected token: '{token.text}'")

    def malformed(self, token: Token, detail: str) -> SoqlError:
        return error_at(self.text, token.pos, "MALFORMED_QUERY", detail)

    # grammar
    def parse(self) -> Query:
        self.expect_word("SELECT")
        fields, count = self.select_list()
        self.expect_word("FROM")
        sobject = self.peek()
        if sobject.kind != "ident" or sobject.upper in _RESERVED:
            raise self.unexpected()
        self.i += 1
        where = None
        if self.accept_word("WHERE"):
            where = self.condition()
        order_by: tuple[OrderItem, ...] = ()
        if self.accept_word("ORDER"):
            self.expect_word("BY")
            order_by = self.order_list()
        limit = None
        if self.accept_word("LIMIT"):
            token = self.next()
            if token.kind != "number" or not token.text.isdigit():
                raise self.unexpected(token)
            limit = int(token.text)
        if self.peek().kind != "eof":
            raise self.unexpected()
        return Query(self.text, tuple(fields), count, sobject, where, order_by, limit)

    def select_list(self) -> tuple[list[Token], bool]:
        fields: list[Token] = []
        count_token: Token | None = None
        while True:
            token = self.peek()
            if token.kind != "ident" or token.upper in _RESERVED:
                raise self.unexpected()
            self.i += 1
            if token.upper == "COUNT" and self.peek().text == "(":
                self.expect_punct("(")
                if self.peek().text != ")":
                    raise self.malformed(self.peek(), "the sandbox supports only COUNT()")
                self.expect_punct(")")
                count_token = token
            elif self.peek().text == "(":
                raise self.malformed(token, f"the sandbox does not support {token.text}()")
            else:
                fields.append(token)
            if self.peek().text != ",":
                break
            self.i += 1
        if count_token is not None and fields:
            raise self.malformed(count_token, "COUNT() must be the only element in the SELECT list")
        return fields, count_token is not None

    def order_list(self) -> tuple[OrderItem, ...]:
        items: list[OrderItem] = []
        while True:
            token = self.peek()
            if token.kind != "ident" or token.upper in _RESERVED:
                raise self.unexpected()
            self.i += 1
            descending = False
            if self.accept_word("DESC"):
                descending = True
            else:
                self.accept_word("ASC")
            # salesforce's default: nulls first ascending, nulls last descending
            nulls_last = descending
            if self.accept_word("NULLS"):
                if self.accept_word("LAST"):
                    nulls_last = True
                else:
                    self.expect_word("FIRST")
                    nulls_last = False
            items.append(OrderItem(token, descending, nulls_last))
            if self.peek().text != ",":
                return tuple(items)
            self.i += 1

    def condition(self) -> Condition:
        """Terms joined by all-AND or all-OR; mixing them needs parentheses, as in SOQL."""
        first = self.unary()
        if not self.at_word("AND", "OR"):
            return first
        op = self.peek().upper
        operands = [first]
        while self.at_word("AND", "OR"):
            if self.peek().upper != op:
                raise self.unexpected()
            self.i += 1
            operands.append(self.unary())
        return Junction(op.lower(), tuple(operands))

    def unary(self) -> Condition:
        if self.accept_word("NOT"):
            return Not(self.unary())
        if self.peek().text == "(" and self.peek().kind == "punct":
            self.i += 1
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field_token = self.peek()
        if field_token.kind != "ident" or field_token.upper in _RESERVED:
            raise self.unexpected()
        self.i += 1
        token = self.peek()
        if token.kind == "op":
            self.i += 1
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field_token, op, self.value())
        if self.accept_word("LIKE"):
            pattern = self.peek()
            if pattern.kind != "string":
                raise self.unexpected()
            self.i += 1
            return Comparison(field_token, "like", Literal("string", pattern.text[1:-1], pattern))
        if self.at_word("NOT") and self.peek(1).kind == "ident" and self.peek(1).upper == "IN":
            self.i += 2
            return Comparison(field_token, "notin", self.value_list())
        if self.accept_word("IN"):
            return Comparison(field_token, "in", self.value_list())
        raise self.unexpected()

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        if self.at_word("SELECT"):
            raise self.malformed(self.peek(), "the sandbox does not support semi-join subqueries")
        values = [self.value()]
        while self.peek().text == ",":
            self.i += 1
            values.append(self.value())
        self.expect_punct(")")
        for value in values:
            if value.kind == "range":
                raise self.malformed(value.token, "date literals are not supported in IN lists")
        return tuple(values)

    def value(self) -> Literal:
        token = self.next()
        if token.kind == "string":
            return Literal("string", self.decode_string(token), token)
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number, token)
        if token.kind in ("datetime", "date"):
            try:
                if token.kind == "datetime":
                    return Literal("datetime", parse_datetime(token.text), token)
                return Literal("date", date.fromisoformat(token.text), token)
            except ValueError:
                raise self.malformed(token, f"invalid {token.kind} literal: {token.text}") from None
        if token.kind == "ident":
            word = token.upper
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", token)
            if word == "NULL":
                return Literal("null", None, token)
            if word in ("TODAY", "YESTERDAY"):
                return Literal("range", (word, 0), token)
            if word == "LAST_N_DAYS":
                self.expect_punct(":")
                n = self.next()
                if n.kind != "number" or not n.text.isdigit():
                    raise self.unexpected(n)
                return Literal("range", (word, int(n.text)), token)
        raise self.unexpected(token)

    def decode_string(self, token: Token) -> str:
        """A quoted literal's value; only the escapes Salesforce knows are accepted."""
        body = token.text[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            char = body[i]
            if char == "\\":
                escape = body[i + 1]
                if escape not in _STRING_ESCAPES:
                    raise self.malformed(
                        token, f"Invalid string literal '{body}'. Illegal character sequence "
                        f"'\\{escape}' in string literal.")
                out.append(_STRING_ESCAPES[escape])
                i += 2
            else:
                out.append(char)
                i += 1
        return "".join(out)


def parse(text: str) -> Query:
    """Parse a SOQL query; raises SoqlError(MALFORMED_QUERY) for anything outside the subset."""
    return _Parser(text).parse()


def parse_datetime(text: str) -> datetime:
    """A SOQL datetime literal as naive UTC (the sandbox's time representation)."""
    normalized = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", normalized):
        normalized = normalized[:-2] + ":" + normalized[-2:]
    value = datetime.fromisoformat(normalized)
    return value.astimezone(UTC).replace(tzinfo=None)


def like_pattern(raw: str) -> str:
    """A SOQL LIKE literal (still escaped) as a DuckDB LIKE pattern with ESCAPE '\\'."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            escape = raw[i + 1]
            if escape in "%_\\":
                out.append("\\" + escape)  # a literal %, _ or backslash
            else:
                out.append(_STRING_ESCAPES.get(escape, escape))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


# ---- translation --------------------------------------------------------------------------

@dataclass
class Translated:
    """A resolved query as DuckDB SQL parts; values travel in `params`, never in the text."""

    sobject: SObjectSchema
    fields: list[tuple[str, str]]       # (canonical name, soql type) in select order
    count_only: bool
    where_sql: str
    params: list[Any] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    order_sql: str = '"Id"'
    limit: int | None = None

    def select_sql(self, projection: str) -> str:
        """`select <projection>` over the matching rows, ordered and limited."""
        limit = f" limit {int(self.limit)}" if self.limit is not None else ""
        return (f"select {projection} from {self.sobject.table} where {self.where_sql} "
                f"order by {self.order_sql}{limit}")

    def count_sql(self) -> str:
        """How many rows the query returns (LIMIT applied)."""
        return f"select count(*) from ({self.select_sql('1')})"


def translate(
    text: str,
    schemas: Mapping[str, SObjectSchema],
    *,
    now: datetime,
    include_deleted: bool = False,
) -> Translated:
    """Parse and resolve a SOQL query against `schemas` (keyed by lower-case sObject name).

    `now` is the sandbox clock (naive UTC) for TODAY and friends; `include_deleted` is
    queryAll's view of the data, else IsDeleted rows are left out as `query` does.
    """
    query = parse(text)
    return _Resolver(query, schemas, now).translate(include_deleted)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class _Resolver:
    """Binds parsed names to the schema and writes the SQL, checking types like Salesforce."""

    def __init__(self, query: Query, schemas: Mapping[str, SObjectSchema], now: datetime) -> None:
        self.query = query
        self.now = now
        self.params: list[Any] = []
        schema = schemas.get(query.sobject.text.lower())
        if schema is None:
            raise error_at(
                query.text, query.sobject.pos, "INVALID_TYPE",
                f"sObject type '{query.sobject.text}' is not supported. If you are attempting "
                "to use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.")
        self.schema = schema
        self.schemas = schemas

    def translate(self, include_deleted: bool) -> Translated:
        fields, relations = self.select_fields()
        conditions = [] if include_deleted or not self.schema.field("IsDeleted") else [
            'not coalesce("IsDeleted", false)']
        if self.query.where is not None:
            conditions.append(self.condition(self.query.where))
        where_sql = " and ".join(f"({c})" for c in conditions) or "true"
        return Translated(
            sobject=self.schema,
            fields=fields,
            count_only=self.query.count,
            where_sql=where_sql,
            params=self.params,
            order_sql=self.order_sql(),
            limit=self.query.limit,
            relations=relations,
        )

    def resolve(self, token: Token, schema: SObjectSchema | None = None,
                name: str | None = None) -> tuple[str, str]:
        """A field token's canonical name and soql type, or INVALID_FIELD like Salesforce."""
        schema, name = schema or self.schema, name or token.text
        if "." in name:
            raise self.unknown_relationship(token, name.split(".", 1)[0])
        found = schema.field(name)
        if found is None:
            raise error_at(
                self.query.text, token.pos, "INVALID_FIELD",
                f"No such column '{name}' on entity '{schema.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom "
                "field name. Please reference your WSDL or the describe call for the "
                "appropriate names.")
        return found

    def unknown_relationship(self, token: Token, relationship: str) -> SoqlError:
        return error_at(
            self.query.text, token.pos, "INVALID_FIELD",
            f"Didn't understand relationship '{relationship}' in field path. If you are "
            "attempting to use a custom relationship, be sure to append the '__r' after the "
            "custom relationship name. Please reference your WSDL or the describe call for "
            "the appropriate names.")

    def select_fields(self) -> tuple[list[tuple[str, str]], list[Relation]]:
        """The selected fields, and the parent fields selected through relationships
        (one level: `Parent.Field`, the parent named by a reference field of one sObject)."""
        fields: list[tuple[str, str]] = []
        parents: dict[str, list[tuple[str, str]]] = {}
        seen: set[str] = set()
        for token in self.query.fields:
            path = token.text.split(".")
            if len(path) == 1:
                name, kind = self.resolve(token)
                fields.append((name, kind))
            else:
                relation = self.schema.relationships.get(path[0].lower())
                if len(path) > 2 or relation is None:
                    raise self.unknown_relationship(token, path[0])
                parent = self.schemas[relation[2]]
                name, kind = self.resolve(token, parent, path[1])
                parents.setdefault(relation[0], []).append((name, kind))
                name = f"{relation[0]}.{name}"
            if name in seen:
                raise error_at(self.query.text, token.pos, "MALFORMED_QUERY",
                               f"duplicate field selected: {name}")
            seen.add(name)
        relations = []
        for relation_name, parent_fields in parents.items():
            _, reference, parent_key = self.schema.relationships[relation_name.lower()]
            relations.append(Relation(relation_name, reference, self.schemas[parent_key],
                                      tuple(parent_fields)))
        return fields, relations

    def order_sql(self) -> str:
        parts: list[str] = []
        for item in self.query.order_by:
            name, kind = self.resolve(item.field)
            column = f"lower({quote(name)})" if kind == STRING else quote(name)
            direction = "desc" if item.descending else "asc"
            nulls = "nulls last" if item.nulls_last else "nulls first"
            parts.append(f"{column} {direction} {nulls}")
        # a stable tie-break, so pages of one cursor never overlap
        if self.schema.field("Id"):
            parts.append('"Id"')
        return ", ".join(parts) or "1"

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def condition(self, node: Condition) -> str:
        if isinstance(node, Junction):
            return f" {node.op} ".join(f"({self.condition(c)})" for c in node.operands)
        if isinstance(node, Not):
            return f"not ({self.condition(node.operand)})"
        return self.comparison(node)

    def comparison(self, node: Comparison) -> str:
        name, kind = self.resolve(node.field)
        column = quote(name)
        if node.op in ("in", "notin"):
            assert isinstance(node.value, tuple)
            return self.membership(node, name, kind, node.value)
        assert isinstance(node.value, Literal)
        value = node.value
        if node.op == "like":
            if kind != STRING:
                raise self.type_error(node, name, kind)
            pattern = self.bind(like_pattern(value.value))
            return f"coalesce({column} ilike {pattern} escape '\\', false)"
        if value.kind == "null":
            if node.op == "=":
                return f"{column} is null"
            if node.op == "!=":
                return f"{column} is not null"
            raise error_at(self.query.text, value.token.pos, "MALFORMED_QUERY",
                           "null can only be compared with = or !=")
        self.check_type(node, name, kind, value)
        if value.kind == "range":
            return self.date_range(column, kind, node.op, value)
        target = value.value
        if kind == STRING:
            column, target = f"lower({column})", str(target).lower()
        placeholder = self.bind(target)
        if node.op == "!=":
            return f"{column} is distinct from {placeholder}"
        return f"coalesce({column} {node.op} {placeholder}, false)"

    def membership(
        self, node: Comparison, name: str, kind: str, values: tuple[Literal, ...]
    ) -> str:
        concrete = [v for v in values if v.kind != "null"]
        for value in concrete:
            self.check_type(node, name, kind, value)
        column = quote(name)
        if kind == STRING:
            column = f"lower({column})"
        parts = []
        if concrete:
            placeholders = ", ".join(
                self.bind(str(v.value).lower() if kind == STRING else v.value) for v in concrete)
            parts.append(f"coalesce({column} in ({placeholders}), false)")
        if len(concrete) < len(values):
            parts.append(f"{column} is null")
        test = " or ".join(parts)
        return f"not ({test})" if node.op == "notin" else test

    def check_type(self, node: Comparison, name: str, kind: str, value: Literal) -> None:
        """Refuse a literal of the wrong type, with Salesforce's INVALID_FIELD message."""
        accepted = {
            STRING: ("string",),
            BOOLEAN: ("boolean",),
            DOUBLE: ("number",),
            INT: ("number",),
            DATE: ("date", "range"),
            DATETIME: ("datetime", "range"),
        }[kind]
        if value.kind not in accepted:
            raise self.type_error(node, name, kind, value.token)
        if kind == INT and isinstance(value.value, float):
            raise self.type_error(node, name, kind, value.token)

    def type_error(
        self, node: Comparison, name: str, kind: str, token: Token | None = None
    ) -> SoqlError:
        quoted = "should be enclosed in quotes" if kind == STRING else (
            "should not be enclosed in quotes")
        return error_at(
            self.query.text, (token or node.field).pos, "INVALID_FIELD",
            f"value of filter criterion for field '{name}' must be of type {TYPE_NAMES[kind]} "
            f"and {quoted}")

    def date_range(self, column: str, kind: str, op: str, value: Literal) -> str:
        """TODAY, YESTERDAY, LAST_N_DAYS:n as a half-open range of days on the sandbox clock."""
        word, n = value.value
        today = self.now.date()
        if word == "TODAY":
            low, high = today, today + timedelta(days=1)
        elif word == "YESTERDAY":
            low, high = today - timedelta(days=1), today
        else:  # LAST_N_DAYS:n covers today and the n days before it
            low, high = today - timedelta(days=n), today + timedelta(days=1)
        bounds: tuple[Any, Any] = (low, high)
        if kind == DATETIME:
            bounds = (datetime.combine(low, datetime.min.time()),
                      datetime.combine(high, datetime.min.time()))
        if op in ("=", "!="):
            inside = (f"coalesce({column} >= {self.bind(bounds[0])} "
                      f"and {column} < {self.bind(bounds[1])}, false)")
            return inside if op == "=" else f"not {inside}"
        edge, sql_op = {"<": (0, "<"), "<=": (1, "<"), ">": (1, ">="), ">=": (0, ">=")}[op]
        return f"coalesce({column} {sql_op} {self.bind(bounds[edge])}, false)"
