"""What `seqguard` prints: each command's result as the lines a person reads, or as
JSON. Rendering only: nothing here parses arguments or runs anything."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.rules.lint import LintResult
from tasks.rules.scopes import ANY_OTHER

if TYPE_CHECKING:
    from tasks.decide.recover import RecoverPlan


def to_json(value: Any) -> str:
    """A result as indented JSON; datetimes and other values as their strings."""
    return json.dumps(value, default=str, indent=2)


def render_summary(summary: dict) -> str:
    """A few lines a person reads after `seqguard cycle`."""
    if "skipped" in summary:
        return f"seqguard cycle {summary['skipped']}"
    lines = [
        f"seqguard cycle {summary['run_id']} at {summary['now']}"
        + (" (dry run)" if summary.get("dry_run") else "")
    ]
    for crm, result in (summary.get("sync") or {}).items():
        objects = result.get("objects") or {}
        counts = ", ".join(
            f"{obj} {c.get('rows', c.get('merged', 0)):,}" for obj, c in objects.items()
        )
        quarantined = sum(c.get("quarantined", 0) for c in objects.values())
        lines.append(f"  synced {crm}: {counts}; quarantined {quarantined}")
        for obj, added in (result.get("backfilled") or {}).items():
            lines.append(f"  backfilled {crm} {obj} in full for new columns: {', '.join(added)}")
    model = summary.get("model") or {}
    if model.get("rows"):
        lines.append("  model: " + ", ".join(f"{k} {v:,}" for k, v in model["rows"].items()))
    rules = summary.get("rules") or {}
    if rules:
        failed = rules.get("rules_failed") or []
        lines.append(
            f"  rules: {rules.get('rules_run', 0)} run in {rules.get('seconds', 0):.1f} s, "
            f"{rules.get('matches', 0):,} matches, {len(failed)} failed"
            + (f" ({', '.join(failed)}: failed closed)" if failed else "")
            + f", {len(rules.get('pending') or [])} pending versions"
        )
        unmatched = [r for r in rules.get("runs") or []
                     if r.get("status") == "ok" and r.get("unmatched_rows")]
        if unmatched:
            lines.append("  rows that matched nobody: " + ", ".join(
                f"{r['rule']} {r['unmatched_rows']:,}" for r in unmatched))
    decide = summary.get("decide") or {}
    if decide:
        lines.append(
            "  decided: "
            + ", ".join(
                f"{kind} {decide.get(kind, 0):,}"
                for kind in ("unenroll", "block", "skip", "enroll", "refused", "held")
            )
        )
        if decide.get("why_nothing"):
            lines.append(f"  nothing to change: {decide['why_nothing']}")
        if decide.get("rejected_before"):
            lines.append(f"  left enrolled: {decide['rejected_before']:,} whose unenroll was "
                         "rejected before (asked again once the rule's version or their "
                         "enrollment changes)")
    lines += hold_lines(summary)
    post = summary.get("post") or {}
    if post:
        lines.append(
            "  posted: "
            + (
                post["skipped"]
                if "skipped" in post
                else ", ".join(
                    f"{kind} {post.get(kind, 0):,}"
                    for kind in ("sent", "confirmed", "rejected", "failed", "pending")
                )
            )
        )
    return "\n".join(lines)


def hold_lines(summary: dict) -> list[str]:
    """The circuit breaker's hold of this run and the decision on it, and the holds of
    earlier runs still waiting (their people are left to that decision)."""
    from tasks.post.approval import cli_hint

    breaker, approval = summary.get("breaker") or {}, summary.get("approval") or {}
    lines = []
    if breaker.get("tripped"):
        lines.append(f"  circuit breaker: {breaker['reason']}")
    if approval.get("message"):
        lines.append(f"  decision: {approval['message']}")
    for hold in breaker.get("waiting") or []:
        lines.append(f"  awaiting approval: run {hold['run_id']} holds {hold['held']:,} "
                     f"unenroll(s) since {_when(hold['held_since'])}; {cli_hint(hold['run_id'])}")
    return lines


def review_lines(held: dict[str, Any]) -> list[str]:
    """What a held run would do: people per rule and sequence, and a sample of them."""
    rows = [["rule", "sequence", "people"]] + [
        [r["rule"], r["sequence"], f"{r['people']:,}"] for r in held["rules"]]
    sample = [["email", "sequence", "rule", "reason"]] + [
        [p["email"], p["sequence"], p["rule"], p["reason"] or ""] for p in held["sample"]]
    return (["  held unenrolls per rule and sequence:"]
            + ["    " + line for line in _columns(rows)]
            + [f"  a sample of {len(held['sample'])}:"]
            + ["    " + line for line in _columns(sample)])


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


def lint_json(result: LintResult) -> dict[str, Any]:
    """lint's problems, warnings and notes as JSON."""
    return {"ok": result.ok, "problems": [
        {"path": p.path, "line": p.line, "message": p.message} for p in result.problems],
        "warnings": [{"path": w.path, "line": w.line, "message": w.message}
                     for w in result.warnings],
        "notes": result.notes}


def lint_lines(result: LintResult) -> tuple[list[str], list[str]]:
    """lint's answer as text: problems for stdout, warnings and notes for stderr."""
    return ([str(problem) for problem in result.problems],
            [str(warning) for warning in result.warnings]
            + [f"note: {note}" for note in result.notes])


def change_lines(changes: list[dict[str, Any]]) -> list[str]:
    """A manual action's changes, one line each, with the sequencer's error if any."""
    lines = []
    for c in changes:
        detail = f": {c['error']}" if c.get("error") else ""
        lines.append(f"{c['kind']} {c['email']} {c['sequence_id']}: {c['status']}{detail}")
    return lines


def recover_lines(plan: RecoverPlan, rule: str) -> list[str]:
    """recover's plan as text: per person what will really happen, why the others
    cannot come back now, then how many were (or can be) re-enrolled."""
    lines = []
    for row in plan.rows:
        if row["note"]:  # HubSpot: from the first step, whatever they had reached
            ready = f"re-enroll from step 1 ({row['note']})"
        elif row["completed"]:
            ready = (f"re-enroll at step {row['starts_at_step']}, after step "
                     f"{row['completed']}, the last they completed")
        else:
            ready = "re-enroll from step 1 (they had completed none)"
        why = {"ready": ready,
               "still_matches": f"not yet: {rule} still matches ({row['matches_because']})",
               "already_enrolled": "already back in the sequence",
               "blocked": f"blocked by {row.get('blocked_by')}",
               "no_sender": "no sender: no owner in the CRM (pass --sender)"}[row["status"]]
        lines.append(f"{row['email']}  {row['sequence_name'] or row['sequence_id']}  removed "
                     f"{row['removed_at']:%Y-%m-%d %H:%M}  after step "
                     f"{'unknown' if row['completed'] is None else row['completed']}: {why}")
    lines += plan.messages
    ready_count = sum(r["status"] == "ready" for r in plan.rows)
    if plan.applied:
        lines.append(f"{ready_count} of {len(plan.rows)} re-enrolled")
    elif ready_count:
        lines.append(f"{ready_count} of {len(plan.rows)} can be re-enrolled now; run again "
                     "with --apply to do it")
    elif plan.rows:
        lines.append(f"none of {len(plan.rows)} can be re-enrolled now (why above)")
    return lines


def _when(value: datetime | str | None) -> str:
    """A time to the minute (a summary read back from JSON holds ISO text)."""
    if value is None:
        return "-"
    return value[:16].replace("T", " ") if isinstance(value, str) else f"{value:%Y-%m-%d %H:%M}"


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows of cells as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def runs_lines(listed: dict[str, Any]) -> list[str]:
    """`seqguard runs` as text: one line per run, then the holds awaiting a decision."""
    from tasks.post.approval import cli_hint

    runs = listed["runs"]
    if not runs:
        return ["no runs yet: `seqguard cycle` runs the first"]
    header = ["run", "cycle time", "status", "took", "unenroll", "enroll", "block", "skip",
              "sent", "held", "decision"]
    rows = [header] + [[
        r["run_id"], _when(r["now"]) + (" (dry run)" if r["dry_run"] else ""), r["status"],
        "-" if r["seconds"] is None else f"{r['seconds']:.0f} s", str(r["unenroll"]),
        str(r["enroll"]), str(r["block"]), str(r["skip"]), str(r["sent"]), str(r["held"]),
        "" if r["decision"] is None else
        f"{r['decision']} by {r['decided_by']}" + (f": {r['decision_note']}"
                                                   if r["decision_note"] else ""),
    ] for r in runs]
    lines = _columns(rows)
    for hold in listed["awaiting_approval"]:
        lines.append(f"awaiting approval: run {hold['run_id']} holds {hold['held']} "
                     f"unenroll(s) since {_when(hold['held_since'])}; {cli_hint(hold['run_id'])}")
    return lines


def history_lines(story: dict[str, Any]) -> list[str]:
    """`seqguard history EMAIL` as text: one line per event, oldest first."""
    person = story["person"]
    lines = [f"{story['email']}" + (f" ({person['company']})" if person and person.get("company")
                                    else " (not in the CRMs as last synced)")]
    if not story["history"]:
        return lines + ["  nothing has happened to this person yet"]
    rows = [[_when(h["happened_at"]), h["kind"], h["sequence"] or h["sequence_id"] or "",
             (f"{h['rule']} {str(h['rule_version'] or '')[:10]}".strip() if h["rule"] else ""),
             h["actor"] or "", h["detail"] or ""] for h in story["history"]]
    return lines + ["  " + line for line in _columns(
        [["time", "what", "sequence", "rule version", "by", "detail"], *rows])]


def init_lines(root: Path, written: list[Path]) -> list[str]:
    """What `seqguard init` wrote, and the commands to try next."""
    return ([f"wrote {path}" for path in written]
            + ["", "next: edit seqguard.yml (which CRMs, which credentials' variables), then",
               f"  seqguard lint --project {root}",
               f"  seqguard cycle --project {root} --dry-run"])
