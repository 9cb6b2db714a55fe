"""The `seqguard` command line: thin wrappers over the flows and tasks.

Every command takes --db and --project; errors are one line on stderr and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from tasks.core.errors import SeqguardError
from tasks.core.redact import redact

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


def build_parser() -> argparse.ArgumentParser:
    from flows import cli_cycle, cli_enrollments, cli_rules, cli_sandbox

    parser = argparse.ArgumentParser(
        prog="seqguard",
        description="Keep automated sales outreach away from people who must not get it.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, crm = common_options(), sandbox_options()
    cli_cycle.register(subparsers, common, crm)
    cli_rules.register(subparsers, common)
    cli_enrollments.register(subparsers, common, crm)
    cli_sandbox.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary Prefect server of a one-off run can take a while on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SeqguardError as err:
        print(f"seqguard {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"seqguard {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if os.environ.get("SEQGUARD_TRACEBACK"):
            print(redact(traceback.format_exc()), file=sys.stderr, end="")
            return 1
        text = redact(str(err))  # a library's error may quote a remote answer
        print(
            f"seqguard {args.command}: unexpected error: {type(err).__name__}: "
            f"{text.splitlines()[0] if text else ''} (set SEQGUARD_TRACEBACK=1 "
            "for the traceback, and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
