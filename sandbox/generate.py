"""Generated sandbox data: the metadata every sandbox has, and CRM records with real mess.

`seed_metadata` gives an empty sandbox what a fresh CRM account already has (property
and field definitions, owners). `generate` fills HubSpot, Salesforce and their
engagements with data shaped like a real company's: people split across both CRMs with
differently typed emails, duplicate companies and domain variants, deals open in one CRM
and closed in the other, unsubscribes, bounces, replies and out-of-office replies.

Sizes: `contacts` HubSpot contacts (ids 1..contacts), `companies` HubSpot companies,
`deals` HubSpot deals. Salesforce gets, for every HubSpot contact with 42% odds, a Contact
and/or a Lead for the same person, plus contacts // 10 people who exist only in
Salesforce; Accounts for ~60% of companies; Opportunities = deals * 8 // 10.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb

from sandbox import generate_sql as gen
from sandbox.generate_metadata import seed_metadata
from sandbox.state import SandboxState

__all__ = ["generate", "seed_metadata", "GENERATED_TABLES"]

log = logging.getLogger(__name__)

TWO_YEARS_SECONDS = 730 * 86400

# the tables `generate` fills (the counters it sets are named in generate_sql.COUNTERS)
GENERATED_TABLES = (
    "hs_contacts", "hs_companies", "hs_deals", "hs_emails", "hs_meetings", "hs_associations",
    "sf_account", "sf_contact", "sf_lead", "sf_opportunity", "sf_opportunitycontactrole",
    "sf_task", "sf_event",
)


def _sizes(contacts: int, companies: int | None, deals: int | None) -> dict[str, int]:
    """The row counts every statement needs, with the documented defaults."""
    if companies is None:
        companies = max(1, contacts // 5) if contacts else 0
    deals = contacts // 10 if deals is None else deals
    if contacts < 0 or companies < 0 or deals < 0:
        raise ValueError(
            f"generate: sizes must be >= 0 (contacts={contacts}, companies={companies}, "
            f"deals={deals})")
    if companies == 0 and (contacts or deals):
        raise ValueError(
            "generate: contacts and deals need companies >= 1; pass companies or omit it")
    return {
        "contacts": contacts,
        "people": contacts + contacts // 10,
        "companies": companies,
        "duplicates": companies * 3 // 100,
        "deals": deals,
    }


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> None:
    """Execute with the named parameters this statement uses (DuckDB rejects extras)."""
    con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _check_ready(con: duckdb.DuckDBPyConnection) -> int:
    """The number of owners; refuse to mix generated rows into a sandbox holding records."""
    filled = [t for t in GENERATED_TABLES if _scalar(con, f"select count(*) from {t}")]
    if filled:
        raise ValueError(
            f"generate: the sandbox already holds records in {', '.join(filled)}; "
            "reset it first (POST /_sandbox/reset)")
    owners = _scalar(con, "select count(*) from hs_owners")
    users = _scalar(con, "select count(*) from sf_user")
    if not owners or owners != users:
        raise ValueError(
            f"generate: needs the seeded owners (hs_owners={owners}, sf_user={users}); "
            "call seed_metadata(state) first")
    return owners


def generate(state: SandboxState, *, seed: int, contacts: int, companies: int | None = None,
             deals: int | None = None) -> dict[str, int]:
    """Fill every CRM table of an empty, seeded sandbox; returns the row count per table.

    Deterministic per (seed, sizes, state.now()): values come from hash(seed, row number).
    Runs in one transaction under `state.lock`; any failure leaves the sandbox as it was.
    """
    sizes = _sizes(contacts, companies, deals)
    params: dict[str, Any] = {
        **sizes,
        "seed": int(seed),
        "now": state.now().replace(microsecond=0),
        "span": TWO_YEARS_SECONDS,
    }
    with state.transaction() as con:
        params["owners"] = _check_ready(con)
        for macro in gen.MACROS:
            con.execute(macro)
        for name, sql in gen.STEPS:
            started = time.perf_counter()
            _run(con, sql, params)
            if name == "g_company":
                params.update(_opportunity_sizes(con, sizes["deals"]))
            log.debug("generate %s: %.2f s", name, time.perf_counter() - started)
        # a failed run needs no cleanup: rollback drops the helper tables with the rest
        for table in gen.HELPER_TABLES:
            con.execute(f"drop table {table}")
        return {t: _scalar(con, f"select count(*) from {t}") for t in GENERATED_TABLES}


def _opportunity_sizes(con: duckdb.DuckDBPyConnection, deals: int) -> dict[str, int]:
    """How many Opportunities, and how many mirror a HubSpot deal (needs Accounts)."""
    accounts = _scalar(con, "select count(account_n) from g_company")
    opportunities = deals * 8 // 10 if accounts else 0
    return {"accounts": accounts, "opportunities": opportunities,
            "mirrors": opportunities // 10}

