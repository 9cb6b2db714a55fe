"""`make bench`: every benchmark at one scale, one table of their figures.

    python bench/all.py [--scale 1000000] [--soak-days 7 --soak-contacts 20000] [--quick]

Each benchmark prints one JSON object as its last line; this collects them. Run it on an
otherwise idle machine: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def plan(
    scale: int, soak_days: int, soak_contacts: int, changes: int
) -> list[tuple[str, list[str]]]:
    """(name, arguments) of each benchmark, in the order the table shows them."""
    return [
        ("sandbox: generate + serve", ["sandbox.py", "--contacts", str(scale)]),
        ("sync vs dlt", ["sync.py", "--contacts", str(scale)]),
        ("model rebuild", ["model.py", "--contacts", str(scale)]),
        ("rules vs bare DuckDB", ["rules.py", "--people", str(scale)]),
        ("posting vs rate limit", ["post.py", "--changes", str(changes)]),
        ("idle cycle", ["idle.py", "--contacts", str(min(scale, 10_000))]),
        ("soak", ["soak.py", "--days", str(soak_days), "--contacts", str(soak_contacts)]),
        ("fault trials", ["faults.py"]),
    ]


def run(args: list[str]) -> tuple[dict, float]:
    """Run one benchmark; its last JSON line and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]], capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line), seconds
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {done.returncode}: {tail[0][:200]}"}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--soak-days", type=int, default=7)
    parser.add_argument("--soak-contacts", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.soak_days, args.soak_contacts, args.changes = 20_000, 1, 2_000, 2_000
    rows = []
    for name, bench_args in plan(args.scale, args.soak_days, args.soak_contacts, args.changes):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures, seconds = run(bench_args)
        rows.append({"bench": name, "seconds": round(seconds, 1), **figures})
        print(f"| {name} | {seconds:.0f} s | {json.dumps(figures)} |", file=sys.stderr)
    print(
        f"seqguard benchmarks, {datetime.now(UTC):%Y-%m-%d}, {platform.node()} "
        f"({platform.machine()}, Python {platform.python_version()}), scale {args.scale:,}\n"
    )
    print("| benchmark | wall | figures |\n| --- | --- | --- |")
    for row in rows:
        figures = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("bench", "seconds"))
        print(f"| {row['bench']} | {row['seconds']} s | {figures} |")
    print(json.dumps({"scale": args.scale, "results": rows}))


if __name__ == "__main__":
    main()
