"""The sandbox sequencer: HubSpot Sequences, Salesforce cadences, Outreach, Salesloft and
Apollo share it.

Enrollments advance on the sandbox clock: `tick` sends every step that has come due,
records it in sb_sent, and writes what the real tool records of it (a HubSpot email
carrying hs_sequence_id, a Salesforce Task of TaskSubtype 'Cadence', or at a sequencer of
its own a `sent` row of its activity, sandbox/activity.py), so a test can always ask "was a
step sent to someone who was excluded?". An enrollment's `crm` names the sequencer; at
Outreach, Salesloft and Apollo its contact is the sequencer's own person (sandbox/people.py).
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pyarrow as pa

from sandbox import activity, hubspot_workflow, people
from sandbox.hubspot_common import iso_sql
from sandbox.ids import SALESFORCE_PREFIX, reserve, salesforce_id_sql
from sandbox.state import SandboxState

OPEN_STATES = ("active", "paused")


class EnrollmentRefused(Exception):
    """The sequencer refused an enrollment or change; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def define_sequences(state: SandboxState, sequences: list[dict]) -> None:
    """Create or replace sequences: `[{id, name, steps: [{after_minutes}]}]`."""
    with state.transaction() as con:
        for seq in sequences:
            steps = [{"after_minutes": int(s["after_minutes"])} for s in seq.get("steps", [])]
            con.execute(
                """
                insert into sb_sequences values (?, ?, ?, ?)
                on conflict (id) do update set name = excluded.name, steps = excluded.steps
                """,
                [str(seq["id"]), seq["name"], json.dumps(steps), state.now()],
            )


def list_sequences(state: SandboxState) -> list[dict]:
    rows = state.rows("select id, name, steps, created_at from sb_sequences order by id")
    for row in rows:
        row["steps"] = json.loads(row["steps"])
    return rows


def find_sequence(state: SandboxState, id_or_name: str) -> dict:
    """A sequence by id, or else by exact name."""
    rows = state.rows(
        "select id, name, steps from sb_sequences where id = ? or name = ? order by id = ? desc",
        [str(id_or_name), str(id_or_name), str(id_or_name)],
    )
    if not rows:
        raise EnrollmentRefused("SEQUENCE_NOT_FOUND", f"Sequence {id_or_name} does not exist")
    rows[0]["steps"] = json.loads(rows[0]["steps"])
    return rows[0]


def _contact(state: SandboxState, crm: str, contact_id: str) -> dict:
    """The contact's email and unsubscribe flag, from the CRM that owns it (or, at a
    sequencer of its own, from its person)."""
    if crm in people.SEQUENCERS:
        found = people.person(state, crm, contact_id)
        if found is None:
            raise EnrollmentRefused("CONTACT_NOT_FOUND", f"Person {contact_id} does not exist")
        return found
    if crm == "hubspot":
        sql = """select email, coalesce(hs_email_optout, 'false') = 'true' as unsubscribed
                 from hs_contacts where cast(id as varchar) = ? and not archived"""
    else:
        sql = """select Email as email, coalesce(HasOptedOutOfEmail, false) as unsubscribed
                 from sf_contact where Id = ? and not IsDeleted
                 union all
                 select Email, coalesce(HasOptedOutOfEmail, false)
                 from sf_lead where Id = ? and not IsDeleted"""
    params = [contact_id] if crm == "hubspot" else [contact_id, contact_id]
    rows = state.rows(sql, params)
    if not rows:
        raise EnrollmentRefused("CONTACT_NOT_FOUND", f"Contact {contact_id} does not exist")
    return rows[0]


def enroll(
    state: SandboxState,
    *,
    crm: str,
    contact_id: str,
    sequence_id: str,
    sender: str | None,
    start_step: int | None = None,
    enrolled_by: str | None = None,
) -> dict:
    """Enroll one contact, refusing as the real tools do (one open sequence, no opt-outs).
    `enrolled_by` is the HubSpot user the enrollment is made for (`userId`).

    `start_step` (1-based, Salesforce's `startStepNameOrId`) starts mid-sequence, as a
    recovery does: the steps before it count as sent, and that step is due its own
    `after_minutes` from now. A step the sequence does not have is refused.
    """
    with state.lock:
        sequence = find_sequence(state, sequence_id)
        completed = _steps_completed_before(sequence, start_step)
        contact = _contact(state, crm, str(contact_id))
        if contact["unsubscribed"]:
            raise EnrollmentRefused(
                "CONTACT_UNSUBSCRIBED", f"Contact {contact_id} has unsubscribed from email"
            )
        open_rows = state.rows(
            "select sequence_id from sb_enrollments where crm = ? and contact_id = ? "
            "and state in ('active', 'paused')",
            [crm, str(contact_id)],
        )
        if open_rows:
            raise EnrollmentRefused(
                "ALREADY_ENROLLED",
                f"Contact {contact_id} is already enrolled in sequence "
                f"{open_rows[0]['sequence_id']}",
            )
        now = state.now()
        steps = sequence["steps"]
        next_delay = steps[completed]["after_minutes"] if completed < len(steps) else None
        with state.transaction() as con:
            enrollment_id = reserve(con, "sb_enrollments", 1)
            con.execute(
                """
                insert into sb_enrollments (id, crm, contact_id, email, sequence_id, state, step,
                    sender, enrolled_by, enrolled_at, updated_at, next_step_at)
                values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ? + to_minutes(cast(? as bigint)))
                """,
                [
                    enrollment_id,
                    crm,
                    str(contact_id),
                    contact["email"],
                    sequence["id"],
                    "active" if next_delay is not None else "finished",
                    completed,
                    sender,
                    enrolled_by,
                    now,
                    now,
                    now,
                    next_delay,
                ],
            )
            if crm == "hubspot":
                refresh_contact_flags(con, now)
        return state.rows("select * from sb_enrollments where id = ?", [enrollment_id])[0]


def enroll_many(state: SandboxState, *, crm: str, contact_ids: list[str], sequence_id: str,
                sender: str | None) -> list[str]:
    """`enroll` for many people of a sequencer of its own at once (Apollo adds up to 100
    a call), in one statement: the people `enroll` would accept are enrolled at step 1,
    the others (unknown, unsubscribed, open in a sequence) skipped. Returns the contact
    ids enrolled."""
    people.check_sequencer(crm)
    with state.lock:
        sequence = find_sequence(state, sequence_id)
        steps = sequence["steps"]
        now = state.now()
        with state.transaction() as con:
            con.register("wanted", pa.table({"contact_id": pa.array(contact_ids, pa.string()),
                                             "n": pa.array(range(len(contact_ids)))}))
            chosen = [r[0] for r in con.execute(
                """
                select w.contact_id from wanted w
                join sb_people p on p.sequencer = $crm and cast(p.id as varchar) = w.contact_id
                where not p.opted_out and not exists (
                    select 1 from sb_enrollments e where e.crm = $crm
                      and e.contact_id = w.contact_id and e.state in ('active', 'paused'))
                qualify row_number() over (partition by w.contact_id order by w.n) = 1
                order by w.n
                """, {"crm": crm}).fetchall()]
            con.unregister("wanted")
            if chosen:
                first = reserve(con, "sb_enrollments", len(chosen))
                con.execute(
                    """
                    insert into sb_enrollments (id, crm, contact_id, email, sequence_id, state,
                        step, sender, enrolled_at, updated_at, next_step_at)
                    select $first + c.n, $crm, c.contact_id, p.email, $sequence,
                           case when $delay is null then 'finished' else 'active' end, 0,
                           $sender, $now, $now, $now + to_minutes(cast($delay as bigint))
                    from (select unnest($chosen) as contact_id,
                                 generate_subscripts($chosen, 1) - 1 as n) c
                    join sb_people p on p.sequencer = $crm and cast(p.id as varchar) = c.contact_id
                    """,
                    {"first": first, "crm": crm, "sequence": sequence["id"], "sender": sender,
                     "now": now, "chosen": chosen,
                     "delay": steps[0]["after_minutes"] if steps else None})
    return chosen


def _steps_completed_before(sequence: dict, start_step: int | None) -> int:
    """How many steps an enrollment starting at `start_step` has behind it (0 from the
    start); a step outside 1..len(steps) is refused with the range the sequence has."""
    if start_step is None:
        return 0
    count = len(sequence["steps"])
    if not 1 <= start_step <= count:
        have = f"steps 1 to {count}" if count else "no steps"
        raise EnrollmentRefused(
            "STEP_NOT_FOUND",
            f"Sequence {sequence['id']} has no step {start_step} (it has {have})",
        )
    return start_step - 1


def change_state(
    state: SandboxState,
    *,
    crm: str,
    contact_id: str,
    sequence_id: str | None,
    to_state: str,
    reason: str | None,
) -> list[dict]:
    """Unenroll, pause or resume a contact's open enrollments (one sequence or all)."""
    targets = [{"contact_id": str(contact_id), "sequence_id": sequence_id, "reason": reason}]
    return change_states(state, crm=crm, targets=targets, to_state=to_state)


def change_states(
    state: SandboxState, *, crm: str, targets: list[dict], to_state: str
) -> list[dict]:
    """`change_state` for many contacts in one statement: targets are
    `{contact_id, sequence_id (id, name or None = all), reason}`."""
    if not targets:
        return []
    with state.transaction() as con:
        ids = apply_state_changes(con, crm=crm, targets=targets, to_state=to_state,
                                  now=state.now())
    if not ids:
        return []
    return state.rows("select * from sb_enrollments where id in (select unnest(?))", [ids])


def apply_state_changes(con: duckdb.DuckDBPyConnection, *, crm: str, targets: list[dict],
                        to_state: str, now: datetime) -> list[int]:
    """`change_states` inside the caller's transaction, at time `now`; returns the ids of
    the enrollments changed (HubSpot's calculated contact properties follow)."""
    if to_state not in ("unenrolled", "paused", "active"):
        raise ValueError(f"unknown enrollment state {to_state}")
    if not targets:
        return []
    from_states = ["paused"] if to_state == "active" else ["active", "paused"]
    wanted = pa.table(
        {
            "contact_id": pa.array([str(t["contact_id"]) for t in targets], pa.string()),
            "sequence_key": pa.array([t.get("sequence_id") for t in targets], pa.string()),
            "reason": pa.array([t.get("reason") for t in targets], pa.string()),
        }
    )
    con.register("wanted_changes", wanted)
    # a resumed enrollment sends its next step one step-delay from now
    changed = con.execute(
        """
        update sb_enrollments e set state = $to_state,
            reason = coalesce(w.reason, e.reason), updated_at = $now,
            next_step_at = case when $to_state = 'active' then $now + to_minutes(cast(
                json_extract(s.steps, '$[' || e.step || '].after_minutes') as bigint))
                else null end
        from sb_sequences s, wanted_changes w
        where s.id = e.sequence_id and e.crm = $crm and e.contact_id = w.contact_id
          and (w.sequence_key is null or w.sequence_key in (e.sequence_id, s.name))
          and list_contains($from_states, e.state)
        returning e.id
        """,
        {"to_state": to_state, "now": now, "crm": crm, "from_states": from_states},
    ).fetchall()
    con.unregister("wanted_changes")
    ids = [r[0] for r in changed]
    if ids and crm == "hubspot":
        refresh_contact_flags(con, now)
    return ids


def enrollments_of(state: SandboxState, *, crm: str, contact_id: str) -> list[dict]:
    return state.rows(
        """select e.*, s.name as sequence_name from sb_enrollments e
           join sb_sequences s on s.id = e.sequence_id
           where e.crm = ? and e.contact_id = ? order by e.id""",
        [crm, str(contact_id)],
    )


def follow_wall_clock(state: SandboxState) -> int:
    """When nobody set the clock, send what is due by the wall clock (at most once a second),
    so a sandbox left running behaves like a live sequencer."""
    if state.clock_is_set() or not state.tick_due():
        return 0
    return tick(state)


def tick(state: SandboxState) -> int:
    """Send every step due by the sandbox clock and run the HubSpot unenroll workflow runs
    that came due, in time order (a run due at 10:05 stops the step due at 10:06, not the
    one due at 10:04); returns how many steps were sent."""
    now = state.now()
    with state.transaction() as con:
        sent = 0
        for due in hubspot_workflow.due_times(con, now):
            sent += _send_due(con, due)
            apply_state_changes(con, crm="hubspot", targets=hubspot_workflow.take_due(con, due),
                                to_state="unenrolled", now=due)
        return sent + _send_due(con, now)


def _send_due(con: duckdb.DuckDBPyConnection, until: datetime) -> int:
    """Send every step due by `until`, each at its own due time."""
    sent_total = 0
    # one pass per step level: each pass sends at most one step per enrollment
    while True:
        con.execute(
            """
            create or replace temp table due as
            select e.id, e.crm, e.contact_id, e.email, e.sequence_id, e.sender,
                   e.step + 1 as step, e.next_step_at as sent_at,
                   json_array_length(s.steps) as step_count,
                   cast(json_extract(s.steps, '$[' || (e.step + 1) || '].after_minutes')
                        as bigint) as next_delay,
                   s.name as sequence_name
            from sb_enrollments e join sb_sequences s on s.id = e.sequence_id
            where e.state = 'active' and e.next_step_at <= ?
            """,
            [until],
        )
        count = con.execute("select count(*) from due").fetchone()[0]
        if count == 0:
            break
        sent_total += count
        _record_sends(con)
        con.execute(
            """
            update sb_enrollments e set step = d.step, updated_at = d.sent_at,
                state = case when d.step >= d.step_count then 'finished' else 'active' end,
                next_step_at = case when d.step >= d.step_count then null
                                    else d.sent_at + to_minutes(d.next_delay) end
            from due d where d.id = e.id
            """
        )
    if sent_total:
        refresh_contact_flags(con, until)
    return sent_total


def refresh_contact_flags(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Keep HubSpot's calculated sequence properties of the contacts in step with their
    enrollments, as HubSpot calculates them: in a sequence now, how many (open and ever),
    the latest enrolled (sequence id, date), and the latest unenrolled, finished and ended
    dates. Like HubSpot, a change moves the contact's last-modified time, so an
    incremental sync sees who entered or left a sequence.
    """
    con.execute(
        f"""
        with flags as (
            select cast(contact_id as bigint) as id,
                   case when bool_or(state in ('active', 'paused')) then 'true' else 'false'
                   end as enrolled,
                   cast(count(*) filter (where state in ('active', 'paused')) as varchar)
                       as open_count,
                   cast(count(*) as varchar) as enrolled_count,
                   arg_max(sequence_id, (enrolled_at, id)) as latest,
                   {iso_sql('max(enrolled_at)')} as latest_at,
                   {iso_sql("max(updated_at) filter (where state = 'unenrolled')")}
                       as unenrolled_at,
                   {iso_sql("max(updated_at) filter (where state = 'finished')")}
                       as finished_at,
                   {iso_sql("max(updated_at) filter (where state in ('unenrolled', 'finished'))")}
                       as ended_at
            from sb_enrollments where crm = 'hubspot' group by contact_id
        )
        update hs_contacts c set hs_sequences_is_enrolled = f.enrolled,
            hs_sequences_actively_enrolled_count = f.open_count,
            hs_sequences_enrolled_count = f.enrolled_count,
            hs_latest_sequence_enrolled = f.latest,
            hs_latest_sequence_enrolled_date = f.latest_at,
            hs_latest_sequence_unenrolled_date = f.unenrolled_at,
            hs_latest_sequence_finished_date = f.finished_at,
            hs_latest_sequence_ended_date = f.ended_at, updated_at = ?
        from flags f
        where f.id = c.id and (c.hs_sequences_is_enrolled is distinct from f.enrolled
            or c.hs_sequences_actively_enrolled_count is distinct from f.open_count
            or c.hs_sequences_enrolled_count is distinct from f.enrolled_count
            or c.hs_latest_sequence_enrolled is distinct from f.latest
            or c.hs_latest_sequence_enrolled_date is distinct from f.latest_at
            or c.hs_latest_sequence_unenrolled_date is distinct from f.unenrolled_at
            or c.hs_latest_sequence_finished_date is distinct from f.finished_at)
        """,
        [now],
    )


def _record_sends(con: duckdb.DuckDBPyConnection) -> None:
    """Write the sent steps and what each sequencer records of them: the CRMs'
    engagements, or a sequencer's own activity."""
    con.execute("insert into sb_sent select id, email, sequence_id, step, sent_at from due")
    hubspot_count = con.execute("select count(*) from due where crm = 'hubspot'").fetchone()[0]
    if hubspot_count:
        first = reserve(con, "hs_emails", hubspot_count)
        con.execute(
            """
            create or replace temp table due_hs as
            select ? - 1 + row_number() over (order by id) as email_id, * from due
            where crm = 'hubspot'
            """,
            [first],
        )
        con.execute(
            """
            insert into hs_emails (id, created_at, updated_at, hs_timestamp, hs_email_direction,
                hs_email_from_email, hs_email_to_email, hs_email_subject, hs_email_status,
                hs_sequence_id)
            select email_id, sent_at, sent_at, strftime(sent_at, '%Y-%m-%dT%H:%M:%S.%gZ'),
                   'EMAIL', sender, email, sequence_name || ' (step ' || step || ')', 'SENT',
                   sequence_id
            from due_hs
            """
        )
        con.execute(
            """
            insert into hs_associations (from_type, from_id, to_type, to_id)
            select 'emails', email_id, 'contacts', cast(contact_id as bigint) from due_hs
            """
        )
    salesforce_count = con.execute(
        "select count(*) from due where crm = 'salesforce'").fetchone()[0]
    if salesforce_count:
        first = reserve(con, "Task", salesforce_count)
        task_id = salesforce_id_sql(
            f"'{SALESFORCE_PREFIX['Task']}'", f"{first} - 1 + row_number() over (order by id)"
        )
        # Task has no cadence field: 'Cadence' is the subtype "used by Sales Engagement"
        # that nobody can set by hand (Task in the Object Reference,
        # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm);
        # which cadence sent it is the target's ActionCadenceTracker of the time
        con.execute(
            f"""
            insert into sf_task (Id, CreatedDate, LastModifiedDate, SystemModstamp, Subject,
                WhoId, Status, TaskSubtype, Type, ActivityDate, CompletedDateTime)
            select {task_id}, sent_at, sent_at, sent_at,
                   'Email: ' || sequence_name || ' (step ' || step || ')', contact_id,
                   'Completed', 'Cadence', 'Email', cast(sent_at as date), sent_at
            from due where crm = 'salesforce'
            """
        )
    activity.record_sends(con)
