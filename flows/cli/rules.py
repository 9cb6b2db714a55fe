"""`seqguard lint`, `explain EMAIL`, `preview [--play P]` and `schema`.

Thin wrappers: call tasks.rules.lint / explain / preview, print what render.py makes of
the answer. Failures raise the tasks.core.errors classes; flows/cli/__init__.py prints
their one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flows.cli.parser import cycle_time
from flows.cli.render import as_json, explain_lines, lint_json, lint_lines, preview_lines
from tasks.core.config import DEFAULT_PROPAGATION_DELAY, DEFAULT_RULE_TIMEOUT, load_config
from tasks.rules.explain import explain
from tasks.rules.lint import lint_project
from tasks.rules.preview import preview
from tasks.rules.schema import crm_schema, schema_text


def propagation_delay(args: argparse.Namespace) -> timedelta:
    config = load_config(args.project)
    return config.propagation_delay if config else DEFAULT_PROPAGATION_DELAY


def rule_timeout(args: argparse.Namespace) -> timedelta:
    config = load_config(args.project)
    return config.rule_timeout if config else DEFAULT_RULE_TIMEOUT


def run_lint(args: argparse.Namespace) -> int:
    result = lint_project(args.project, args.db, cycle_time(args))
    if args.json:
        print(json.dumps(lint_json(result), indent=2))
    else:
        out, err = lint_lines(result)
        for line in out:
            print(line)
        for line in err:
            print(line, file=sys.stderr)
    return 0 if result.ok else 1


def run_explain(args: argparse.Namespace) -> int:
    data = explain(args.db, args.project, args.email, cycle_time(args), propagation_delay(args),
                   rule_timeout(args))
    return show(args, data, explain_lines)


def run_preview(args: argparse.Namespace) -> int:
    data = preview(args.db, args.project, cycle_time(args), propagation_delay(args), args.play,
                   rule_timeout(args))
    return show(args, data, preview_lines)


def run_schema(args: argparse.Namespace) -> int:
    columns = crm_schema(args.db)
    print(json.dumps(as_json(columns), indent=2) if args.json else schema_text(columns))
    return 0


def show(args: argparse.Namespace, data: dict[str, Any],
         lines: Callable[[dict[str, Any]], list[str]]) -> int:
    """Print an answer as JSON (--json) or as its lines of text."""
    print(json.dumps(as_json(data), indent=2) if args.json else "\n".join(lines(data)))
    return 0
