"""`seqguard lint`: every bad input reported as `file:line: what; how to fix`, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from tasks.db import store
from tasks.rules.lint import lint_project
from tests.rules.conftest import insert, write, write_rule


def messages(project: Path, db: Path | None = None) -> list[str]:
    return [str(p) for p in lint_project(project, db).problems]


def only(project: Path, db: Path | None = None) -> str:
    found = messages(project, db)
    assert len(found) == 1, found
    return found[0]


def test_the_shipped_project_lints_clean(db: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert messages(repo, db) == []


def test_clean_project_exits_0_and_prints_nothing(project: Path, db: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    write_rule(project, "vip",
               "select email, 'vip' as reason from crm.people where email = 'a@b.c'")
    assert main(["lint", "--project", str(project), "--db", str(db)]) == 0
    assert capsys.readouterr().out == ""


def test_problems_print_one_per_line_and_exit_1(project: Path, db: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    write_rule(project, "broken", "select email from crm.people where")
    write_rule(project, "clock", "select email from crm.people where created_at > now()")
    assert main(["lint", "--project", str(project), "--db", str(db)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith("sql/exclusions/broken.sql:7: does not parse")
    assert out[1].startswith("sql/exclusions/clock.sql:7: now() reads the wall clock; "
                             "use cycle_time()")


def test_syntax_error_names_the_line(project: Path) -> None:
    write_rule(project, "typo", """
        select email
        from crm.people
        wher is_bounced
    """)
    assert only(project).startswith("sql/exclusions/typo.sql:9: does not parse: Parser Error: "
                                    "syntax error at or near")


def test_two_statements_are_refused(project: Path) -> None:
    write_rule(project, "two", """
        select email from crm.people;
        select email from crm.people
    """)
    assert only(project) == ("sql/exclusions/two.sql:8: a second statement; a rule is exactly "
                             "one SELECT, remove everything after the first `;`")


@pytest.mark.parametrize("sql, kind", [
    ("insert into crm.people (email) values ('x@y.z')", "INSERT"),
    ("delete from crm.people", "DELETE"),
    ("create table evil as select 1", "CREATE"),
    ("copy (select email from crm.people) to '/tmp/out.csv'", "COPY"),
    ("attach '/tmp/other.duckdb' as other", "ATTACH"),
    ("set enable_external_access = true", "SET"),
])
def test_writes_and_settings_are_refused(project: Path, sql: str, kind: str) -> None:
    write_rule(project, "writes", sql)
    assert only(project) == (f"sql/exclusions/writes.sql:7: is a {kind} statement, not a "
                             "SELECT; rules only read (no insert, update, create, copy or "
                             "settings)")


def test_reading_a_file_is_refused(project: Path) -> None:
    write_rule(project, "passwd", "select column0 as email from read_csv('/etc/passwd')")
    write_rule(project, "quoted", "select * from '/etc/passwd'")
    found = messages(project)
    assert found == [
        "sql/exclusions/passwd.sql:7: read_csv() reads a file; rules read only the database: "
        "put the data in sql/exclusions/lists/<name>.csv and select from lists.<name>",
        "sql/exclusions/quoted.sql:7: from '/etc/passwd' reads a file; rules read only the "
        "database: put the data in sql/exclusions/lists/<name>.csv and select from "
        "lists.<name>",
    ]


def test_missing_header_key(project: Path) -> None:
    write_rule(project, "nolevel", "select email from crm.people", level=None)
    assert only(project) == ("sql/exclusions/nolevel.sql:1: header key 'level' is missing; add "
                             "a line `-- level: ...` at the top of the file")


def test_unknown_header_key(project: Path) -> None:
    write_rule(project, "extra", "select email from crm.people", owner="revops")
    assert only(project).startswith("sql/exclusions/extra.sql:7: unknown header key 'owner'; "
                                    "use one of rule, description, level")


@pytest.mark.parametrize("key, value, message", [
    ("level", "person", "level 'person' is not contact or company; write `-- level: contact` "
                        "or `-- level: company`"),
    ("remove_enrolled", "yes", "remove_enrolled is 'yes'; write true or false"),
    ("rule", "Other Name", "rule name 'Other Name' is not a plain lower-case name; use "
                           "letters, digits and _ only"),
    ("rule", "other_name", "rule name 'other_name' differs from the file name 'named.sql'; "
                           "rename one so they match"),
])
def test_bad_header_values(project: Path, key: str, value: str, message: str) -> None:
    write_rule(project, "named", "select email from crm.people", **{key: value})
    line = {"rule": 1, "level": 3, "remove_enrolled": 5}[key]
    assert only(project) == f"sql/exclusions/named.sql:{line}: {message}"


def test_header_comments_after_values_are_allowed(project: Path) -> None:
    write(project, "sql/exclusions/commented.sql", """
        -- rule: commented
        -- description: Values may carry a trailing comment, as in DESIGN.
        -- level: company                -- company rows name `company_domain`
        -- exclude_from_sequences: true  -- on for every sequence
        -- remove_enrolled: false        -- only block new ones
        -- enabled: true
        select company_domain from crm.companies
    """)
    assert messages(project) == []


@pytest.mark.parametrize("level, sql, message", [
    ("contact", "select email as mail from crm.people",
     "returns no email column; a contact rule returns email (and optionally reason): alias "
     "the column `as email`"),
    ("company", "select email from crm.people",
     "returns email but the header says level: company; return company_domain or change the "
     "level"),
    ("contact", "select email, first_name from crm.people",
     "returns column 'first_name', which a contact rule does not use; return only email and "
     "optionally reason"),
])
def test_wrong_output_columns(project: Path, db: Path, level: str, sql: str,
                              message: str) -> None:
    write_rule(project, "cols", sql, level=level)
    assert only(project, db) == f"sql/exclusions/cols.sql:7: {message}"


def test_unknown_tables_and_columns_come_from_the_dry_run(project: Path, db: Path) -> None:
    write_rule(project, "table", "select email from crm.persons")
    write_rule(project, "column", """
        select email
        from crm.people
        where is_unsubscribd
    """)
    column, table = messages(project, db)
    assert column == ('sql/exclusions/column.sql:9: Referenced column "is_unsubscribd" not '
                      'found in FROM clause; did you mean "is_unsubscribed"?')
    # DuckDB picks the suggestion; the message names the table and offers one
    assert table.startswith("sql/exclusions/table.sql:7: Table with name persons does not "
                            'exist; did you mean "')


def test_custom_people_columns_of_the_real_database_are_known(project: Path, db: Path) -> None:
    write_rule(project, "custom",
               "select email from crm.people where has_option(product_interest, 'analytics')")
    assert messages(project) != []  # seqguard's own schema has no such column
    with store.connect(db) as con:
        con.execute("alter table crm.people add column product_interest varchar")
    assert messages(project, db) == []


def test_wall_clock_is_flagged_with_the_cycle_time_hint(project: Path) -> None:
    write_rule(project, "clock", """
        select email
        from crm.engagements
        where occurred_at > current_timestamp - interval 1 day
            and occurred_at::date <> current_date
    """)
    assert messages(project) == [
        "sql/exclusions/clock.sql:9: current_timestamp reads the wall clock; use cycle_time() "
        "(the cycle's time, moved by --now)",
        "sql/exclusions/clock.sql:10: current_date reads the wall clock; use cycle_time()::date "
        "(the cycle's time, moved by --now)",
    ]


@pytest.fixture
def options(db: Path) -> Path:
    """HubSpot enumeration options as the model writes them, and a custom column."""
    insert(db, "crm.property_options", [
        {"crm": "hubspot", "object": "contacts", "property": "lifecyclestage",
         "label": "Customer", "value": "customer", "is_multi_select": False},
        {"crm": "hubspot", "object": "contacts", "property": "lifecyclestage",
         "label": "Lead", "value": "lead", "is_multi_select": False},
        {"crm": "hubspot", "object": "deals", "property": "dealstage",
         "label": "Closed won", "value": "closedwon", "is_multi_select": False},
        {"crm": "salesforce", "object": "Opportunity", "property": "StageName",
         "label": "Closed Won", "value": "Closed Won", "is_multi_select": False},
        {"crm": "hubspot", "object": "contacts", "property": "product_interest",
         "label": "Analytics", "value": "analytics", "is_multi_select": True},
    ])
    with store.connect(db) as con:
        con.execute("alter table crm.people add column product_interest varchar")
    return db


def test_label_instead_of_internal_value(project: Path, options: Path) -> None:
    write(project, "sql/exclusions/customers.sql", """
        -- rule: customers
        -- description: Our customers.
        -- level: contact
        -- exclude_from_sequences: true
        -- remove_enrolled: true
        select email from crm.people where lifecycle_stage = 'Customer'
    """)
    assert only(project, options) == (
        "sql/exclusions/customers.sql:6: 'Customer' is the label of contacts.lifecyclestage; "
        "use its internal value 'customer'")


def test_labels_are_found_through_aliases_joins_and_in_lists(project: Path,
                                                             options: Path) -> None:
    write_rule(project, "joined", """
        select p.email
        from crm.people as p
        join crm.opportunities as o on o.company_domain = p.company_domain
        where o.stage in ('Closed won', 'Closed Won')
            and p.lifecycle_stage <> 'lead'
    """)
    # 'Closed Won' is a Salesforce stage value, so it is fine in crm.opportunities
    assert only(project, options) == (
        "sql/exclusions/joined.sql:10: 'Closed won' is the label of deals.dealstage; use its "
        "internal value 'closedwon'")


def test_unknown_option_lists_the_values(project: Path, options: Path) -> None:
    write_rule(project, "typo", "select email from crm.people where lifecycle_stage = 'custmer'")
    assert only(project, options) == (
        "sql/exclusions/typo.sql:7: 'custmer' is not an option of contacts.lifecyclestage; use "
        "one of 'customer', 'lead'")


def test_multi_select_compared_as_one_string(project: Path, options: Path) -> None:
    write_rule(project, "interest",
               "select email from crm.people where product_interest = 'Analytics'")
    write_rule(project, "interest_ok", "select email from crm.people "
                                       "where has_option(product_interest, 'analytics')")
    assert messages(project, options) == [
        "sql/exclusions/interest.sql:7: contacts.product_interest is a multi-select property, "
        "so 'Analytics' compared as one string misses people with several options; use "
        "has_option(product_interest, 'analytics')"]


def test_rulesets_yaml_error(project: Path) -> None:
    write(project, "sql/rulesets.yml", """
        default: {rules: []}
        sequences:
          "Enterprise outbound": {rules: [open_opportunity
    """)
    assert only(project).startswith("sql/rulesets.yml:4: not valid YAML")


def test_ruleset_naming_a_missing_rule(project: Path) -> None:
    write(project, "sql/rulesets.yml", """
        default: {rules: []}
        sequences:
          "Enterprise outbound":
            rules:
              - open_opportunity
              - lifecycle_custmer
    """)
    assert only(project) == (
        "sql/rulesets.yml:6: ruleset 'Enterprise outbound' names rule 'lifecycle_custmer', "
        "which does not exist; fix the name or add sql/exclusions/lifecycle_custmer.sql")


def test_ruleset_shape_errors(project: Path) -> None:
    write(project, "sql/rulesets.yml", """
        default: {rules: []}
        sequences:
          "Outbound": {rules: [replied], colleague_reply: sometimes, owner: me}
    """)
    assert messages(project) == [
        "sql/rulesets.yml:3: ruleset 'Outbound': colleague_reply is 'sometimes'; write true or "
        "false",
        "sql/rulesets.yml:3: ruleset 'Outbound': unknown key 'owner'; use rules and "
        "colleague_reply",
    ]


PLAY = """
    play: webinar
    sequence: "Webinar follow-up"
    audience: webinar.sql
    trigger: crm_event
    delay: 30m
    exclusions: [recent_manual_email]
    allow_reenrollment: false
    max_enrollments_per_company: 3
    sender: owner
    enabled: true
"""


def test_a_good_play_lints_clean(project: Path, db: Path) -> None:
    write(project, "sql/plays/webinar.yml", PLAY)
    write(project, "sql/plays/webinar.sql",
          "select email, created_at as event_at from crm.people")
    assert messages(project, db) == []


def test_play_yaml_error(project: Path) -> None:
    write(project, "sql/plays/webinar.yml", PLAY.replace("sender: owner", "sender: [owner"))
    write(project, "sql/plays/webinar.sql", "select email, created_at as event_at from crm.people")
    assert only(project).startswith("sql/plays/webinar.yml:")
    assert "not valid YAML" in only(project)


@pytest.mark.parametrize("change, message", [
    (("delay: 30m", "delay: 5m"),
     "sql/plays/webinar.yml:5: delay 5m is outside 20m..30m for a crm_event play; pick a delay "
     "between 20m and 30m"),
    (("trigger: crm_event", "trigger: webhook"),
     "sql/plays/webinar.yml:4: trigger 'webhook' is not one of crm_event, schedule, manual"),
    (("[recent_manual_email]", "[recent_manual_mail]"),
     "sql/plays/webinar.yml:6: exclusions name rule 'recent_manual_mail', which does not "
     "exist; fix the name or add sql/exclusions/recent_manual_mail.sql"),
    (("audience: webinar.sql", "audience: other.sql"),
     "sql/plays/webinar.yml:3: audience file sql/plays/other.sql does not exist; create it or "
     "fix the name"),
    (("sender: owner", "sender: somebody"),
     "sql/plays/webinar.yml:9: sender 'somebody' is neither owner nor an email address"),
    (("max_enrollments_per_company: 3", "max_enrollments_per_company: 0"),
     "sql/plays/webinar.yml:8: max_enrollments_per_company is '0'; write a whole number of 1 "
     "or more"),
])
def test_play_values(project: Path, db: Path, change: tuple[str, str], message: str) -> None:
    write(project, "sql/plays/webinar.yml", PLAY.replace(*change))
    write(project, "sql/plays/webinar.sql", "select email, created_at as event_at from crm.people")
    assert only(project, db) == message


def test_play_audience_sql_is_checked(project: Path, db: Path) -> None:
    write(project, "sql/plays/webinar.yml", PLAY)
    write(project, "sql/plays/webinar.sql", "select email from crm.people where now() > created_at")
    assert messages(project, db) == [
        "sql/plays/webinar.sql:1: a crm_event play needs event_at (the event time its delay "
        "counts from); add it",
        "sql/plays/webinar.sql:1: now() reads the wall clock; use cycle_time() (the cycle's "
        "time, moved by --now)",
    ]


def test_lists_are_loaded_for_the_dry_run(project: Path, db: Path) -> None:
    write(project, "sql/exclusions/lists/partners.csv", "company_domain,reason\npartner.com,x\n")
    write_rule(project, "partners", "select company_domain, reason from lists.partners",
               level="company")
    assert messages(project, db) == []


# messages name the file, line and column, never a cell: a list may hold anything
@pytest.mark.parametrize("csv, message", [
    ("domain,reason\nacme.com,x\n",
     "sql/exclusions/lists/bad.csv:1: column 1 of the header is not a list column; name the "
     "columns email and/or company_domain, optionally company_name and reason"),
    ("email,reason\na@b.com,x\n\nnot-an-email,y\n",
     "sql/exclusions/lists/bad.csv:4: email is not an email address; fix it or delete the row"),
    ("company_domain,reason\nacme.com,x\nbeta.com,y,z\n",
     "sql/exclusions/lists/bad.csv:3: the row has 3 fields and the header 2; quote values that "
     "contain commas"),
    ("email,company_domain\na@b.com,\n,\n",
     "sql/exclusions/lists/bad.csv:3: has neither email nor company_domain; fill one or "
     "delete the row"),
    ("email,reason,email\na@b.com,x,c@d.com\n",
     "sql/exclusions/lists/bad.csv:1: columns 1 and 3 of the header have the same name; keep "
     "one"),
    ("reason\nx\n",
     "sql/exclusions/lists/bad.csv:1: the header has neither email nor company_domain; a list "
     "names people (email) or companies (company_domain)"),
])
def test_bad_list_csv(project: Path, db: Path, csv: str, message: str) -> None:
    write(project, "sql/exclusions/lists/bad.csv", csv)
    assert only(project, db) == message


def test_json_lists_skipped_files_as_warnings_and_exits_0(project: Path, db: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    write_rule(project, "nested", "select 'a@b.c' as email", folder="old")
    assert main(["lint", "--project", str(project), "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["problems"] == []
    assert out["warnings"] == [{
        "path": "sql/exclusions/old/nested.sql", "line": 1,
        "message": "warning: seqguard does not read this file; a rule sits directly in "
                   "sql/exclusions/ as <name>.sql: move it to sql/exclusions/nested.sql"}]


@pytest.fixture
def industries(db: Path) -> Path:
    """Company industry options of both CRMs (HubSpot values differ from their labels)."""
    insert(db, "crm.property_options", [
        {"crm": "hubspot", "object": "companies", "property": "industry",
         "label": "Education Management", "value": "EDUCATION_MANAGEMENT",
         "is_multi_select": False},
        {"crm": "hubspot", "object": "companies", "property": "industry",
         "label": "Retail", "value": "RETAIL", "is_multi_select": False},
        {"crm": "salesforce", "object": "Account", "property": "Industry",
         "label": "Education", "value": "Education", "is_multi_select": False},
    ])
    return db


def test_labels_are_checked_in_raw_tables_too(project: Path, industries: Path) -> None:
    write_rule(project, "education", """
        select domain as company_domain
        from raw_hubspot.companies
        where industry = 'Education Management'
    """, level="company")
    write_rule(project, "education_sf", """
        select Website as company_domain
        from raw_salesforce.Account as a
        where a.Industry in ('Education', 'EDUCATION_MANAGEMENT')
    """, level="company")
    assert messages(project, industries) == [
        "sql/exclusions/education.sql:9: 'Education Management' is the label of "
        "companies.industry; use its internal value 'EDUCATION_MANAGEMENT'",
        "sql/exclusions/education_sf.sql:9: 'EDUCATION_MANAGEMENT' is not an option of "
        "Account.Industry; use one of 'Education'"]


def test_a_configured_column_accepts_the_values_of_every_crm_feeding_it(
        project: Path, industries: Path) -> None:
    write(project, "seqguard.yml",
          "columns: {companies: {industry: {hubspot: industry, salesforce: Industry}}}\n")
    write_rule(project, "education", """
        select company_domain
        from crm.companies
        where industry in ('EDUCATION_MANAGEMENT', 'Education', 'Retail')
    """, level="company")
    # a configured column no cycle has built yet: lint knows it from seqguard.yml
    assert messages(project, industries) == [
        "sql/exclusions/education.sql:9: 'Retail' is the label of companies.industry; use "
        "its internal value 'RETAIL'"]
