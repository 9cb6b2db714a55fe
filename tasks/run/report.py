"""The run's Prefect artifacts (stable kebab-case keys) and progress reporting."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

from tasks.core.redact import redacted
from tasks.db import sql
from tasks.db.store import connect

REPORT_KEY = "cycle-report"
CHANGES_KEY = "exclusion-changes"
CHANGES_CAP = 500


def in_prefect_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@contextmanager
def progress_bar(key: str, description: str,
                 total: int) -> Iterator[Callable[[str, int], None] | None]:
    """A callback(item, count) that moves a Prefect progress artifact as items start,
    within `total`; at 100% when the block ends without error (the work is done, whatever
    the estimate of its steps was)."""
    if not in_prefect_run():
        yield None
        return
    artifact_id = create_progress_artifact(progress=0.0, key=key, description=description)
    seen: set[str] = set()

    def advance(item: str, count: int) -> None:
        if item not in seen:
            seen.add(item)
            update_progress_artifact(artifact_id, progress=min(99.0, 100.0 * len(seen) / total))

    yield advance
    update_progress_artifact(artifact_id, progress=100.0)


@contextmanager
def sync_progress(crm: str, objects: int) -> Iterator[Callable[[str, int], None] | None]:
    """Progress of one CRM's sync of `objects` objects: a Prefect progress artifact, and
    a line on a terminal."""
    with progress_bar(f"sync-progress-{crm}", f"{crm} sync: {objects} objects",
                      objects) as artifact:
        if not sys.stderr.isatty():
            yield artifact
            return
        rows: dict[str, int] = {}
        lock = threading.Lock()

        def advance(obj: str, fetched: int) -> None:
            # called from the sync's worker threads after every page
            with lock:
                rows[obj] = fetched
                line = ", ".join(f"{name} {count:,}" for name, count in rows.items())
                sys.stderr.write(f"\r  syncing {crm}: {line}"[:160].ljust(160))
                sys.stderr.flush()
            if artifact is not None:
                artifact(obj, fetched)

        yield advance


def post_progress(batches: int = 20) -> AbstractContextManager[Callable[[str, int], None] | None]:
    return progress_bar("post-progress", "posting: batches sent", batches)


def _seconds(value: float | None) -> str | None:
    """A duration as a person reads it: 12.4, not 12.363949821999995."""
    return None if value is None else f"{value:.1f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines + [""]


def sync_section(sync: dict) -> list[str]:
    rows = [
        [
            crm,
            obj,
            c.get("fetched"),
            c.get("merged"),
            c.get("deleted"),
            c.get("quarantined"),
            _seconds(c.get("seconds")),
        ]
        for crm, result in sync.items()
        for obj, c in (result.get("objects") or {}).items()
    ]
    return ["## Sync", ""] + _table(
        ["CRM", "object", "fetched", "merged", "deleted", "quarantined", "seconds"], rows
    )


def rules_section(rules: dict) -> list[str]:
    runs = rules.get("runs") or []
    lines = [
        "## Rules",
        "",
        f"{rules.get('rules_run', 0)} rules run in "
        f"{_seconds(rules.get('seconds', 0))} s, {rules.get('matches', 0)} matches.",
        "",
    ]
    lines += _table(
        ["rule", "version", "pending", "status", "people", "matched nobody", "seconds", "error"],
        [
            [
                r["rule"],
                r["version"][:10],
                r["is_pending"],
                r["status"],
                r["people"],
                r.get("unmatched_rows") if r["status"] == "ok" else None,
                _seconds(r["seconds"]),
                r.get("error"),
            ]
            for r in runs
        ],
    )
    unmatched = [r for r in runs if r["status"] == "ok" and r.get("unmatched_rows")]
    if unmatched:
        lines += [
            "**Rows that matched nobody** (no email or domain, or one no person in crm.* "
            "has; check the rule's SQL or list): "
            + ", ".join(f"{r['rule']} {r['unmatched_rows']}" for r in unmatched),
            "",
        ]
    if rules.get("rules_failed"):
        lines += [
            "**Failed rules (failed closed: they block new enrollments into the "
            "sequences they cover and remove no one):** " + ", ".join(rules["rules_failed"]),
            "",
        ]
    if rules.get("pending"):
        lines += ["## Pending rule versions", ""]
        lines += [
            f"- {p}" if isinstance(p, str) else f"- {p.get('summary', p)}" for p in rules["pending"]
        ] + [""]
    if rules.get("problems"):
        lines += ["## File problems", ""] + [f"- {p}" for p in rules["problems"]] + [""]
    return lines


def changes_rows(db_path: str | Path, run_id: str) -> tuple[list[dict], dict[str, int], int]:
    """The run's decisions (capped), counts by kind and rule, and the total."""
    with connect(db_path) as con:
        rows = sql.dicts(con, "run/changes", run_id=run_id, cap=CHANGES_CAP)
        by_kind_rule = dict(sql.fetch(con, "run/change_counts", run_id=run_id))
    return rows, by_kind_rule, sum(by_kind_rule.values())


def unverified_section(read: dict) -> list[str]:
    """Unenrolls written to the sequencer but not yet seen to take effect (HubSpot's
    workflow acts later, or not at all), oldest first, with the owner to ask."""
    total = read.get("unverified_total") or 0
    if not total:
        return []
    rows = read.get("unverified") or []
    lines = ["## Unverified unenrolls", "",
             f"{total} unenroll{'s' * (total != 1)} written but not yet seen to take effect"
             + (f" (the oldest {len(rows)} below)" if len(rows) < total else "")
             + "; each is listed until a read shows the enrollment ended.", ""]
    return lines + _table(
        ["email", "sequence", "rule", "written at", "owner"],
        [[r.get("email"), r.get("sequence_id"), r.get("rule"), r.get("sent_at"),
          r.get("owner_email")] for r in rows])


def decide_section(decide: dict) -> list[str]:
    """What the run decided, as counts, and why it decided nothing when it did not."""
    counts = [("unenroll", "enrollments to end"), ("block", "requests blocked by a rule"),
              ("skip", "play items skipped for good"), ("enroll", "enrollments to make"),
              ("refused", "requests refused by a constraint"),
              ("held", "play items kept queued (a covering rule failed)"),
              ("rejected_before", "left enrolled: their unenroll was rejected before")]
    lines = ["## Decisions", ""] + _table(
        ["decision", "count", "meaning"],
        [[kind, decide.get(kind, 0), meaning] for kind, meaning in counts])
    return lines + [f"- {w}" for w in decide.get("warnings") or []] + [""]


def hold_section(summary: dict, held: dict[str, Any] | None) -> list[str]:
    """The circuit breaker's verdict; for a held run, what it would do and the decision."""
    from tasks.post.approval import cli_hint

    breaker, approval = summary.get("breaker") or {}, summary.get("approval") or {}
    if not breaker:
        return []
    lines = ["## Circuit breaker", "", breaker.get("reason", ""), ""]
    if held and held["rules"]:
        lines += ["Held unenrolls per rule and sequence:", ""] + _table(
            ["rule", "sequence", "people"],
            [[r["rule"], r["sequence"], r["people"]] for r in held["rules"]])
    if approval.get("message"):
        lines += [f"**Decision:** {approval['message']}", ""]
    elif breaker.get("tripped"):
        lines += [f"**Waiting for a decision:** this run's form in the Prefect UI, or "
                  f"{cli_hint(summary['run_id'])}.", ""]
    waiting = breaker.get("waiting") or []
    if waiting:
        lines += ["Earlier runs still waiting for a decision (the people they hold are left "
                  "to it):", ""] + _table(
            ["run", "unenrolls held", "since"],
            [[w["run_id"], w["held"], str(w["held_since"])[:16]] for w in waiting])
    return lines


def post_section(post: dict) -> list[str]:
    if not post:
        return []
    if "skipped" in post:
        return ["## Posting", "", f"Nothing posted: {post['skipped']}.", ""]
    lines = ["## Posting", ""] + _table(
        ["sent", "already in effect", "refused", "cannot post", "left for the next run",
         "requests", "seconds"],
        [[post.get("sent", 0), post.get("confirmed", 0), post.get("rejected", 0),
          post.get("failed", 0), post.get("pending", 0), post.get("requests", 0),
          _seconds(post.get("seconds"))]])
    if post.get("stopped"):
        lines += [f"Stopped early: {post['stopped']}", ""]
    return lines + [f"- {e}" for e in post.get("errors") or []] + [""]


def read_section(read: dict) -> list[str]:
    if not read:
        return []
    return ["## Enrollments read", ""] + _table(
        ["sequencer", "sequences", "enrollments read", "new", "state changes",
         "changes confirmed", "requests", "seconds"],
        [[read.get("crm"), read.get("sequences", 0), read.get("enrollments_read", 0),
          read.get("new_enrollments", 0), read.get("state_changes", 0),
          read.get("confirmed", 0), read.get("requests", 0),
          _seconds(read.get("seconds"))]]) + unverified_section(read)


def render_markdown(summary: dict[str, Any], by_kind_rule: dict[str, int],
                    held: dict[str, Any] | None = None) -> str:
    """The run report a person reads in the Prefect UI: markdown tables, names not ids."""
    lines = [
        f"# seqguard cycle {summary['run_id']}",
        "",
        f"Cycle time {str(summary['now'])[:19].replace('T', ' ')} UTC"
        + (" (dry run: nothing posted)" if summary.get("dry_run") else ""),
        "",
    ]
    lines += sync_section(summary.get("sync") or {})
    lines += read_section(summary.get("enrollments") or {})
    lines += rules_section(summary.get("rules") or {})
    lines += decide_section(summary.get("decide") or {})
    lines += ["## Changes by kind and rule", ""] + _table(
        ["kind / rule", "count"], [[k, v] for k, v in by_kind_rule.items()]
    )
    lines += hold_section(summary, held)
    lines += post_section(summary.get("post") or {})
    return "\n".join(lines)


def publish(db_path: str | Path, summary: dict[str, Any]) -> None:
    """Create the run's report and change-table artifacts (only inside a Prefect run);
    no configured secret reaches them, whatever a remote answer echoed."""
    if not in_prefect_run():
        return
    from tasks.post.approval import review

    rows, by_kind_rule, total = redacted(changes_rows(db_path, summary["run_id"]))
    tripped = (summary.get("breaker") or {}).get("tripped")
    held = review(db_path, summary["run_id"]) if tripped else None
    create_markdown_artifact(
        render_markdown(redacted(summary), by_kind_rule, redacted(held)), key=REPORT_KEY,
        description="seqguard cycle report",
    )
    create_table_artifact(
        rows, key=CHANGES_KEY, description=f"{min(total, CHANGES_CAP)} of {total} changes this run"
    )


def publish_action(key: str, title: str, changes: list[dict[str, Any]],
                   messages: list[str]) -> None:
    """A manual action's report (stable key per kind of action) and its log line."""
    counts = ", ".join(f"{n} {status}" for status, n in
                       sorted(Counter(c["status"] for c in changes).items())) or "no change"
    print(f"{title}: {counts}" + "".join(f"; {m}" for m in messages))
    if not in_prefect_run():
        return
    lines = [f"# {title}", "", *[f"- {m}" for m in messages], ""] + _table(
        ["kind", "email", "sequence", "status", "error"],
        [[c["kind"], c["email"], c["sequence_id"], c["status"], c.get("error")]
         for c in changes])
    create_markdown_artifact(redacted("\n".join(lines)), key=key, description=title)


def publish_recover(plan: Any) -> None:
    """recover's plan (or what it did) as a report, and its log line."""
    counts = Counter(row["status"] for row in plan.rows)
    title = (f"Recover {plan.rule} removals since {plan.since:%Y-%m-%d %H:%M}"
             + (" (applied)" if plan.applied else " (plan)"))
    print(f"{title}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                          or "nobody to recover") + "".join(f"; {m}" for m in plan.messages))
    if not in_prefect_run():
        return
    lines = [f"# {title}", "", *[f"- {m}" for m in plan.messages], ""] + _table(
        ["email", "sequence", "removed at", "status", "starts at step", "sender", "why"],
        [[r["email"], r["sequence_name"] or r["sequence_id"], str(r["removed_at"])[:16],
          r["status"], r["starts_at_step"], r["sender"],
          r.get("note") or r.get("blocked_by") or r.get("matches_because")]
         for r in plan.rows])
    create_markdown_artifact(redacted("\n".join(lines)), key="recover-plan", description=title)
