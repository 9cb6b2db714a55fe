"""Sequences with people already in them, as a live account has: reps enrolled them by
hand, so the first cycle has enrollments to check (`make run` shows real removals)."""

from __future__ import annotations

import json

from sandbox.ids import reserve
from sandbox.sequencer import refresh_contact_flags
from sandbox.state import SandboxState

DEMO_SEQUENCES = [
    {
        "id": "9001",
        "name": "Enterprise outbound",
        "steps": [{"after_minutes": 0}, {"after_minutes": 2880}, {"after_minutes": 4320}],
    },
    {
        "id": "9002",
        "name": "Webinar follow-up",
        "steps": [{"after_minutes": 0}, {"after_minutes": 1440}],
    },
]


def enroll_demo(state: SandboxState, people: int) -> int:
    """Define the demo sequences and enroll every k-th HubSpot contact, up to `people`.

    Opted-out contacts are passed over, as HubSpot would refuse them. Returns how many
    were enrolled.
    """
    now = state.now()
    with state.transaction() as con:
        for seq in DEMO_SEQUENCES:
            con.execute(
                "insert or replace into sb_sequences values (?, ?, ?, ?)",
                [seq["id"], seq["name"], json.dumps(seq["steps"]), now],
            )
        total = con.execute("select count(*) from hs_contacts where not archived").fetchall()[0][0]
        stride = max(1, total // max(people, 1))
        con.execute(
            """
            create or replace temp table demo_pick as
            select id, email, row_number() over (order by id) as n
            from hs_contacts
            where not archived and coalesce(hs_email_optout, 'false') <> 'true'
              and id % ? = 0 and id not in (
                  select cast(contact_id as bigint) from sb_enrollments
                  where crm = 'hubspot' and state in ('active', 'paused'))
            order by id limit ?
            """,
            [stride, people],
        )
        count = con.execute("select count(*) from demo_pick").fetchall()[0][0]
        if count == 0:
            return 0
        first = reserve(con, "sb_enrollments", count)
        # half start in each sequence; the first step goes out at the next tick
        con.execute(
            """
            insert into sb_enrollments (id, crm, contact_id, email, sequence_id, state, step,
                sender, enrolled_at, updated_at, next_step_at)
            select ? - 1 + n, 'hubspot', cast(id as varchar), email,
                   case when n % 2 = 0 then '9001' else '9002' end, 'active', 0,
                   'rep@seqguard-sandbox.test', ?, ?, ?
            from demo_pick
            """,
            [first, now, now, now],
        )
        refresh_contact_flags(con, now)
    return count
