"""`seqguard init DIR`: scaffold a project folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from flows.cli.render import init_lines
from tasks.core.scaffold import scaffold


def run_init(args: argparse.Namespace) -> int:
    written = scaffold(args.dir)
    print("\n".join(init_lines(Path(args.dir), written)))
    return 0
