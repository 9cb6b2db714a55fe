"""The SOQL subset: what parses, what Salesforce would refuse, and what the SQL returns.

Semantics are checked by running the translated SQL on a small DuckDB table, so each
case pins a result, not a SQL string.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.soql import (
    SObjectSchema,
    SoqlError,
    like_pattern,
    parse,
    parse_datetime,
    soql_type,
    translate,
)

NOW = datetime(2026, 3, 10, 15, 30)

COLUMNS = {
    "Id": "VARCHAR", "IsDeleted": "BOOLEAN", "Email": "VARCHAR", "LastName": "VARCHAR",
    "Amount": "DOUBLE", "Step": "INTEGER", "CreatedDate": "TIMESTAMP", "CloseDate": "DATE",
    "HasOptedOutOfEmail": "BOOLEAN",
}
ROWS = [
    # Id, IsDeleted, Email, LastName, Amount, Step, CreatedDate, CloseDate, HasOptedOut
    ("003A", False, "Ann@Example.com", "O'Brien", 100.0, 1, datetime(2026, 3, 10, 9, 0),
     date(2026, 3, 10), False),
    ("003B", False, "bob@example.com", "50%_off", 250.5, 2, datetime(2026, 3, 9, 23, 59),
     date(2026, 3, 9), True),
    ("003C", False, None, "Null", None, None, datetime(2026, 2, 1, 0, 0), None, None),
    ("003D", True, "dee@other.org", "Deleted", 5.0, 3, datetime(2026, 3, 1, 12, 0),
     date(2026, 3, 1), False),
    ("003E", False, "eve@other.org", "back\\slash", 10.0, 4, datetime(2026, 3, 3, 0, 0),
     date(2026, 3, 3), False),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    columns = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
    connection.execute(f"create table sf_contact ({columns})")
    connection.executemany(
        f"insert into sf_contact values ({', '.join('?' for _ in COLUMNS)})", ROWS)
    return connection


SCHEMAS = {
    "contact": SObjectSchema(
        "Contact", "sf_contact",
        {name.lower(): (name, soql_type(kind)) for name, kind in COLUMNS.items()},
    )
}


def ids(con: duckdb.DuckDBPyConnection, soql: str, include_deleted: bool = False) -> list[str]:
    translated = translate(soql, SCHEMAS, now=NOW, include_deleted=include_deleted)
    rows = con.execute(translated.select_sql('"Id"'), translated.params).fetchall()
    return [r[0] for r in rows]


def refusal(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        translate(soql, SCHEMAS, now=NOW)
    return caught.value


# ---- what a query returns ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Email = 'ann@example.com'", ["003A"]),                  # text compares ignore case
        ("email = 'ANN@EXAMPLE.COM'", ["003A"]),                  # so do field names
        ("Email != 'ann@example.com'", ["003B", "003C", "003E"]),  # null is 'not equal'
        ("Email <> 'ann@example.com'", ["003B", "003C", "003E"]),
        ("Email = null", ["003C"]),
        ("Email != null", ["003A", "003B", "003E"]),
        ("Amount > 50", ["003A", "003B"]),
        ("Amount <= 100", ["003A", "003E"]),                      # null never compares
        ("Amount >= 250.5", ["003B"]),
        ("Step < 2", ["003A"]),
        ("Amount > -1.5", ["003A", "003B", "003E"]),
        ("HasOptedOutOfEmail = true", ["003B"]),
        ("HasOptedOutOfEmail = false", ["003A", "003E"]),
        ("HasOptedOutOfEmail != true", ["003A", "003C", "003E"]),
        ("Email LIKE '%example.com'", ["003A", "003B"]),
        ("Email LIKE 'ANN%'", ["003A"]),                           # LIKE ignores case too
        ("LastName LIKE '50\\%\\_off'", ["003B"]),                  # escaped wildcards
        ("LastName LIKE '5_\\%%'", ["003B"]),
        ("LastName LIKE 'back\\\\slash'", ["003E"]),                # escaped backslash
        ("LastName = 'O\\'Brien'", ["003A"]),                       # escaped quote
        ("Email IN ('bob@example.com', 'EVE@other.org')", ["003B", "003E"]),
        ("Email IN ('bob@example.com', null)", ["003B", "003C"]),
        ("Email NOT IN ('bob@example.com')", ["003A", "003C", "003E"]),
        ("Step IN (1, 4)", ["003A", "003E"]),
        ("NOT Email LIKE '%example.com'", ["003C", "003E"]),
        ("NOT (Amount > 50 OR Email = null)", ["003E"]),
        ("Amount > 50 AND HasOptedOutOfEmail = false", ["003A"]),
        ("Amount > 200 OR Step = 4 OR Email = null", ["003B", "003C", "003E"]),
        ("(Amount > 200 OR Step = 4) AND Email LIKE '%.org'", ["003E"]),
        ("CreatedDate >= 2026-03-09T00:00:00Z", ["003A", "003B"]),
        ("CreatedDate > 2026-03-09T23:59:00.000+0000", ["003A"]),
        ("CreatedDate < 2026-03-10T01:00:00+02:00", ["003C", "003E"]),  # 23:00 UTC
        ("CloseDate = 2026-03-10", ["003A"]),
        ("CloseDate < 2026-03-09", ["003E"]),
        ("CreatedDate = TODAY", ["003A"]),
        ("CreatedDate = YESTERDAY", ["003B"]),
        ("CreatedDate < YESTERDAY", ["003C", "003E"]),
        ("CreatedDate > YESTERDAY", ["003A"]),
        ("CreatedDate >= YESTERDAY", ["003A", "003B"]),
        ("CreatedDate <= YESTERDAY", ["003B", "003C", "003E"]),
        ("CreatedDate = LAST_N_DAYS:7", ["003A", "003B", "003E"]),
        ("CreatedDate != LAST_N_DAYS:7", ["003C"]),
        ("CloseDate = LAST_N_DAYS:1", ["003A", "003B"]),
        ("CloseDate = TODAY", ["003A"]),
    ],
)
def test_where_clause_selects_the_rows_salesforce_would(
    con: duckdb.DuckDBPyConnection, where: str, expected: list[str]
) -> None:
    assert ids(con, f"SELECT Id FROM Contact WHERE {where}") == expected


def test_query_leaves_out_deleted_rows_and_query_all_keeps_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert "003D" not in ids(con, "SELECT Id FROM Contact")
    assert "003D" in ids(con, "SELECT Id FROM Contact", include_deleted=True)
    assert ids(con, "SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True) == [
        "003D"]


def test_order_by_sorts_text_ignoring_case_with_nulls_where_salesforce_puts_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert ids(con, "SELECT Id FROM Contact ORDER BY Email") == ["003C", "003A", "003B", "003E"]
    assert ids(con, "SELECT Id FROM Contact ORDER BY Email DESC") == [
        "003E", "003B", "003A", "003C"]
    assert ids(con, "SELECT Id FROM Contact ORDER BY Amount ASC NULLS LAST") == [
        "003E", "003A", "003B", "003C"]
    assert ids(con, "SELECT Id FROM Contact ORDER BY HasOptedOutOfEmail DESC NULLS FIRST, "
                    "Amount DESC") == ["003C", "003B", "003A", "003E"]


def test_limit_caps_the_rows_after_ordering(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, "SELECT Id FROM Contact ORDER BY Amount DESC NULLS LAST LIMIT 2") == [
        "003B", "003A"]
    assert ids(con, "select id from contact limit 0") == []


def test_count_query_counts_matching_rows(con: duckdb.DuckDBPyConnection) -> None:
    translated = translate("SELECT COUNT() FROM Contact WHERE Amount > 50", SCHEMAS, now=NOW)
    assert translated.count_only
    assert con.execute(translated.count_sql(), translated.params).fetchall() == [(2,)]


def test_fields_resolve_to_their_canonical_names_in_select_order() -> None:
    translated = translate("select EMAIL, id, createddate from CONTACT", SCHEMAS, now=NOW)
    assert translated.sobject.name == "Contact"
    assert translated.fields == [("Email", "string"), ("Id", "string"),
                                 ("CreatedDate", "datetime")]


def test_values_are_bound_never_formatted_into_the_sql() -> None:
    hostile = "x'); drop table sf_contact; --"
    translated = translate(
        f"SELECT Id FROM Contact WHERE LastName = '{hostile.replace(chr(39), chr(92) + chr(39))}'",
        SCHEMAS, now=NOW)
    assert "drop table" not in translated.select_sql("1")
    assert hostile.lower() in translated.params


# ---- what Salesforce refuses ---------------------------------------------------------------

@pytest.mark.parametrize(
    "soql",
    [
        "",
        "SELECT",
        "SELECT FROM Contact",
        "SELECT Id Contact",
        "SELECT Id FROM",
        "SELECT Id FROM Contact WHERE",
        "SELECT Id FROM Contact WHERE Email",
        "SELECT Id FROM Contact WHERE Email =",
        "SELECT Id FROM Contact WHERE Email = 'unterminated",
        "SELECT Id FROM Contact WHERE Amount > 1 AND Step = 1 OR Email = null",
        "SELECT Id FROM Contact WHERE (Amount > 1",
        "SELECT Id FROM Contact WHERE Amount > 1)",
        "SELECT Id FROM Contact WHERE Email IN ()",
        "SELECT Id FROM Contact WHERE Email IN 'a'",
        "SELECT Id FROM Contact WHERE Id IN (SELECT ContactId FROM OpportunityContactRole)",
        "SELECT Id FROM Contact WHERE Email LIKE 5",
        "SELECT Id FROM Contact WHERE Email = 'a\\qb'",
        "SELECT Id FROM Contact WHERE Amount > null",
        "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS",
        "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:x",
        "SELECT Id FROM Contact WHERE CreatedDate = THIS_WEEK",
        "SELECT Id FROM Contact WHERE CreatedDate IN (TODAY)",
        "SELECT Id FROM Contact LIMIT",
        "SELECT Id FROM Contact LIMIT -1",
        "SELECT Id FROM Contact LIMIT 1.5",
        "SELECT Id FROM Contact ORDER Id",
        "SELECT Id FROM Contact ORDER BY",
        "SELECT Id FROM Contact OFFSET 5",
        "SELECT Id FROM Contact GROUP BY Email",
        "SELECT Id FROM Contact;",
        "SELECT Id, COUNT() FROM Contact",
        "SELECT COUNT(Id) FROM Contact",
        "SELECT MAX(Amount) FROM Contact",
        "SELECT FIELDS(ALL) FROM Contact",
        "SELECT Id, Id FROM Contact",
        "SELECT Id FROM Contact WHERE CloseDate = 2026-13-45",
        "DELETE FROM Contact",
    ],
)
def test_malformed_queries_are_refused_with_malformed_query(soql: str) -> None:
    assert refusal(soql).error_code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("soql", "detail"),
    [
        ("SELECT Foo FROM Contact", "No such column 'Foo' on entity 'Contact'"),
        ("SELECT Id FROM Contact WHERE Bar = 1", "No such column 'Bar' on entity 'Contact'"),
        ("SELECT Id FROM Contact ORDER BY Baz", "No such column 'Baz' on entity 'Contact'"),
        ("SELECT Account.Name FROM Contact", "Didn't understand relationship 'Account'"),
        ("SELECT Id FROM Contact WHERE Email = 5",
         "field 'Email' must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Contact WHERE Amount = '5'",
         "field 'Amount' must be of type double and should not be enclosed in quotes"),
        ("SELECT Id FROM Contact WHERE Step = 1.5", "field 'Step' must be of type integer"),
        ("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'true'",
         "field 'HasOptedOutOfEmail' must be of type boolean"),
        ("SELECT Id FROM Contact WHERE CreatedDate > 2026-01-01",
         "field 'CreatedDate' must be of type dateTime"),
        ("SELECT Id FROM Contact WHERE CreatedDate > '2026-01-01T00:00:00Z'",
         "field 'CreatedDate' must be of type dateTime"),
        ("SELECT Id FROM Contact WHERE CloseDate > 2026-01-01T00:00:00Z",
         "field 'CloseDate' must be of type date"),
        ("SELECT Id FROM Contact WHERE Amount LIKE '5%'",
         "field 'Amount' must be of type double"),
        ("SELECT Id FROM Contact WHERE Email IN ('a', 5)", "field 'Email' must be of type string"),
    ],
)
def test_unknown_or_mistyped_fields_are_refused_with_invalid_field(soql: str, detail: str) -> None:
    err = refusal(soql)
    assert err.error_code == "INVALID_FIELD"
    assert detail in err.message


def test_unknown_sobject_is_refused_with_invalid_type() -> None:
    err = refusal("SELECT Id FROM Widget__c")
    assert err.error_code == "INVALID_TYPE"
    assert "sObject type 'Widget__c' is not supported" in err.message


def test_refusal_points_at_the_offending_token_like_salesforce() -> None:
    err = refusal("SELECT Id FROM Contact WHERE")
    assert err.message == (
        "\nSELECT Id FROM Contact WHERE\n                            ^\n"
        "ERROR at Row:1:Column:29\nunexpected token: '<EOF>'")
    assert err.body() == [{"message": err.message, "errorCode": "MALFORMED_QUERY"}]
    multi_line = refusal("SELECT Id\nFROM Contact\nWHERE Nope = 1")
    assert "ERROR at Row:3:Column:7" in multi_line.message
    assert "\nWHERE Nope = 1\n      ^\n" in multi_line.message


# ---- literals ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1)),
        ("2026-01-01T00:00:00.000+0000", datetime(2026, 1, 1)),
        ("2026-01-01T02:30:00+02:00", datetime(2026, 1, 1, 0, 30)),
        ("2026-01-01T00:00:00.123-0500", datetime(2026, 1, 1, 5, 0, 0, 123000)),
    ],
)
def test_datetime_literals_become_naive_utc(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_like_pattern_keeps_escaped_wildcards_literal() -> None:
    assert like_pattern("50\\%\\_off%") == "50\\%\\_off%"
    assert like_pattern("a\\\\b") == "a\\\\b"
    assert like_pattern("it\\'s_") == "it's_"


def test_keywords_and_names_are_case_insensitive() -> None:
    query = parse("select Id from Contact where email like 'a%' and not amount > 1 "
                  "order by email desc nulls last limit 3")
    assert query.limit == 3
    assert query.order_by[0].descending and query.order_by[0].nulls_last


# ---- properties ----------------------------------------------------------------------------

# printable text, quotes and backslashes included, as a SOQL string literal would carry it
texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30)


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@settings(max_examples=200, deadline=None)
@given(value=texts)
def test_any_string_round_trips_through_a_quoted_literal(value: str) -> None:
    translated = translate(f"SELECT Id FROM Contact WHERE LastName = {soql_quote(value)}",
                           SCHEMAS, now=NOW)
    assert translated.params == [value.lower()]


@pytest.fixture(scope="module")
def scratch() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute('create table sf_lead ("Id" varchar, "IsDeleted" boolean, '
                       '"LastName" varchar)')
    return connection


LEADS = {"lead": SObjectSchema("Lead", "sf_lead", {
    "id": ("Id", "string"), "isdeleted": ("IsDeleted", "boolean"),
    "lastname": ("LastName", "string")})}


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
def test_string_equality_matches_exactly_the_same_text_ignoring_case(
    scratch: duckdb.DuckDBPyConnection, value: str
) -> None:
    scratch.execute("delete from sf_lead")
    scratch.execute("insert into sf_lead values ('1', false, ?), ('2', false, ?)",
                    [value, value + "x"])
    translated = translate(
        f"SELECT Id FROM Lead WHERE LastName = {soql_quote(value.upper())}", LEADS, now=NOW)
    rows = scratch.execute(translated.select_sql('"Id"'), translated.params).fetchall()
    assert rows == [("1",)]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_input_is_either_translated_or_refused_never_crashes(text: str) -> None:
    try:
        translate(text, SCHEMAS, now=NOW)
    except SoqlError as err:
        assert err.error_code in ("MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE")


conditions = st.recursive(
    st.sampled_from([
        "Amount > 50", "Email = null", "Email LIKE '%.org'", "HasOptedOutOfEmail = true",
        "Step IN (1, 2)", "CreatedDate = LAST_N_DAYS:3", "Email != 'bob@example.com'",
    ]),
    lambda inner: st.one_of(
        inner.map(lambda c: f"NOT ({c})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: " AND ".join(f"({c})" for c in cs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: " OR ".join(f"({c})" for c in cs)),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(condition=conditions)
def test_not_is_the_exact_complement_because_comparisons_are_never_null(
    con: duckdb.DuckDBPyConnection, condition: str
) -> None:
    matching = set(ids(con, f"SELECT Id FROM Contact WHERE {condition}"))
    others = set(ids(con, f"SELECT Id FROM Contact WHERE NOT ({condition})"))
    assert matching | others == {"003A", "003B", "003C", "003E"}
    assert not matching & others
