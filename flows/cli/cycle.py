"""`seqguard cycle` (and `--approve` / `--reject` of a held run) and `seqguard serve`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from flows.cli.parser import cycle_time, given_now
from flows.cli.render import render_summary, review_lines, to_json
from tasks.core.config import load_config, resolve_config
from tasks.core.errors import ConfigError
from tasks.core.redact import redacted

SKIPPED_EXIT = 75  # EX_TEMPFAIL: another cycle holds the database's lock; try again later


def run_cycle(args: argparse.Namespace) -> int:
    if args.approve or args.reject:
        return decide_held(args)
    now = given_now(args)
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
            if (summary.get("approval") or {}).get("status") == "held":
                summary["approval"] = decide_demo_hold(args, summary, sandbox.url, sandbox.cert)
    summary = redacted(summary)
    if args.json:
        print(to_json(summary))
    if "skipped" in summary:  # another cycle holds this database: cron and CI must see it
        print(render_summary(summary), file=sys.stderr)
        return SKIPPED_EXIT
    if not args.json:
        print(render_summary(summary))
    return 0


def decide_held(args: argparse.Namespace) -> int:
    """`--approve RUN` posts a held run's unenrolls; `--reject RUN` cancels them. A run
    paused in Prefect is resumed with the decision, and that flow run posts."""
    from tasks.decide.manual import user_actor
    from tasks.post.approval import decide_on_cli
    from tasks.post.poster import post_pending

    run_id = args.approve or args.reject
    outcome = decide_on_cli(args.db, run_id, bool(args.approve), user_actor(), args.note or "")
    print(f"run {run_id}: {outcome['message']}")
    if outcome["resumed"]:
        print(f"run {run_id}: its paused flow run was resumed with this decision"
              + (" and posts the changes" if args.approve else ""))
    elif not outcome["prefect_api"]:
        print(f"run {run_id}: no Prefect API configured (PREFECT_API_URL), so a flow run "
              "paused on a server for this run keeps waiting until its timeout, then reads "
              "this decision")
    elif args.approve:
        config = resolve_config(args.project, args.sandbox, args.sandbox_cert)
        posted = post_pending(args.db, config, cycle_time(args), run_id=run_id)
        print(
            f"posted: sent {posted.sent}, confirmed {posted.confirmed}, "
            f"rejected {posted.rejected}, pending {posted.pending}"
        )
    return 0


def decide_demo_hold(args: argparse.Namespace, summary: dict, url: str, cert: str) -> dict:
    """A run on a sandbox this command started, held by the circuit breaker: the sandbox
    stops when the command ends, so a later `--approve` would find it gone. Show what the
    hold would do and ask for the decision now (a line on stdin: approve or reject); no
    answer (Enter, or no terminal) leaves it held, and says what that means."""
    from tasks.core.config import sandbox_config
    from tasks.decide.manual import user_actor
    from tasks.post.approval import decide_on_cli, review
    from tasks.post.poster import post_pending

    run_id = summary["run_id"]
    # on stderr: stdout keeps only the summary (or its --json)
    print(f"circuit breaker: {summary['breaker']['reason']}", file=sys.stderr)
    print("\n".join(review_lines(review(args.db, run_id))), file=sys.stderr)
    print("The sandbox this run started stops when seqguard exits, so decide now: type "
          "approve or reject, or press Enter to leave the run held: ", end="", file=sys.stderr,
          flush=True)
    answer = (sys.stdin.readline() or "").strip().lower()
    print(file=sys.stderr)
    if answer not in ("approve", "reject"):
        return {**summary["approval"], "message": (
            f"left held: the sandbox stops now, so run {run_id}'s unenrolls will never be "
            "posted to it; to see approval through, start `seqguard sandbox --enrollments "
            "500` and run `seqguard cycle --sandbox URL`, which keeps its CRM")}
    approve = answer == "approve"
    outcome = decide_on_cli(args.db, run_id, approve, user_actor(), "decided at the prompt")
    if approve:
        posted = post_pending(args.db, sandbox_config(url, cert), cycle_time(args),
                              run_id=run_id)
        summary["post"] = {"sent": posted.sent, "confirmed": posted.confirmed,
                           "rejected": posted.rejected, "pending": posted.pending}
    return outcome


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


def run_serve(args: argparse.Namespace) -> int:
    from deployments.serve import serve_all
    from tasks.run.lock import prefect_api_configured

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
