"""Record ids in the shapes the real APIs use.

HubSpot ids are positive integers (served as strings). Salesforce ids are 18 characters:
a 3-character key prefix per sObject, a zero-padded counter, and a fixed 'AAA' suffix.
"""

from __future__ import annotations

import duckdb

SALESFORCE_PREFIX = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
    "Task": "00T",
    "Event": "00U",
    "ActionCadence": "77C",
    "ActionCadenceTracker": "77T",
}

# the sql expression that turns counter value n into a Salesforce id (for vectorized inserts)
SALESFORCE_ID_SQL = "{prefix} || lpad(cast({n} as varchar), 12, '0') || 'AAA'"


def salesforce_id(sobject: str, n: int) -> str:
    return f"{SALESFORCE_PREFIX[sobject]}{n:012d}AAA"


def reserve(con: duckdb.DuckDBPyConnection, counter: str, count: int) -> int:
    """Reserve `count` ids from a named counter; returns the first one (1-based)."""
    rows = con.execute(
        """
        insert into sb_counters values (?, ?)
        on conflict (name) do update set value = sb_counters.value + excluded.value
        returning value
        """,
        [counter, count],
    ).fetchall()  # fetchall settles the result; a pending one blocks register() on con
    return int(rows[0][0]) - count + 1
