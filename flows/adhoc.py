"""What a RevOps user does by hand, as flows with parameters the Prefect UI shows.

Each calls the same functions as the CLI (tasks/decide/manual.py), so exclusions apply exactly
as in the cycle: no override.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from tasks.core.clock import utcnow
from tasks.core.config import resolve_config
from tasks.decide import manual, recover
from tasks.steps import as_dict


@flow(name="seqguard-enroll", log_prints=True, validate_parameters=True)
def enroll_person(
    email: str,
    sequence: str,
    actor: str,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """Enroll one person in a sequence (id or name); refused, naming the rules, when any
    exclusion applies."""
    config = resolve_config(project, sandbox_url, sandbox_cert)
    return as_dict(
        manual.enroll(
            db,
            email,
            sequence,
            now=utcnow(),
            sequencer=config.sequencer,
            actor=manual.user_actor(actor),
            config=config,
        )
    )


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
    """Unenroll one person (from `sequence`, or from all), or everyone a CSV of emails and
    company domains names (with `sequence`). Final: they must be enrolled again."""
    config = resolve_config(project, sandbox_url, sandbox_cert)
    who = manual.user_actor(actor)
    if csv_path:
        if not sequence:
            raise ValueError("a CSV unenroll needs the sequence to remove people from")
        return as_dict(
            manual.unenroll_csv(
                db,
                csv_path,
                sequence,
                now=utcnow(),
                sequencer=config.sequencer,
                actor=who,
                config=config,
                skip_bad_rows=skip_bad_rows,
            )
        )
    if not email:
        raise ValueError("give an email, or a csv_path with a sequence")
    return as_dict(
        manual.unenroll(
            db, email, sequence, now=utcnow(), sequencer=config.sequencer, actor=who, config=config
        )
    )


@flow(name="seqguard-recover", log_prints=True, validate_parameters=True)
def recover_removals(
    rule: str,
    since: datetime,
    actor: str,
    apply: bool = False,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """Plan (and with `apply`, make) the re-enrollment of the people `rule` removed since
    `since`, where it no longer matches them and nothing else blocks."""
    config = resolve_config(project, sandbox_url, sandbox_cert)
    return as_dict(
        recover.recover(
            db,
            rule,
            since,
            now=utcnow(),
            sequencer=config.sequencer,
            actor=manual.user_actor(actor),
            config=config,
            apply=apply,
        )
    )
