"""The `seqguard` command line: thin wrappers over the flows and tasks.

parser.py holds every command's arguments, render.py turns results into text, and one
module per group of commands (cycle, rules, manual, history, project, sandbox) holds the
handlers that call the flows and tasks. Every command takes --db and --project; errors
are one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from flows.cli import cycle, history, manual, project, rules, sandbox
from flows.cli.parser import build_parser
from tasks.core.errors import SeqguardError
from tasks.core.redact import redact

# each command's handler: it takes the parsed arguments and returns the exit code
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "cycle": cycle.run_cycle,
    "serve": cycle.run_serve,
    "lint": rules.run_lint,
    "explain": rules.run_explain,
    "preview": rules.run_preview,
    "schema": rules.run_schema,
    "enroll": manual.run_enroll,
    "unenroll": manual.run_unenroll,
    "recover": manual.run_recover,
    "runs": history.run_runs,
    "history": history.run_history,
    "init": project.run_init,
    "sandbox": sandbox.run_sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary Prefect server of a one-off run can take a while on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
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
