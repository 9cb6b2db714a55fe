"""`seqguard enroll`, `unenroll` and `recover`: manual actions, the cycle's own code.

Each decides with the same SQL as the cycle, writes outbox rows with the user as actor,
then posts them with the cycle's poster. Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys

from flows.cli.parser import cycle_time
from flows.cli.render import change_lines, recover_lines, to_json
from tasks.core.clock import parse_option_time
from tasks.core.config import Config, load_config, resolve_config


def target(args: argparse.Namespace, *, posting: bool) -> tuple[Config | None, str]:
    """The configuration to post with and the sequencer's name. A plan that posts
    nothing needs no sequencer connection."""
    if posting:
        config = resolve_config(args.project, args.sandbox, args.sandbox_cert)
        return config, config.sequencer
    config = load_config(args.project)  # its settings (default_sender), no connection
    return config, config.sequencer if config else "hubspot"


def print_changes(changes: list[dict], messages: list[str]) -> None:
    for message in messages:
        print(message, file=sys.stderr)
    for line in change_lines(changes):
        print(line)


def run_enroll(args: argparse.Namespace) -> int:
    from tasks.decide import manual

    config, crm = target(args, posting=True)
    result = manual.enroll(args.db, args.email, args.sequence, now=cycle_time(args), sequencer=crm,
                           actor=manual.user_actor(args.actor), config=config,
                           reenroll=args.reenroll, sender=args.sender)
    if args.json:
        print(to_json({"action_id": result.action_id, "changes": result.changes}))
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
        print(to_json({"action_id": result.action_id, "changes": result.changes,
                       "messages": result.messages}))
    else:
        print_changes(result.changes, result.messages)
    return 0


def run_recover(args: argparse.Namespace) -> int:
    from tasks.decide import manual, recover

    since = parse_option_time(args.since, "--since")
    assert since is not None
    config, crm = target(args, posting=args.apply)
    plan = recover.recover(args.db, args.rule, since, now=cycle_time(args), sequencer=crm,
                          actor=manual.user_actor(args.actor), config=config, apply=args.apply,
                          sender=args.sender)
    if args.json:
        print(to_json({"rule": plan.rule, "since": plan.since, "applied": plan.applied,
                       "action_id": plan.action_id, "rows": plan.rows,
                       "messages": plan.messages}))
        return 0
    for line in recover_lines(plan, args.rule):
        print(line)
    return 0
