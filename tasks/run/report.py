"""The run's Prefect artifacts (stable kebab-case keys) and progress reporting."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
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


def progress_bar(key: str, description: str, total: int) -> Callable[[str, int], None] | None:
    """A callback(item, count) that moves a Prefect progress artifact as items finish."""
    if not in_prefect_run():
        return None
    artifact_id = create_progress_artifact(progress=0.0, key=key, description=description)
    seen: set[str] = set()

    def advance(item: str, count: int) -> None:
        if item not in seen:
            seen.add(item)
            update_progress_artifact(artifact_id, progress=min(100.0, 100.0 * len(seen) / total))

    return advance


def sync_progress(crm: str, objects: int = 9) -> Callable[[str, int], None] | None:
    """Progress of one CRM's sync: a Prefect progress artifact, and a line on a terminal."""
    artifact = progress_bar(f"sync-progress-{crm}", f"{crm} sync: objects started", objects)
    if not sys.stderr.isatty():
        return artifact
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

    return advance


def post_progress(batches: int = 20) -> Callable[[str, int], None] | None:
    return progress_bar("post-progress", "posting: batches sent", batches)


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
            c.get("seconds"),
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
        f"{rules.get('seconds', 0)} s, {rules.get('matches', 0)} matches.",
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
                r["seconds"],
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


def render_markdown(summary: dict[str, Any], by_kind_rule: dict[str, int]) -> str:
    """The run report a person reads in the Prefect UI."""
    lines = [
        f"# seqguard cycle {summary['run_id']}",
        "",
        f"Cycle time {summary['now']}"
        + (" (dry run: nothing posted)" if summary.get("dry_run") else ""),
        "",
    ]
    lines += sync_section(summary.get("sync") or {})
    lines += rules_section(summary.get("rules") or {})
    lines += ["## Changes", ""] + _table(
        ["kind / rule", "count"], [[k, v] for k, v in by_kind_rule.items()]
    )
    lines += unverified_section(summary.get("enrollments") or {})
    for key in ("decide", "breaker", "approval", "post", "enrollments"):
        if summary.get(key):
            shown = summary[key]
            if isinstance(shown, dict):  # the unverified list has its own section
                shown = {k: v for k, v in shown.items() if k != "unverified"}
            lines += [f"## {key.title()}", "", "```", str(shown), "```", ""]
    return "\n".join(lines)


def publish(db_path: str | Path, summary: dict[str, Any]) -> None:
    """Create the run's report and change-table artifacts (only inside a Prefect run);
    no configured secret reaches them, whatever a remote answer echoed."""
    if not in_prefect_run():
        return
    rows, by_kind_rule, total = redacted(changes_rows(db_path, summary["run_id"]))
    create_markdown_artifact(
        render_markdown(redacted(summary), by_kind_rule), key=REPORT_KEY,
        description="seqguard cycle report",
    )
    create_table_artifact(
        rows, key=CHANGES_KEY, description=f"{min(total, CHANGES_CAP)} of {total} changes this run"
    )
