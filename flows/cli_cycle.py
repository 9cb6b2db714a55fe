"""`seqguard cycle` and `seqguard serve`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from tasks.core.clock import parse_option_time, utcnow
from tasks.core.config import load_config, resolve_config
from tasks.core.errors import ConfigError
from tasks.core.redact import redacted

SKIPPED_EXIT = 75  # EX_TEMPFAIL: another cycle holds the database's lock; try again later


def register(
    subparsers: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    crm: argparse.ArgumentParser,
) -> None:
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
    cycle.set_defaults(handler=run_cycle)

    serve = subparsers.add_parser(
        "serve",
        parents=[common, crm],
        help="serve the Prefect deployments (15-minute schedule)",
        description="Serve the cycle deployment on its */15 schedule and the ad-hoc "
        "deployments against the configured Prefect API.",
    )
    serve.set_defaults(handler=run_serve)


def run_cycle(args: argparse.Namespace) -> int:
    if args.approve or args.reject:
        return decide_held(args)
    now = parse_option_time(args.now)
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    if args.sandbox or load_config(args.project) is not None:
        resolve_config(args.project, args.sandbox, args.sandbox_cert)  # fail before Prefect starts
        summary = _run(args, now, args.sandbox, args.sandbox_cert)
    else:
        from sandbox.client import running_sandbox

        data_dir = Path(args.db).resolve().parent / "sandbox"
        print(
            f"no seqguard.yml and no --sandbox: starting a sandbox with {args.contacts:,} contacts",
            flush=True,
        )
        # a live account has people in sequences already: enroll 5% so the cycle has
        # enrollments to check
        with running_sandbox(
            data_dir, contacts=args.contacts, seed=args.seed, enrollments=args.contacts // 20
        ) as sandbox:
            summary = _run(args, now, sandbox.url, sandbox.cert)
    summary = redacted(summary)
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    if "skipped" in summary:  # another cycle holds this database: cron and CI must see it
        print(render_summary(summary), file=sys.stderr)
        return SKIPPED_EXIT
    if not args.json:
        print(render_summary(summary))
    return 0


def decide_held(args: argparse.Namespace) -> int:
    """`--approve RUN` posts a held run's unenrolls; `--reject RUN` cancels them."""
    from tasks.decide.manual import user_actor
    from tasks.post.approval import apply_decision
    from tasks.post.poster import post_pending

    run_id = args.approve or args.reject
    outcome = apply_decision(args.db, run_id, bool(args.approve), user_actor())
    moved = outcome.get("released", outcome.get("cancelled", 0))
    if moved == 0:
        raise ConfigError(
            f"run {run_id} has no held changes; check the run id in the "
            "cycle's summary or the Prefect UI"
        )
    print(f"run {run_id}: {outcome['status']} by {outcome['by']} ({moved} changes)")
    if args.approve:
        config = resolve_config(args.project, args.sandbox, args.sandbox_cert)
        now = parse_option_time(args.now) or utcnow()
        posted = post_pending(args.db, config, now, run_id=run_id)
        print(
            f"posted: sent {posted.sent}, confirmed {posted.confirmed}, "
            f"rejected {posted.rejected}, pending {posted.pending}"
        )
    return 0


def _run(args: argparse.Namespace, now: datetime | None, url: str | None, cert: str | None) -> dict:
    from flows.cycle import cycle

    summary = cycle(
        now=now,
        dry_run=args.dry_run,
        full_resync=args.full_resync,
        allow_past_now=args.allow_past_now,
        db=args.db,
        project=args.project,
        sandbox_url=url,
        sandbox_cert=cert,
    )
    if sys.stderr.isatty():
        sys.stderr.write("\n")  # end the sync progress line
    return summary


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
    if (summary.get("approval") or {}).get("message"):
        lines.append(f"  circuit breaker: {summary['approval']['message']}")
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


def run_serve(args: argparse.Namespace) -> int:
    from deployments.serve import serve_all
    from tasks.cycle_lock import prefect_api_configured

    if not prefect_api_configured():
        # the temporary server Prefect would start runs no scheduler: nothing would ever run
        raise ConfigError(
            "no Prefect API configured, so the 15-minute schedule would never fire; start "
            "`prefect server start` and run `prefect config set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api` (or `prefect cloud login`)"
        )

    serve_all(
        db=args.db, project=args.project, sandbox_url=args.sandbox, sandbox_cert=args.sandbox_cert
    )
    return 0
