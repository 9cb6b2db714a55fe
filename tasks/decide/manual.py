"""Manual actions: enroll, unenroll (one person, or everyone a CSV names); recover is
tasks/decide/recover.py.

They are the cycle's own code: a manual enrollment is a request decided by the same SQL
(exclusions apply, no override), a manual unenroll writes the same outbox rows and
events (with the user as actor), and both are then posted by the same poster. Each
action gets its own id (`manual:<kind>:<actor>:<time>`), used as the run id of its rows.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv

from tasks.core.config import Config
from tasks.core.errors import SeqguardError, SequencerRejected
from tasks.core.user_files import decode
from tasks.db import sql
from tasks.db.arrow import load_table
from tasks.db.store import connect, publish_reader_copy, transaction
from tasks.decide import decide
from tasks.decide.decide import latest_evaluated_run
from tasks.decide.requests import request_table
from tasks.post.poster import post_pending

CSV_COLUMNS = {"email": "email", "company_domain": "company_domain", "domain": "company_domain"}
MAX_LISTED = 20  # bad rows named in one error line
NO_RUN = ""  # a run id no rule results have: empty matches and scopes
PEOPLE_SCHEMA = pa.schema([("email", pa.string())])  # d_people: whom an unenroll concerns


class ManualActionError(SeqguardError):
    """A manual action's input is wrong: unknown person or sequence, or a bad CSV."""


class EnrollmentBlocked(SeqguardError):
    """A manual enrollment that rules or constraints stop; names each and its scope."""


@dataclass
class ManualResult:
    """What a manual action decided and, once posted, what the sequencer said."""

    action_id: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def user_actor(name: str | None = None) -> str:
    """`user:<name>` from --actor, else $USER."""
    return f"user:{name or os.environ.get('USER') or 'unknown'}"


def action_id(kind: str, actor: str, now: datetime) -> str:
    """A manual action's run id; the same action at the same time makes the same ids,
    so repeating it adds no second outbox row."""
    return f"manual:{kind}:{actor.removeprefix('user:')}:{now.isoformat(timespec='seconds')}"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def resolve_sequence(con: duckdb.DuckDBPyConnection, sequencer: str, sequence: str) -> str:
    """The sequencer's id of a sequence given by id or name; unknown -> ManualActionError
    listing the known ones."""
    found = sql.scalar(con, "decide/resolve_sequence", sequencer=sequencer, sequence=sequence)
    if found:
        return str(found)
    known = [f"{r[1]} ({r[0]})" for r in sql.fetch(con, "decide/known_sequences",
                                                    sequencer=sequencer)]
    raise ManualActionError(
        f"unknown sequence '{sequence}' at the {sequencer} sequencer; use an id or name it has"
        + (f": {', '.join(known)}" if known else " (none read yet: run `seqguard cycle` first)")
    )


def check_person(con: duckdb.DuckDBPyConnection, email: str, *, enrolled_ok: bool) -> None:
    """Unknown email -> ManualActionError. An unenroll also accepts someone only the
    sequencer knows (`enrolled_ok`)."""
    known = _count(con, "select count(*) from crm.people where email = ?", email)
    if not known and enrolled_ok:
        known = _count(con, "select count(*) from ops.enrollments where email = ?", email)
    if not known:
        raise ManualActionError(
            f"unknown email {email}: not in the CRMs" + (" or any sequence" if enrolled_ok else "")
            + "; check the spelling, or run `seqguard cycle` to sync new contacts")


def _count(con: duckdb.DuckDBPyConnection, query: str, value: str) -> int:
    return int(con.execute(query, [value]).fetchall()[0][0])


def decision_run(con: duckdb.DuckDBPyConnection) -> str:
    """The latest run's rule results, which manual enrollments obey. None yet: refuse
    (fail closed) rather than enroll unchecked."""
    run = latest_evaluated_run(con)
    if run is None:
        raise EnrollmentBlocked("no rules have been evaluated on this database yet, so "
                                "nobody can be checked; run `seqguard cycle` first")
    return run


def blocked_message(email: str, sequence: str, outcome: dict[str, Any],
                    exclusions: list[dict[str, Any]]) -> str:
    """One line naming every rule (and its scope) or the constraint that stops it."""
    if exclusions:
        named = "; ".join(
            f"{x['rule']} ({x['scope']}{': ' + x['reason'] if x['reason'] else ''})"
            for x in exclusions)
        return (f"{email} cannot be enrolled in '{sequence}': excluded by {named}; "
                "manual enrollments obey the rules (fix the data or the rule, then retry)")
    hint = ("; pass --reenroll to enroll again" if "re-enrollment" in (outcome["reason"] or "")
            else "")
    return f"{email} cannot be enrolled in '{sequence}': {outcome['reason']}{hint}"


def sender_of(con: duckdb.DuckDBPyConnection, email: str, sender: str | None,
              config: Config | None, sequencer: str) -> str | None:
    """Who a manual enrollment sends from: --sender, else the person's owner in the CRM,
    else seqguard.yml's default_sender. HubSpot enrolls only on behalf of a connected
    inbox, so none there -> ManualActionError naming both ways to give one."""
    owner = sql.scalar(con, "decide/owner_of", email=email)
    chosen = sender or owner or (config.default_sender if config else None)
    if chosen is None and sequencer == "hubspot":
        raise ManualActionError(
            f"{email} has no owner in the CRM to send from, and HubSpot enrolls only on "
            "behalf of a user's connected inbox; pass --sender ADDR, or set default_sender "
            "in seqguard.yml")
    return chosen.strip().lower() if chosen else None


def enroll(db_path: str | Path, email: str, sequence: str, *, now: datetime, sequencer: str,
           actor: str, config: Config | None = None, reenroll: bool = False,
           sender: str | None = None, post: bool = True) -> ManualResult:
    """Enroll one person by hand: decided like a play item (rules, one open sequence,
    no second time in a sequence unless `reenroll`), written to the outbox, posted,
    from `sender` (default: their owner, then default_sender). Blocked ->
    EnrollmentBlocked naming the rules and scopes; refused by the sequencer ->
    SequencerRejected."""
    email = normalize_email(email)
    run_id = action_id("enroll", actor, now)
    with connect(db_path) as con:
        sequence_id = resolve_sequence(con, sequencer, sequence)
        check_person(con, email, enrolled_ok=False)
        match_run = decision_run(con)
        request = request_table([{
            "request_id": 1, "source": "manual", "email": email, "sequence_id": sequence_id,
            "crm": sequencer, "sender": sender_of(con, email, sender, config, sequencer),
            "allow_reenrollment": reenroll, "rank_at": now,
            "actor": actor, "note": f"manual enroll by {actor.removeprefix('user:')}",
        }])
        decide.decide_on(con, run_id, now, request, match_run=match_run, sequencer=sequencer,
                         with_unenrolls=False)
        outcome = decide.outcomes_of(con)[0]
        exclusions = decide.exclusions_of(con)
    if outcome["outcome"] != "enroll":
        raise EnrollmentBlocked(blocked_message(email, sequence, outcome, exclusions))
    result = ManualResult(action_id=run_id)
    return finish(db_path, result, config, now, post)


def write_unenrolls(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, *,
                    sequencer: str, sequence_id: str | None, actor: str,
                    reason: str) -> tuple[int, int]:
    """Unenroll every open enrollment of the people in temp table d_people (one
    transaction, the cycle's writers); returns (unenrolls written, pending enrollments
    cancelled)."""
    with transaction(con):
        # no requests and no rule results: the decision tables exist but are empty
        decide.prepare(con, NO_RUN, request_table([]), sequencer)
        decide.compute(con, with_unenrolls=False)
        sql.materialize(con, "d_unenroll", "decide/manual_unenroll", sequencer=sequencer,
                        sequence_id=sequence_id, actor=actor, reason=reason)
        cancelled = sql.scalar(con, "decide/manual_cancel", sequencer=sequencer,
                               sequence_id=sequence_id, reason=reason)
        written = decide.record(con, run_id, now, dry_run=False)
    return written, int(cancelled)


def on_their_way(con: duckdb.DuckDBPyConnection, sequencer: str, sequence_id: str | None) -> int:
    """Unenrolls of the people in d_people already in the outbox, not yet confirmed."""
    return int(sql.scalar(con, "decide/on_their_way", sequencer=sequencer,
                          sequence_id=sequence_id))


def nothing_done(con: duckdb.DuckDBPyConnection, result: ManualResult, sequencer: str,
                 sequence_id: str | None, written: int, cancelled: int, nobody: str) -> None:
    """Explain an unenroll that changed nothing: on its way already (fine), or nobody
    enrolled (ManualActionError)."""
    if cancelled:
        result.messages.append(f"{cancelled} enrollment(s) not yet posted were cancelled")
    if written or cancelled:
        return
    waiting = on_their_way(con, sequencer, sequence_id)
    if not waiting:
        raise ManualActionError(nobody)
    result.messages.append(f"{waiting} unenroll(s) already on their way; nothing new written")


def unenroll(db_path: str | Path, email: str, sequence: str | None = None, *, now: datetime,
             sequencer: str, actor: str, config: Config | None = None,
             post: bool = True) -> ManualResult:
    """Unenroll one person from one sequence or all (final: only a new enrollment brings
    them back), recorded with the actor, then posted."""
    email = normalize_email(email)
    run_id = action_id("unenroll", actor, now)
    reason = f"manual unenroll by {actor.removeprefix('user:')}"
    result = ManualResult(action_id=run_id)
    with connect(db_path) as con:
        sequence_id = resolve_sequence(con, sequencer, sequence) if sequence else None
        check_person(con, email, enrolled_ok=True)
        load_table(con, "d_people", pa.table({"email": [email]}), PEOPLE_SCHEMA)
        written, cancelled = write_unenrolls(con, run_id, now, sequencer=sequencer,
                                             sequence_id=sequence_id, actor=actor, reason=reason)
        where = f"'{sequence}'" if sequence else "any sequence"
        nothing_done(con, result, sequencer, sequence_id, written, cancelled,
                     f"{email} is not enrolled in {where}; nothing to unenroll")
    return finish(db_path, result, config, now, post)


def read_csv_rows(path: Path) -> tuple[pa.Table, list[tuple[int, str]]]:
    """An unenroll CSV as (line, email, company_domain) strings, and the malformed lines.

    No usable column -> ManualActionError naming the columns found.
    """
    if not path.is_file():
        raise ManualActionError(f"{path}: no such file; give the path of a CSV with an email "
                                "and/or company_domain column")
    malformed: list[tuple[int, str]] = []  # (index among non-blank lines, message)

    def on_bad_row(row: Any) -> str:
        malformed.append((row.number or 0, f"has {row.actual_columns} fields, the header "
                                           f"{row.expected_columns}"))
        return "skip"

    # checked as every user file is (UTF-8, or the line and byte offset named); the CSV
    # reader would take other bytes as binary
    text = decode(path.read_bytes(), str(path))
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode()),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_bad_row),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True,
                                                  auto_dict_encode=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        # the reader's message quotes the row it choked on: a file's content is never printed
        raise ManualActionError(f"{path}: not a readable CSV (a quote left open, or a row "
                                "the reader cannot split); save it as UTF-8 comma-separated "
                                "text with a header row") from exc
    usable = {CSV_COLUMNS[c.strip().lower()]: c for c in table.column_names
              if c.strip().lower() in CSV_COLUMNS}
    if not usable:
        raise ManualActionError(
            f"{path}: no usable column among its {len(table.column_names)}; the header "
            "needs email and/or company_domain")
    n = table.num_rows
    columns = {
        name: (table.column(usable[name]).cast(pa.string()) if name in usable
               else pa.nulls(n, pa.string()))
        for name in ("email", "company_domain")
    }
    # the reader numbers rows by non-blank line; map them back to the file's lines
    nonblank = nonblank_lines(path)
    skipped = {number for number, _ in malformed}
    lines = [line for index, line in enumerate(nonblank, start=1)
             if index > 1 and index not in skipped]
    lines = (lines + [0] * n)[:n]
    bad = [(nonblank[number - 1] if 0 < number <= len(nonblank) else 0, message)
           for number, message in malformed]
    return pa.table({"line": pa.array(lines, pa.int64()), **columns}), bad


def nonblank_lines(path: Path) -> list[int]:
    """The file line numbers of the non-blank lines (the CSV reader skips blank ones)."""
    with path.open(errors="replace") as handle:
        return [number for number, text in enumerate(handle, start=1) if text.strip()]


def unenroll_csv(db_path: str | Path, csv_path: str | Path, sequence: str, *, now: datetime,
                 sequencer: str, actor: str, config: Config | None = None,
                 skip_bad_rows: bool = False, post: bool = True) -> ManualResult:
    """Unenroll from one sequence everyone a CSV names: emails, and everyone at the
    companies its company_domain column names (any of their domains or aliases).

    Bad rows are each named with their line; without `skip_bad_rows` nothing is applied.
    """
    path = Path(csv_path)
    run_id = action_id("unenroll-csv", actor, now)
    reason = f"manual unenroll by {actor.removeprefix('user:')} (list {path.name})"
    table, malformed = read_csv_rows(path)
    result = ManualResult(action_id=run_id)
    with connect(db_path) as con:
        sequence_id = resolve_sequence(con, sequencer, sequence)
        load_table(con, "d_csv", table, table.schema)
        sql.materialize(con, "d_csv_rows", "decide/csv_rows")
        bad = [f"line {line or '?'}: {problem}" for line, problem in sorted(con.execute(
            "select line, problem from d_csv_rows where problem is not null"
        ).fetchall() + malformed)]
        if bad and not skip_bad_rows:
            raise ManualActionError(bad_rows_message(path, bad, applied=False))
        if bad:
            result.messages.append(bad_rows_message(path, bad, applied=True))
        sql.materialize(con, "d_people", "decide/csv_people")
        written, cancelled = write_unenrolls(con, run_id, now, sequencer=sequencer,
                                             sequence_id=sequence_id, actor=actor, reason=reason)
        nothing_done(con, result, sequencer, sequence_id, written, cancelled,
                     f"{path}: nobody it names is enrolled in '{sequence}'; nothing to unenroll")
    return finish(db_path, result, config, now, post)


def bad_rows_message(path: Path, bad: list[str], *, applied: bool) -> str:
    listed = "; ".join(bad[:MAX_LISTED]) + (f"; and {len(bad) - MAX_LISTED} more"
                                            if len(bad) > MAX_LISTED else "")
    if applied:
        return f"{path}: skipped {len(bad)} bad row(s): {listed}"
    return (f"{path}: {len(bad)} bad row(s): {listed}; fix them, or pass --skip-bad-rows "
            "to apply the good rows only")


def finish(db_path: str | Path, result: ManualResult, config: Config | None, now: datetime,
           post: bool) -> ManualResult:
    """Post the action's outbox rows with the cycle's poster, then report each row; a
    refusal by the sequencer raises SequencerRejected."""
    if post:
        if config is None:
            raise ManualActionError("no sequencer configured to post to; pass --sandbox URL "
                                    "or create seqguard.yml")
        post_pending(db_path, config, now, run_id=result.action_id)
    with connect(db_path) as con:
        result.changes = sql.dicts(con, "decide/action_changes", action_id=result.action_id)
    publish_reader_copy(db_path)  # readers (history, explain) see the action at once
    rejected = [c for c in result.changes if c["status"] in ("rejected", "failed")
                and not (c["error"] or "").startswith("cancelled")]
    if post and rejected:
        first = rejected[0]
        raise SequencerRejected(
            f"the sequencer refused to {first['kind']} {first['email']} in "
            f"{first['sequence_id']}: {first['error']}"
            + (f" (and {len(rejected) - 1} more; see ops.outbox run {result.action_id})"
               if len(rejected) > 1 else ""))
    return result
