"""What a RevOps user does by hand, as flows with parameters the Prefect UI shows.

Each calls the same functions as the CLI (tasks/decide/manual.py), so exclusions apply exactly
as in the cycle: no override. Each logs what it did and leaves a report artifact.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from tasks.core.clock import utcnow
from tasks.core.config import resolve_config
from tasks.decide import manual, recover
from tasks.run import report
from tasks.steps import as_dict


@flow(name="seqguard-enroll", log_prints=True, validate_parameters=True)
def enroll_person(
    email: str,
    sequence: str,
    actor: str,
    sender: str | None = None,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """Enroll one person in a sequence; refused, naming the rules, when any exclusion applies.

    Args:
        email: the person's email address
        sequence: the sequence's id or name at the sequencer
        actor: who is acting (recorded with the change)
        sender: the inbox to send from (default: the contact's owner, then default_sender)
        db: the DuckDB file of this account
        project: the folder holding sql/ and seqguard.yml
        sandbox_url: the local sandbox's URL, instead of the CRMs in seqguard.yml
        sandbox_cert: the sandbox's certificate (default data/sandbox/cert.pem)
    """
    config = resolve_config(project, sandbox_url, sandbox_cert)
    result = manual.enroll(db, email, sequence, now=utcnow(), sequencer=config.sequencer,
                           actor=manual.user_actor(actor), config=config, sender=sender)
    report.publish_action("manual-enroll", f"Enroll {email} in {sequence}", result.changes,
                          result.messages)
    return as_dict(result)


@flow(name="seqguard-unenroll", log_prints=True, validate_parameters=True)
def unenroll_people(
    actor: str,
    email: str | None = None,
    sequence: str | None = None,
    csv_path: str | None = None,
    skip_bad_rows: bool = False,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """Unenroll one person, or everyone a CSV names, by hand. Final: only a new enrollment
    brings them back.

    Args:
        actor: who is acting (recorded with the change)
        email: the person (or give csv_path)
        sequence: the sequence's id or name (default for one person: every sequence; a CSV
            needs one)
        csv_path: a CSV file with email and/or company_domain columns (everyone at those
            companies, aliases included)
        skip_bad_rows: apply the good rows of a CSV that has bad ones
        db: the DuckDB file of this account
        project: the folder holding sql/ and seqguard.yml
        sandbox_url: the local sandbox's URL, instead of the CRMs in seqguard.yml
        sandbox_cert: the sandbox's certificate (default data/sandbox/cert.pem)
    """
    config = resolve_config(project, sandbox_url, sandbox_cert)
    common = {"now": utcnow(), "sequencer": config.sequencer,
              "actor": manual.user_actor(actor), "config": config}
    if csv_path:
        if not sequence:
            raise manual.ManualActionError("a CSV unenroll needs the sequence to remove "
                                           "people from")
        result = manual.unenroll_csv(db, csv_path, sequence, skip_bad_rows=skip_bad_rows,
                                     **common)
    elif email:
        result = manual.unenroll(db, email, sequence, **common)
    else:
        raise manual.ManualActionError("give an email, or a csv_path with a sequence")
    report.publish_action("manual-unenroll", f"Unenroll {email or csv_path}"
                          + (f" from {sequence}" if sequence else ""),
                          result.changes, result.messages)
    return as_dict(result)


@flow(name="seqguard-recover", log_prints=True, validate_parameters=True)
def recover_removals(
    rule: str,
    since: datetime,
    actor: str,
    apply: bool = False,
    sender: str | None = None,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """Plan (and with `apply`, make) the re-enrollment of the people a rule wrongly removed.

    Args:
        rule: the rule whose removals are undone
        since: removals from this time on (ISO 8601)
        actor: who is acting (recorded with the changes)
        apply: re-enroll now (off: the plan only)
        sender: the inbox to send from (default: each contact's owner, then default_sender)
        db: the DuckDB file of this account
        project: the folder holding sql/ and seqguard.yml
        sandbox_url: the local sandbox's URL, instead of the CRMs in seqguard.yml
        sandbox_cert: the sandbox's certificate (default data/sandbox/cert.pem)
    """
    config = resolve_config(project, sandbox_url, sandbox_cert)
    plan = recover.recover(db, rule, since, now=utcnow(), sequencer=config.sequencer,
                           actor=manual.user_actor(actor), config=config, apply=apply,
                           sender=sender)
    report.publish_recover(plan)
    return as_dict(plan)
