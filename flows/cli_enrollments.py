"""`seqguard enroll`, `unenroll` and `recover`: manual actions, the cycle's own code.

Each decides with the same SQL as the cycle, writes outbox rows with the user as actor,
then posts them with the cycle's poster. Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from tasks.core.clock import parse_option_time, utcnow
from tasks.core.config import Config, load_config, resolve_config


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser,
             crm: argparse.ArgumentParser) -> None:
    enroll = subparsers.add_parser(
        "enroll", parents=[common, crm], help="enroll one person in a sequence by hand",
        description="Enroll one person, obeying the same rules as plays (no override): when "
        "a rule or constraint stops it, the message names each and its scope.")
    enroll.add_argument("email")
    enroll.add_argument("--sequence", required=True, help="sequence id or name")
    enroll.add_argument("--reenroll", action="store_true",
                        help="allow a second enrollment in a sequence the person was in before")
    _actor_and_json(enroll)
    enroll.set_defaults(handler=run_enroll)

    unenroll = subparsers.add_parser(
        "unenroll", parents=[common, crm], help="unenroll people by hand (final)",
        description="Unenroll one person from one sequence or all, or everyone a CSV names "
        "(columns email and/or company_domain: everyone at those companies, aliases "
        "included) from one sequence. Final: only a new enrollment brings them back.")
    unenroll.add_argument("email", nargs="?", help="the person (or use --csv)")
    unenroll.add_argument("--sequence", help="sequence id or name (default: every sequence)")
    unenroll.add_argument("--csv", help="CSV file with email and/or company_domain columns")
    unenroll.add_argument("--skip-bad-rows", action="store_true",
                          help="apply the good rows of a CSV that has bad ones")
    _actor_and_json(unenroll)
    unenroll.set_defaults(handler=run_unenroll)

    recover = subparsers.add_parser(
        "recover", parents=[common, crm], help="undo a rule's wrongful removals",
        description="Show everyone RULE removed since a time and, with --apply, re-enroll "
        "them at the step after their last completed one, where RULE no longer matches and "
        "nothing else blocks.")
    recover.add_argument("--rule", required=True)
    recover.add_argument("--since", required=True, help="ISO 8601 time, e.g. 2026-11-25T09:00Z")
    recover.add_argument("--apply", action="store_true", help="re-enroll (default: plan only)")
    _actor_and_json(recover)
    recover.set_defaults(handler=run_recover)


def _actor_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", help="who is acting, recorded with the change (default $USER)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def cycle_time(args: argparse.Namespace) -> datetime:
    return parse_option_time(args.now) or utcnow()


def target(args: argparse.Namespace, *, posting: bool) -> tuple[Config | None, str]:
    """The configuration to post with and the sequencer's name. A plan that posts
    nothing needs no sequencer connection."""
    if posting:
        config = resolve_config(args.project, args.sandbox, args.sandbox_cert)
        return config, config.sequencer
    config = load_config(args.project)
    return None, config.sequencer if config else "hubspot"


def print_json(value: Any) -> None:
    print(json.dumps(value, default=str, indent=2))


def print_changes(changes: list[dict[str, Any]], messages: list[str]) -> None:
    for message in messages:
        print(message, file=sys.stderr)
    for c in changes:
        detail = f": {c['error']}" if c.get("error") else ""
        print(f"{c['kind']} {c['email']} {c['sequence_id']}: {c['status']}{detail}")


def run_enroll(args: argparse.Namespace) -> int:
    from tasks.decide import manual

    config, crm = target(args, posting=True)
    result = manual.enroll(args.db, args.email, args.sequence, now=cycle_time(args), sequencer=crm,
                           actor=manual.user_actor(args.actor), config=config,
                           reenroll=args.reenroll)
    if args.json:
        print_json({"action_id": result.action_id, "changes": result.changes})
    else:
        print_changes(result.changes, result.messages)
    return 0


def run_unenroll(args: argparse.Namespace) -> int:
    from tasks.decide import manual

    if bool(args.email) == bool(args.csv):
        raise manual.ManualActionError("give either EMAIL or --csv FILE (not both, not neither)")
    if args.csv and not args.sequence:
        raise manual.ManualActionError("--csv needs --sequence: a list unenrolls from one "
                                       "sequence")
    if args.skip_bad_rows and not args.csv:
        raise manual.ManualActionError("--skip-bad-rows only applies to --csv")
    config, crm = target(args, posting=True)
    common = {"now": cycle_time(args), "sequencer": crm, "actor": manual.user_actor(args.actor),
              "config": config}
    if args.csv:
        result = manual.unenroll_csv(args.db, args.csv, args.sequence,
                                     skip_bad_rows=args.skip_bad_rows, **common)
    else:
        result = manual.unenroll(args.db, args.email, args.sequence, **common)
    if args.json:
        print_json({"action_id": result.action_id, "changes": result.changes,
                    "messages": result.messages})
    else:
        print_changes(result.changes, result.messages)
    return 0


def run_recover(args: argparse.Namespace) -> int:
    from tasks.decide import manual, recover

    since = parse_option_time(args.since, "--since")
    assert since is not None
    config, crm = target(args, posting=args.apply)
    plan = recover.recover(args.db, args.rule, since, now=cycle_time(args), sequencer=crm,
                          actor=manual.user_actor(args.actor), config=config, apply=args.apply)
    if args.json:
        print_json({"rule": plan.rule, "since": plan.since, "applied": plan.applied,
                    "action_id": plan.action_id, "rows": plan.rows, "messages": plan.messages})
        return 0
    for message in plan.messages:
        print(message)
    for row in plan.rows:
        note = f" ({row['note']})" if row.get("note") else ""
        why = {"ready": f"re-enroll at step {row['starts_at_step'] or 1}{note}",
               "still_matches": f"{args.rule} still matches ({row['matches_because']})",
               "already_enrolled": "already back in the sequence",
               "blocked": f"blocked by {row.get('blocked_by')}"}[row["status"]]
        print(f"{row['email']}  {row['sequence_name'] or row['sequence_id']}  removed "
              f"{row['removed_at']:%Y-%m-%d %H:%M}  after step "
              f"{'unknown' if row['completed'] is None else row['completed']}: {why}")
    ready = sum(r["status"] == "ready" for r in plan.rows)
    if plan.rows:
        print(f"{ready} of {len(plan.rows)} re-enrolled" if plan.applied else
              f"{ready} of {len(plan.rows)} can be re-enrolled; run again with --apply")
    return 0
