"""The `seqguard` command line's arguments: every command, its options and help, in one
place (the CLI is a contract, checked from outside), and the times they give.

Parsing only: nothing here runs a command or prints a result (flows/cli/__init__.py
dispatches a parsed command to its handler; flows/cli/render.py formats what it answers).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime

from tasks.core.clock import parse_option_time, utcnow

DEFAULT_DB = "data/seqguard.duckdb"


def common_options() -> argparse.ArgumentParser:
    """Options every command takes (an argparse parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=DEFAULT_DB, help="DuckDB file (default %(default)s)")
    common.add_argument("--project", default=".", help="folder holding sql/ (default .)")
    common.add_argument("--now", default=None, help="the cycle's time, ISO 8601 (default: now)")
    return common


def sandbox_options() -> argparse.ArgumentParser:
    """Options of commands that talk to the CRMs."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--sandbox",
        default=os.environ.get("SEQGUARD_SANDBOX_URL"),
        help="sandbox URL (or SEQGUARD_SANDBOX_URL)",
    )
    options.add_argument(
        "--sandbox-cert",
        default=os.environ.get("SEQGUARD_SANDBOX_CERT"),
        help="sandbox certificate (or SEQGUARD_SANDBOX_CERT; default data/sandbox/cert.pem)",
    )
    return options


def given_now(args: argparse.Namespace) -> datetime | None:
    """--now as naive UTC, or None when not given (the flow then reads the clock)."""
    return parse_option_time(args.now)


def cycle_time(args: argparse.Namespace) -> datetime:
    """--now as naive UTC, or the clock."""
    return given_now(args) or utcnow()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqguard",
        description="Keep automated sales outreach away from people who must not get it.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, crm = common_options(), sandbox_options()
    add_cycle_commands(subparsers, common, crm)
    add_rule_commands(subparsers, common)
    add_manual_commands(subparsers, common, crm)
    add_history_commands(subparsers, common)
    add_init_command(subparsers)
    add_sandbox_command(subparsers)
    return parser


def add_cycle_commands(
    subparsers: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    crm: argparse.ArgumentParser,
) -> None:
    """`seqguard cycle` and `seqguard serve`."""
    cycle = subparsers.add_parser(
        "cycle",
        parents=[common, crm],
        help="run one full cycle and print a summary",
        description="Sync the CRMs, run the rules, decide and post changes, report. With no "
        "seqguard.yml and no --sandbox, a sandbox is started for the run.",
    )
    cycle.add_argument("--dry-run", action="store_true", help="decide and report; post nothing")
    cycle.add_argument("--full-resync", action="store_true", help="ignore sync watermarks")
    cycle.add_argument(
        "--allow-past-now",
        action="store_true",
        help="run at a --now earlier than the last committed run's (refused otherwise)",
    )
    cycle.add_argument(
        "--contacts",
        type=int,
        default=10_000,
        help="contacts in a self-started sandbox (default %(default)s)",
    )
    cycle.add_argument("--seed", type=int, default=0, help="seed of a self-started sandbox")
    cycle.add_argument("--json", action="store_true", help="print the summary as JSON")
    cycle.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    decision = cycle.add_mutually_exclusive_group()
    decision.add_argument(
        "--approve", metavar="RUN", help="post the unenrolls the circuit breaker held for run RUN"
    )
    decision.add_argument("--reject", metavar="RUN", help="cancel the unenrolls held for RUN")
    cycle.add_argument("--note", help="why you approve or reject (kept with the decision)")

    subparsers.add_parser(
        "serve",
        parents=[common, crm],
        help="serve the Prefect deployments (15-minute schedule)",
        description="Serve the cycle deployment on its */15 schedule and the ad-hoc "
        "deployments against the configured Prefect API.",
    )


def add_rule_commands(subparsers: argparse._SubParsersAction,
                      common: argparse.ArgumentParser) -> None:
    """`seqguard lint`, `explain EMAIL`, `preview [--play P]` and `schema`."""
    lint = subparsers.add_parser(
        "lint", parents=[common], help="check every rule, ruleset, play and list file",
        description="Check every rule, ruleset, play and list file; file:line messages, "
                    "exit 1 on any problem. Files under sql/ that seqguard will not read are "
                    "warnings on stderr (exit 0 if nothing else is wrong).")
    lint.add_argument("--json", action="store_true", help="print problems as JSON")

    why = subparsers.add_parser(
        "explain", parents=[common], help="every rule that matches a person, and what it does",
        description="Every rule that matches the person now (and pending versions), why, and "
                    "per sequence whether it blocks new enrollment or removes them.")
    why.add_argument("email", help="the person's email address")
    why.add_argument("--json", action="store_true", help="print machine-readable JSON")

    show = subparsers.add_parser(
        "preview", parents=[common], help="per rule: people it excludes, people only it excludes",
        description="Per rule: how many people (of a play's audience, or of everyone) it "
                    "excludes, and how many only it excludes.")
    show.add_argument("--play", default=None, help="count within this play's audience")
    show.add_argument("--json", action="store_true", help="print machine-readable JSON")

    tables = subparsers.add_parser(
        "schema", parents=[common], help="the crm.* tables and columns, from the database",
        description="Every crm.* table and column rules can read, its type and where it "
                    "comes from (which CRM property or field), read from the database.")
    tables.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_manual_commands(subparsers: argparse._SubParsersAction,
                        common: argparse.ArgumentParser, crm: argparse.ArgumentParser) -> None:
    """`seqguard enroll`, `unenroll` and `recover`: manual actions."""
    enroll = subparsers.add_parser(
        "enroll", parents=[common, crm], help="enroll one person in a sequence by hand",
        description="Enroll one person, obeying the same rules as plays (no override): when "
        "a rule or constraint stops it, the message names each and its scope.")
    enroll.add_argument("email")
    enroll.add_argument("--sequence", required=True, help="sequence id or name")
    enroll.add_argument("--reenroll", action="store_true",
                        help="allow a second enrollment in a sequence the person was in before")
    _sender(enroll)
    _actor_and_json(enroll)

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

    recover = subparsers.add_parser(
        "recover", parents=[common, crm], help="undo a rule's wrongful removals",
        description="Show everyone RULE removed since a time and, with --apply, re-enroll "
        "them at the step after their last completed one, where RULE no longer matches and "
        "nothing else blocks.")
    recover.add_argument("--rule", required=True)
    recover.add_argument("--since", required=True, help="ISO 8601 time, e.g. 2026-11-25T09:00Z")
    recover.add_argument("--apply", action="store_true", help="re-enroll (default: plan only)")
    _sender(recover)
    _actor_and_json(recover)


def _sender(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sender", metavar="ADDR",
                        help="the inbox to send from (default: the contact's owner, then "
                        "default_sender in seqguard.yml)")


def _actor_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", help="who is acting, recorded with the change (default $USER)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_history_commands(subparsers: argparse._SubParsersAction,
                         common: argparse.ArgumentParser) -> None:
    """`seqguard runs` and `seqguard history EMAIL`: what happened, read from the database."""
    runs = subparsers.add_parser(
        "runs", parents=[common], help="recent runs: time, counts, holds awaiting approval",
        description="The latest cycles, newest first: cycle time, status, what each decided, "
        "posted and holds, and the decision on a held run; then the holds awaiting approval.")
    runs.add_argument("--limit", type=int, default=20,
                      help="how many runs (default %(default)s)")
    runs.add_argument("--json", action="store_true", help="print machine-readable JSON")

    history = subparsers.add_parser(
        "history", parents=[common],
        help="every match, block, enrollment and unenrollment of a person",
        description="Everything seqguard did about one person, oldest first: each rule "
        "version that matched them and when it stopped, each decision, each enrollment "
        "change and who asked for it, and what the sequencer said to each post.")
    history.add_argument("email", help="the person's email address")
    history.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_init_command(subparsers: argparse._SubParsersAction) -> None:
    """`seqguard init DIR`: a starter project folder."""
    parser = subparsers.add_parser(
        "init",
        help="scaffold a project folder: sql/ rules, lists, rulesets, plays, seqguard.yml",
        description="Write a starter project into DIR: seqguard.yml (settings, credentials "
        "named by their environment variables), an example rule reading an uploaded list, "
        "rulesets.yml, a play and domain aliases under sql/. Refuses a folder that already "
        "holds seqguard.yml or sql/.",
    )
    parser.add_argument("dir", metavar="DIR", help="the project folder to create")


def add_sandbox_command(subparsers: argparse._SubParsersAction) -> None:
    """`seqguard sandbox`: the local HubSpot + Salesforce + sequencer server."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local sandbox server in the foreground",
        description="Run the local HubSpot + Salesforce + sequencer server over HTTPS. "
        "Writes DIR/cert.pem and prints the URL and certificate path.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=0, help="generated contacts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data/sandbox")
    parser.add_argument(
        "--enrollments", type=int, default=0, help="people already enrolled in two demo sequences"
    )
