"""What a sequencer of its own (Outreach, Salesloft, Apollo) records about its emails.

`record_sends` writes a `sent` row for every step `tick` sends at such a sequencer (a CRM
sequencer writes the CRM's engagement instead, sandbox/sequencer.py). `record_events`
takes what recipients do, as `POST /_sandbox/sequencer/events` receives it
(`[{sequencer, email, kind, at}]`, kind reply | bounce | unsubscribe, `at` default now),
and does what the sequencer does with it: the row answers the person's latest send at or
before `at`; a reply finishes the person's open enrollments there (reason `replied`), a
bounce stops them (paused, reason `bounced`) and flags the person bounced, an unsubscribe
finishes them (reason `opted_out`) and opts the person out, so later enrollments are
refused. Each vendor route serves these rows in its documented shape (Outreach mailings,
...), which is how seqguard reads them back as activity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from sandbox import people
from sandbox.ids import reserve
from sandbox.state import SandboxState, parse_time

KINDS = ("reply", "bounce", "unsubscribe")
# the enrollment state and reason each kind leaves open enrollments in
EFFECTS = {"reply": ("finished", "replied"), "bounce": ("paused", "bounced"),
           "unsubscribe": ("finished", "opted_out")}


def record_sends(con: duckdb.DuckDBPyConnection) -> None:
    """A `sent` row per step in the temp table `due` (tick's) of a sequencer of its own."""
    count = con.execute(
        "select count(*) from due where list_contains($s, crm)",
        {"s": list(people.SEQUENCERS)}).fetchall()[0][0]
    if not count:
        return
    first = reserve(con, "sb_activity", count)
    con.execute(
        """
        insert into sb_activity (id, sequencer, person_id, email, kind, enrollment_id,
                                 sequence_id, step, occurred_at, recorded_at)
        select $first - 1 + row_number() over (order by sent_at, id), crm,
               cast(contact_id as bigint), lower(email), 'sent', id, sequence_id, step,
               sent_at, sent_at
        from due where list_contains($s, crm)
        """,
        {"first": first, "s": list(people.SEQUENCERS)},
    )


def record_events(state: SandboxState, events: Any) -> list[dict]:
    """Record what recipients did and apply its effects; returns the rows recorded."""
    rows = [{**_checked(event, state.now()), "n": n} for n, event in enumerate(_as_list(events))]
    if not rows:
        return []
    now = state.now()
    with state.transaction() as con:
        for sequencer in {r["sequencer"] for r in rows}:
            people.mirror(con, sequencer, now)
        con.register("incoming", pa.Table.from_pylist(rows, schema=pa.schema([
            ("n", pa.int64()), ("sequencer", pa.string()), ("email", pa.string()),
            ("kind", pa.string()), ("at", pa.timestamp("us"))])))
        unknown = con.execute(
            """select i.sequencer, i.email from incoming i
               left join sb_people p on p.sequencer = i.sequencer and p.email = i.email
               where p.id is null order by i.n limit 1""").fetchall()
        if unknown:
            con.unregister("incoming")
            raise ValueError(f"/_sandbox/sequencer/events: {unknown[0][0]} has no person "
                             f"{unknown[0][1]}; the email must be a CRM contact's")
        first = reserve(con, "sb_activity", len(rows))
        recorded = con.execute(
            """
            insert into sb_activity (id, sequencer, person_id, email, kind, enrollment_id,
                                     sequence_id, step, sent_id, occurred_at, recorded_at)
            select $first + i.n, i.sequencer, p.id, p.email, i.kind, s.enrollment_id,
                   s.sequence_id, s.step, s.id, i.at, $now
            from incoming i
            join sb_people p on p.sequencer = i.sequencer and p.email = i.email
            left join lateral (
                select * from sb_activity a
                where a.sequencer = i.sequencer and a.person_id = p.id and a.kind = 'sent'
                  and a.occurred_at <= i.at
                order by a.occurred_at desc, a.id desc limit 1
            ) s on true
            returning *
            """,
            {"first": first, "now": now},
        ).fetchall()
        for kind, (to_state, reason) in EFFECTS.items():
            _apply(con, kind, to_state, reason, now)
        con.unregister("incoming")
    return state.rows("select * from sb_activity where id between ? and ? order by id",
                      [first, first + len(recorded) - 1])


def _apply(con: duckdb.DuckDBPyConnection, kind: str, to_state: str, reason: str,
           now: datetime) -> None:
    """One kind's effect on the people it names and on their open enrollments."""
    if kind == "unsubscribe":
        con.execute(
            """update sb_people p set opted_out = true, opted_out_at = i.at, updated_at = $now
               from incoming i where i.kind = 'unsubscribe' and p.sequencer = i.sequencer
                 and p.email = i.email and not p.opted_out""", {"now": now})
    if kind == "bounce":
        con.execute(
            """update sb_people p set bounced = true, bounced_at = i.at, updated_at = $now
               from incoming i where i.kind = 'bounce' and p.sequencer = i.sequencer
                 and p.email = i.email and not p.bounced""", {"now": now})
    con.execute(
        """
        update sb_enrollments e set state = $to_state, reason = $reason, updated_at = $now,
            next_step_at = null
        from incoming i, sb_people p
        where i.kind = $kind and p.sequencer = i.sequencer and p.email = i.email
          and e.crm = i.sequencer and e.contact_id = cast(p.id as varchar)
          and e.state in ('active', 'paused')
        """,
        {"kind": kind, "to_state": to_state, "reason": reason, "now": now},
    )


def _as_list(events: Any) -> list[Any]:
    if not isinstance(events, list):
        raise ValueError("/_sandbox/sequencer/events: send a JSON list of "
                         "{sequencer, email, kind, at?}")
    return events


def _checked(event: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise ValueError("/_sandbox/sequencer/events: each event is an object "
                         "{sequencer, email, kind, at?}")
    kind = event.get("kind")
    if kind not in KINDS:
        raise ValueError(f"/_sandbox/sequencer/events: kind {kind!r} is not one of "
                         f"{', '.join(KINDS)}")
    email = str(event.get("email") or "").strip().lower()
    if "@" not in email:
        raise ValueError("/_sandbox/sequencer/events: every event needs the recipient's email")
    at = parse_time(str(event["at"])) if event.get("at") else now
    return {"sequencer": people.check_sequencer(str(event.get("sequencer"))),
            "email": email, "kind": kind, "at": at}
