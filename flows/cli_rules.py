"""`seqguard lint`, `explain EMAIL`, `preview [--play P]` and `schema`.

Thin wrappers: parse, call tasks.lint / tasks.explain, print. Failures raise the
tasks.errors classes; flows/cli.py prints their one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from tasks.core.clock import parse_option_time, utcnow
from tasks.core.config import DEFAULT_PROPAGATION_DELAY, DEFAULT_RULE_TIMEOUT, load_config
from tasks.rules.explain import explain
from tasks.rules.lint import lint_project
from tasks.rules.preview import preview
from tasks.rules.schema import crm_schema, schema_text
from tasks.rules.scopes import ANY_OTHER


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add lint, explain and preview to the `seqguard` command line."""
    lint = subparsers.add_parser(
        "lint", parents=[common], help="check every rule, ruleset, play and list file",
        description="Check every rule, ruleset, play and list file; file:line messages, "
                    "exit 1 on any problem. Files under sql/ that seqguard will not read are "
                    "warnings on stderr (exit 0 if nothing else is wrong).")
    lint.add_argument("--json", action="store_true", help="print problems as JSON")
    lint.set_defaults(handler=run_lint)

    why = subparsers.add_parser(
        "explain", parents=[common], help="every rule that matches a person, and what it does",
        description="Every rule that matches the person now (and pending versions), why, and "
                    "per sequence whether it blocks new enrollment or removes them.")
    why.add_argument("email", help="the person's email address")
    why.add_argument("--json", action="store_true", help="print machine-readable JSON")
    why.set_defaults(handler=run_explain)

    show = subparsers.add_parser(
        "preview", parents=[common], help="per rule: people it excludes, people only it excludes",
        description="Per rule: how many people (of a play's audience, or of everyone) it "
                    "excludes, and how many only it excludes.")
    show.add_argument("--play", default=None, help="count within this play's audience")
    show.add_argument("--json", action="store_true", help="print machine-readable JSON")
    show.set_defaults(handler=run_preview)

    tables = subparsers.add_parser(
        "schema", parents=[common], help="the crm.* tables and columns, from the database",
        description="Every crm.* table and column rules can read, its type and where it "
                    "comes from (which CRM property or field), read from the database.")
    tables.add_argument("--json", action="store_true", help="print machine-readable JSON")
    tables.set_defaults(handler=run_schema)


def cycle_now(args: argparse.Namespace) -> datetime:
    """--now as naive UTC, or the clock."""
    return parse_option_time(args.now) or utcnow()


def propagation_delay(args: argparse.Namespace) -> timedelta:
    config = load_config(args.project)
    return config.propagation_delay if config else DEFAULT_PROPAGATION_DELAY


def rule_timeout(args: argparse.Namespace) -> timedelta:
    config = load_config(args.project)
    return config.rule_timeout if config else DEFAULT_RULE_TIMEOUT


def run_lint(args: argparse.Namespace) -> int:
    result = lint_project(args.project, args.db, cycle_now(args))
    if args.json:
        print(json.dumps({"ok": result.ok, "problems": [
            {"path": p.path, "line": p.line, "message": p.message} for p in result.problems],
            "warnings": [{"path": w.path, "line": w.line, "message": w.message}
                         for w in result.warnings],
            "notes": result.notes}, indent=2))
    else:
        for problem in result.problems:
            print(problem)
        for warning in result.warnings:
            print(warning, file=sys.stderr)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0 if result.ok else 1


def run_explain(args: argparse.Namespace) -> int:
    data = explain(args.db, args.project, args.email, cycle_now(args), propagation_delay(args),
                   rule_timeout(args))
    if args.json:
        print(json.dumps(as_json(data), indent=2))
    else:
        print("\n".join(explain_lines(data)))
    return 0


def run_preview(args: argparse.Namespace) -> int:
    data = preview(args.db, args.project, cycle_now(args), propagation_delay(args), args.play,
                   rule_timeout(args))
    if args.json:
        print(json.dumps(as_json(data), indent=2))
    else:
        print("\n".join(preview_lines(data)))
    return 0


def run_schema(args: argparse.Namespace) -> int:
    columns = crm_schema(args.db)
    print(json.dumps(as_json(columns), indent=2) if args.json else schema_text(columns))
    return 0


def _effect(row: dict[str, Any]) -> str:
    if not row["blocks_new"]:
        return "no effect"
    what = "blocks new enrollment"
    what += ", removes if enrolled" if row["removes_enrolled"] else ", keeps the enrolled"
    return f"{what} ({'+'.join(row['why'])}{', failed closed' if row['failed'] else ''})"


def _where(row: dict[str, Any]) -> str:
    return f"{row['sequence']} (play {row['play']})" if row["play"] else row["sequence"]


def explain_lines(data: dict[str, Any]) -> list[str]:
    """explain's answer as text."""
    person = data["person"]
    when = data["now"].strftime("%Y-%m-%d %H:%M")
    if person:
        name = " ".join(x for x in (person.get("first_name"), person.get("last_name")) if x)
        at = person.get("company") or "no company"
        lines = [f"{data['email']} ({name or 'no name'}, {at}) at {when}"]
    else:
        lines = [f"{data['email']} at {when}: not in crm.people (lists may still name them)"]
    if not data["rules"]:
        lines.append("no rule matches now")
    for rule in data["rules"]:
        where = f" via company {rule['company_domain']}" if rule["company_domain"] else ""
        lines.append(f"- {rule['rule']}{where}: {rule['reason'] or 'no reason given'}")
        for row in rule["per_sequence"]:
            lines.append(f"    {_where(row)}: {_effect(row)}")
    for item in data["pending"]:
        when_effective = item["effective_from"].strftime("%Y-%m-%d %H:%M")
        if item["status"] == "error":
            change = f"will fail closed ({item['error']})"
        elif item["matches"] and not item["matches_now"]:
            change = f"will match: {item['reason'] or 'no reason given'}"
        elif item["matches"]:
            change = f"still matches: {item['reason'] or 'no reason given'}"
        else:
            change = "will no longer match"
        lines.append(f"pending {item['rule']} {item['version'][:8]} (effective "
                     f"{when_effective}): {change}")
        for row in item["per_sequence"]:
            lines.append(f"    {_where(row)}: {_effect(row)}")
    for item in data["failed"]:
        blocked = sorted({_where(r) for r in item["per_sequence"] if r["blocks_new"]})
        lines.append(f"FAILED {item['rule']}: {item['error']}; blocks new enrollment into "
                     f"{', '.join(blocked) or 'nothing'} until fixed")
    summary = [s for s in data["sequences"] if s["blocked_by"] or s["failed_closed_by"]]
    if summary:
        lines.append("per sequence:")
        for entry in summary:
            label = _where(entry)
            blocked = ", ".join(entry["blocked_by"] + entry["failed_closed_by"])
            removed = ", ".join(entry["removed_by"]) or "no rule"
            lines.append(f"    {label}: new enrollment blocked by {blocked}; if enrolled, "
                         f"removed by {removed}")
    elif data["rules"]:
        lines.append(f"per sequence: nothing blocks them ({ANY_OTHER} included)")
    return lines


def preview_lines(data: dict[str, Any]) -> list[str]:
    """preview's table as text."""
    if data["play"]:
        head = (f"play {data['play']} -> '{data['sequence']}': audience {data['audience']}, "
                f"excluded {data['excluded']}")
    else:
        head = f"everyone: excluded from some sequence {data['excluded']}"
    lines = [head + f" (at {data['now'].strftime('%Y-%m-%d %H:%M')})"]
    rows = [("rule", "version", "applies", "people", "only this")]
    for row in data["rules"]:
        version = row["version"][:8] + (" pending" if row["pending"] else "")
        if row["status"] == "error":
            applies = "FAILED (fails closed; see below)"
        elif row["status"] in ("disabled", "deleted"):
            applies = row["status"]
        else:
            applies = row["applies"]
        if row["pending"] and row["effective_from"]:
            applies += f" (from {row['effective_from'].strftime('%H:%M')})"
        rows.append((row["rule"], version, applies, str(row["people"]), str(row["only_this"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    lines += [f"FAILED {row['rule']}: {row['error']}" for row in data["rules"]
              if row["status"] == "error"]
    return lines


def as_json(data: Any) -> Any:
    """Datetimes as ISO strings, dataclasses as dicts: for --json output."""
    if isinstance(data, datetime):
        return data.isoformat()
    if isinstance(data, dict):
        return {k: as_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [as_json(v) for v in data]
    if hasattr(data, "__dataclass_fields__"):
        return as_json(asdict(data))
    return data
