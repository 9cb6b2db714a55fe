"""The run's Prefect artifacts (stable kebab-case keys) and progress reporting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

REPORT_KEY = "cycle-report"


def in_prefect_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def sync_progress(crm: str) -> Callable[[str, int], None] | None:
    """A callback(object, rows) that moves a Prefect progress artifact for one CRM."""
    if not in_prefect_run():
        return None
    artifact_id = create_progress_artifact(
        progress=0.0, key=f"sync-progress-{crm}", description=f"{crm} sync progress"
    )
    done_objects: list[str] = []

    def advance(obj: str, rows: int) -> None:
        if obj not in done_objects:
            done_objects.append(obj)
        # objects finish one by one; the bar counts objects done out of a typical 8
        update_progress_artifact(artifact_id, progress=min(100.0, 100.0 * len(done_objects) / 8))

    return advance


def render_markdown(summary: dict[str, Any]) -> str:
    """The run report: rows synced per CRM, model sizes, rules run and their times."""
    lines = [
        f"# seqguard cycle {summary['run_id']}",
        "",
        f"Cycle time: {summary['now']}" + (" (dry run)" if summary.get("dry_run") else ""),
        "",
    ]
    sync = summary.get("sync") or {}
    if sync:
        lines += [
            "## Sync",
            "",
            "| CRM | object | rows | quarantined |",
            "| --- | --- | --- | --- |",
        ]
        for crm, result in sync.items():
            for obj, counts in (result.get("objects") or {}).items():
                lines.append(
                    f"| {crm} | {obj} | {counts.get('rows', counts.get('merged', ''))} "
                    f"| {counts.get('quarantined', 0)} |"
                )
        lines.append("")
    return "\n".join(lines)


def publish(summary: dict[str, Any]) -> None:
    """Create the run's artifacts (only inside a Prefect run)."""
    if in_prefect_run():
        create_markdown_artifact(
            render_markdown(summary), key=REPORT_KEY, description="seqguard cycle report"
        )
