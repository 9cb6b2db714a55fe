"""`seqguard runs` and `seqguard history EMAIL`: what happened, read from the database."""

from __future__ import annotations

import argparse

from flows.cli.render import history_lines, runs_lines, to_json
from tasks.core.errors import ConfigError


def run_runs(args: argparse.Namespace) -> int:
    from tasks.run.history import recent_runs

    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: give a number of runs of 1 or more")
    listed = recent_runs(args.db, args.limit)
    print(to_json(listed) if args.json else "\n".join(runs_lines(listed)))
    return 0


def run_history(args: argparse.Namespace) -> int:
    from tasks.run.history import person_history

    story = person_history(args.db, args.email)
    print(to_json(story) if args.json else "\n".join(history_lines(story)))
    return 0
