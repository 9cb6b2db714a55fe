"""Record ids in the shapes the real APIs use.

HubSpot ids are positive integers (served as strings). Salesforce ids are 18 characters:
the 15-character case-sensitive id (a 3-character key prefix per sObject, then a
zero-padded counter) and the 3-character case-insensitive checksum Salesforce appends, so
`00Q000000000001` becomes `00Q000000000001EAA` as a real org would write it.
"""

from __future__ import annotations

import duckdb

# key prefixes: the standard objects' well-known ones; for the cadence objects the prefixes
# of the ids in the Actions Developer Guide's Sales Engagement examples
# (https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_high_velocity_sales.htm:
# cadence 77Cxx0000004CXEEA2, tracker 0qBR00000005CXvMAM, step tracker 8HFR00000005WyqOAE).
# No documented example shows an ActionCadenceStep id: '7cs' is the sandbox's own choice,
# and seqguard never reads meaning into an id's prefix beyond Contact/Lead.
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
    "ActionCadenceStep": "7cs",
    "ActionCadenceTracker": "0qB",
    "ActionCadenceStepTracker": "8HF",
}

# the checksum alphabet: each 5-character block of the 15-character id gives one character,
# indexed by the bits of its upper-case letters
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def checksum(id15: str) -> str:
    """The 3 characters Salesforce appends to a 15-character id to make it 18."""
    out = ""
    for block in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, char in enumerate(block) if "A" <= char <= "Z")
        out += _CHECKSUM_ALPHABET[bits]
    return out


def salesforce_id(sobject: str, n: int) -> str:
    """The id of record `n` (1-based counter value) of `sobject`."""
    id15 = f"{SALESFORCE_PREFIX[sobject]}{n:012d}"
    return id15 + checksum(id15)


def salesforce_id_sql(prefix_sql: str, n_sql: str) -> str:
    """SQL for `salesforce_id` of counter value `n_sql` (< 10^12) with key prefix
    `prefix_sql` (any SQL string expression), for vectorized inserts and views.

    The counter part is digits only, so only the prefix's upper-case letters set checksum
    bits: the first checksum character varies, the other two are always 'A'.
    """
    bits = " + ".join(
        f"(case when substr({prefix_sql}, {i + 1}, 1) between 'A' and 'Z' then {1 << i} "
        "else 0 end)" for i in range(3))
    return (f"({prefix_sql} || lpad(cast({n_sql} as varchar), 12, '0') "
            f"|| chr(65 + {bits}) || 'AA')")


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
