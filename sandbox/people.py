"""The people and senders of a sequencer that is not a CRM (Outreach, Salesloft, Apollo).

People exist in the CRM and in the sequencer under the same email: each such sequencer
holds its own person for every email the CRMs' contacts carry (HubSpot contacts,
Salesforce Contacts and Leads), and its own sender (Outreach mailbox, Salesloft user,
Apollo email account) for every CRM owner and user. They are mirrored lazily, whenever a
vendor route or the sequencer needs them, each with an id of that sequencer's own that it
keeps. A person's opt-out starts as the CRMs' (a sequencer synced with the CRM carries it)
and is the sequencer's own from then on: the recipient's unsubscribe sets it, and the
sequencer refuses to enroll that person (sandbox/activity.py, sandbox/sequencer.py).

A vendor route shapes these rows as its API does (ids as numbers or strings); the truth
stays readable at `/_sandbox/table/sb_people` and `/_sandbox/table/sb_senders`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from sandbox.ids import reserve
from sandbox.state import SandboxState

# sequencers with people of their own; the CRM sequencers (hubspot, salesforce) enroll the
# CRM's own records
SEQUENCERS = ("outreach", "salesloft", "apollo")


def check_sequencer(sequencer: str) -> str:
    if sequencer not in SEQUENCERS:
        raise ValueError(f"sequencer '{sequencer}' has no people of its own; use one of "
                         f"{', '.join(SEQUENCERS)}")
    return sequencer


# changes whenever a CRM's contacts, leads, owners or users may have: their counts and
# latest modification times
CRM_SIGNATURE_SQL = """
select concat_ws('|',
    (select count(*) || ':' || coalesce(cast(max(updated_at) as varchar), '') from hs_contacts
     where not archived),
    (select count(*) || ':' || coalesce(cast(max(LastModifiedDate) as varchar), '')
     from sf_contact where not IsDeleted),
    (select count(*) || ':' || coalesce(cast(max(LastModifiedDate) as varchar), '')
     from sf_lead where not IsDeleted),
    (select count(*) from hs_owners),
    (select count(*) || ':' || coalesce(cast(max(LastModifiedDate) as varchar), '')
     from sf_user))
"""


def mirror(con: duckdb.DuckDBPyConnection, sequencer: str, now: datetime) -> int:
    """Give every CRM email and owner the sequencer lacks a person or sender of its own
    (ids in email order after the ones already given); returns how many people it added.
    Nothing to do when the CRMs have not changed since this sequencer's last mirror."""
    check_sequencer(sequencer)
    signature = con.execute(CRM_SIGNATURE_SQL).fetchall()[0][0]
    seen = con.execute("select crm_signature from sb_mirrored where sequencer = ?",
                       [sequencer]).fetchall()
    if seen and seen[0][0] == signature:
        return 0
    con.execute("insert or replace into sb_mirrored values (?, ?)", [sequencer, signature])
    con.execute(
        """
        create or replace temp table new_people as
        with
        crm_emails as (
            select lower(trim(email)) as email,
                   coalesce(hs_email_optout, 'false') = 'true' as opted_out
            from hs_contacts where not archived
            union all
            select lower(trim(Email)), coalesce(HasOptedOutOfEmail, false)
            from sf_contact where not IsDeleted
            union all
            select lower(trim(Email)), coalesce(HasOptedOutOfEmail, false)
            from sf_lead where not IsDeleted
        ),
        final as (
            select email, bool_or(opted_out) as opted_out from crm_emails
            where email like '%_@_%'
              and email not in (select email from sb_people where sequencer = $sequencer)
            group by email
        )
        select * from final
        """,
        {"sequencer": sequencer},
    )
    added = _insert_numbered(con, "new_people", f"sb_people:{sequencer}", """
        insert into sb_people (sequencer, id, email, opted_out, opted_out_at, created_at,
                               updated_at)
        select $sequencer, $first - 1 + row_number() over (order by email), email,
               opted_out, case when opted_out then $now end, $now, $now
        from new_people""", sequencer, now)
    con.execute(
        """
        create or replace temp table new_senders as
        select distinct lower(trim(email)) as email from (
            select email from hs_owners
            union all
            select Email from sf_user where not IsDeleted and coalesce(IsActive, true)
        )
        where lower(trim(email)) like '%_@_%'
          and lower(trim(email)) not in (
              select email from sb_senders where sequencer = $sequencer)
        """,
        {"sequencer": sequencer},
    )
    _insert_numbered(con, "new_senders", f"sb_senders:{sequencer}", """
        insert into sb_senders (sequencer, id, email, created_at)
        select $sequencer, $first - 1 + row_number() over (order by email), email, $now
        from new_senders""", sequencer, now)
    return added


def _insert_numbered(con: duckdb.DuckDBPyConnection, table: str, counter: str, insert: str,
                     sequencer: str, now: datetime) -> int:
    count = con.execute(f"select count(*) from {table}").fetchall()[0][0]
    if count:
        first = reserve(con, counter, count)
        con.execute(insert, {"sequencer": sequencer, "first": first, "now": now})
    return int(count)


def mirrored(state: SandboxState, sequencer: str) -> None:
    """Mirror now, in a transaction of its own (what a vendor route calls before a read)."""
    with state.transaction() as con:
        mirror(con, sequencer, state.now())


def person(state: SandboxState, sequencer: str, person_id: str) -> dict | None:
    """One person by the sequencer's id: email and the `unsubscribed` flag enroll checks."""
    if not str(person_id).isdigit():
        return None
    rows = state.rows(
        """select id, email, opted_out as unsubscribed, bounced from sb_people
           where sequencer = ? and id = ?""",
        [check_sequencer(sequencer), int(person_id)],
    )
    return rows[0] if rows else None
