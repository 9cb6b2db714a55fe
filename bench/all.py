"""`make bench`: every benchmark at one scale, one table of their headline figures.

    python bench/all.py [--scale 1000000] [--sync-scale N] [--soak-days 7 --soak-contacts 20000]
                        [--results bench/results] [--reuse] [--only KEY ...] [--quick]
                        [--sequencer hubspot|outreach|salesloft|apollo]

Each benchmark runs as a child process and prints one JSON object as its last line; this
saves it as RESULTS/<key>.json (with its arguments, wall seconds, date and machine) the
moment it finishes, so a long run can be resumed with --reuse (a saved result with the
same arguments and no error is taken instead of running again), and one benchmark can be
run again alone with --only KEY. The markdown table comes first, the JSON of every
result last. Run it on an otherwise idle machine: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent
MIB_PER_GIB = 1024
QUICK = {"scale": 20_000, "soak_days": 1, "soak_contacts": 2_000, "changes": 20_000, "kills": 6}


@dataclass(frozen=True)
class Bench:
    """One benchmark: its key (and saved file name), its row title, its arguments, and
    how its JSON (and its wall seconds) becomes the row's few headline figures."""

    key: str
    title: str
    args: list[str]
    headline: Callable[[dict, float], str]


# ---- the headline figures of each benchmark's JSON -------------------------------------


def secs(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:,.0f} s"


def duration(seconds: float) -> str:
    """A benchmark's wall time: minutes once it is long."""
    return f"{seconds / 60:,.0f} min" if seconds >= 600 else f"{seconds:.0f} s"


def mem(mib: float) -> str:
    return f"{mib / MIB_PER_GIB:.1f} GiB" if mib >= MIB_PER_GIB else f"{mib:.0f} MiB"


def cycle_steps(cycle: dict) -> str:
    """The steps that took a noticeable share, in the order they ran."""
    shown = [f"{name} {secs(step['s'])}" for name, step in cycle["steps"].items()
             if step["s"] >= 0.1]
    return ", ".join(shown)


def cycle_row(r: dict, wall: float) -> str:
    full, inc = r["full"], r["incremental_1pct"]
    held = [label for label, c in (("full", full), ("incremental", inc)) if c["breaker_tripped"]]
    return (f"{r['contacts']:,} people, {r['enrollments']:,} enrollments. "
            f"**full {secs(full['total_s'])}**, peak RSS {mem(full['peak_rss_mib'])}: "
            f"{cycle_steps(full)}. **incremental 1% {secs(inc['total_s'])}** "
            f"({r['incremental_pct_of_full']}% of full), peak RSS {mem(inc['peak_rss_mib'])}: "
            f"{cycle_steps(inc)}"
            + (f". Circuit breaker held the unenrolls ({', '.join(held)})" if held else ""))


def sandbox_row(r: dict, wall: float) -> str:
    text = f"generate {r['contacts']:,} contacts {secs(r['generate_seconds'])} " \
           f"(peak RSS {mem(r['generate_rss_mib'])})"
    if "hubspot_pages_per_s" in r:
        text += (f"; serve {r['hubspot_pages_per_s']} pages/s of 100 contacts, "
                 f"server RSS {mem(r['serve_rss_mib'])}")
    return text


def sync_row(r: dict, wall: float) -> str:
    hub, sales = r["hubspot_full"], r["salesforce_full"]
    text = (f"at {r['contacts']:,} contacts: HubSpot {hub['rows_per_s']:,} rows/s, "
            f"Salesforce {sales['rows_per_s']:,} rows/s")
    if "hubspot_vs_dlt" in r:
        text += (f"; **{r['hubspot_vs_dlt']}× dlt** ({r['dlt_hubspot']['rows_per_s']:,} rows/s, "
                 f"peak RSS {mem(r['dlt_hubspot']['peak_rss_mib'])})")
    text += (f"; incremental 1%: {r['hubspot_incremental']['pct_of_full_time']}% (HubSpot), "
             f"{r['salesforce_incremental']['pct_of_full_time']}% (Salesforce) of full time")
    limited = r["rate_limited"]
    return (text + f"; rate-limited: {limited['budget_used_pct']}% of budget used, "
            f"unretried 429s {limited['unretried_429']}; peak RSS {mem(r['peak_rss_mib'])}")


def model_row(r: dict, wall: float) -> str:
    builds = r["build_seconds"]  # one per rebuild; the first has a cold cache
    return (f"{r['raw_rows']:,} raw rows: rebuild {secs(min(builds))} (first "
            f"{secs(builds[0])}), after a 1% change {secs(r['changed_1pct_seconds'])}; "
            f"peak RSS {mem(r['peak_rss_mib'])}")


def rules_row(r: dict, wall: float) -> str:
    return (f"{r['rules']} rules over {r['people']:,} people: engine {secs(r['engine_s'])}, "
            f"bare DuckDB {secs(r['bare_duckdb_s'])}, **ratio {r['ratio_median_round']}** "
            f"(median of rounds {r['ratio_per_round']}; best times {r['ratio']}, CPU "
            f"{r['ratio_cpu']}); goal ≤ 1.3× {'met' if r['goal_met'] else 'NOT met'}")


def post_row(r: dict, wall: float) -> str:
    return (f"{r['changes']:,} {r['crm']} {r['kind']}s in {secs(r['post_seconds'])}: "
            f"**{r['throughput_pct_of_limit']}% of the {r['rate_limit_per_10s']}/10 s limit**, "
            f"429/403 {r['requests_429_or_403']}, lost {r['lost']}, duplicate {r['duplicate']}")


def idle_row(r: dict, wall: float) -> str:
    return (f"at {r['contacts']:,} contacts, {r['open_hubspot_enrollments']:,} open HubSpot "
            f"enrollments: **{r['hubspot_requests']} HubSpot requests** (target "
            f"≤ {r['request_target']}); **Prefect flow {secs(r['idle_flow_s'])}** vs "
            f"plain {secs(r['idle_plain_s'])} (overhead {secs(r['idle_flow_overhead_s'])}); "
            f"first cycle {secs(r['first_cycle_s'])}")


def soak_row(r: dict, wall: float) -> str:
    return (f"{r['days']:g} days, {r['contacts']:,} contacts, {r['cycles']} cycles, "
            f"{r['steps_sent']:,} steps sent: **wrongful sends {r['wrongful_sends']}, "
            f"wrongful removals {r['wrongful_removals']}**; latency p50 {r['latency_p50_min']} "
            f"/ p95 {r['latency_p95_min']} min; {wall / 60:.1f} min wall")


def faults_row(r: dict, wall: float) -> str:
    return "; ".join(f"{kind} ({e['trials']} trial{'s' * (e['trials'] != 1)}): lost "
                     f"{e['lost']} / duplicate {e['duplicate']}" for kind, e in r.items())


def plan(scale: int, sync_scale: int, soak_days: float, soak_contacts: int, changes: int,
         kills: int, sequencer: str = "hubspot") -> list[Bench]:
    """Every benchmark, in the order the table shows them; `sequencer`: where the post
    benchmark and the soak post (the default adds no argument, so saved results stay
    reusable)."""
    on = [] if sequencer == "hubspot" else ["--sequencer", sequencer]
    return [
        Bench("cycle", "full cycle by step, incremental 1%",
              ["cycle.py", "--contacts", str(scale)], cycle_row),
        Bench("sandbox", "sandbox: generate + serve",
              ["sandbox.py", "--contacts", str(scale)], sandbox_row),
        Bench("sync", "sync vs dlt", ["sync.py", "--contacts", str(sync_scale)], sync_row),
        Bench("model", "model rebuild", ["model.py", "--contacts", str(scale)], model_row),
        Bench("rules", "rules vs bare DuckDB", ["rules.py", "--people", str(scale)], rules_row),
        Bench("post", "posting vs rate limit", ["post.py", "--changes", str(changes),
                                                  *(["--crm", sequencer] if on else [])],
              post_row),
        Bench("idle", "idle cycle", ["idle.py", "--contacts", str(min(scale, 10_000))],
              idle_row),
        Bench("soak", "soak (independent oracle)",
              ["soak.py", "--days", f"{soak_days:g}", "--contacts", str(soak_contacts), *on],
              soak_row),
        Bench("faults", "fault trials", ["faults.py", "--kills", str(kills)], faults_row),
    ]


def headline_of(bench: Bench, saved: dict) -> str:
    """The row's figures, or what went wrong: a failed benchmark or a changed JSON."""
    figures = saved["figures"]
    if "error" in figures:
        return f"**failed**: {figures['error']}"
    try:
        return bench.headline(figures, saved["seconds"])
    except (KeyError, TypeError) as exc:
        return f"figures without {exc} (the benchmark's JSON changed?): {json.dumps(figures)[:300]}"


# ---- running and saving ----------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"node": platform.node(), "cores": os.cpu_count(),
            "ram_gib": round(ram / 1024**3, 1), "arch": platform.machine(),
            "python": platform.python_version()}


def run(args: list[str], log: TextIO, key: str) -> tuple[dict, float]:
    """Run one benchmark, its output shown as it comes and kept in `log`; its last JSON
    line (or the error it ended with) and its wall seconds."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([sys.executable, str(BENCH / args[0]), *args[1:]], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            log.write(line)
            print(f"  [{key}] {line}", end="", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    return last_json(lines, child.returncode), seconds


def last_json(lines: list[str], returncode: int) -> dict:
    """The last line that is a JSON object, if the benchmark succeeded."""
    if returncode == 0:
        for line in reversed(lines):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
    tail = [line for line in lines if line.strip()][-1:] or ["no output"]
    return {"error": f"exit {returncode}: {tail[0][:200]}"}


def reusable(path: Path, args: list[str]) -> dict | None:
    """A saved result for the same arguments that did not fail, else None (and why)."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if saved.get("args") != args:
        print(f"{path}: saved for {saved.get('args')}, not {args}; running it again",
              file=sys.stderr)
        return None
    if "error" in saved.get("figures", {}):
        print(f"{path}: the saved run failed; running it again", file=sys.stderr)
        return None
    return saved


def run_and_save(bench: Bench, results: Path) -> dict:
    """Run a benchmark and save its result (and its output, as <key>.log) at once."""
    print(f"running {bench.key}: {' '.join(bench.args)}", file=sys.stderr, flush=True)
    with (results / f"{bench.key}.log").open("w") as log:
        figures, seconds = run(bench.args, log, bench.key)
    saved = {"key": bench.key, "bench": bench.title, "args": bench.args,
             "date": datetime.now(UTC).isoformat(timespec="seconds"),
             "seconds": round(seconds, 1), "machine": machine(), "figures": figures}
    partial = results / f"{bench.key}.json.partial"  # renamed whole: never a torn file
    partial.write_text(json.dumps(saved, indent=1) + "\n")
    partial.replace(results / f"{bench.key}.json")
    print(f"{bench.key}: {seconds:.0f} s, saved to {results / bench.key}.json",
          file=sys.stderr, flush=True)
    return saved


# ---- the table -------------------------------------------------------------------------


def header(rows: list[dict], scale: int, sync_scale: int) -> str:
    """The line above the table: when, where and at what scale."""
    dates = sorted({row["date"][:10] for row in rows}) or [f"{datetime.now(UTC):%Y-%m-%d}"]
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    box = rows[0]["machine"] if rows else machine()
    where = (f"{box['node']} ({box['cores']} cores, {box['ram_gib']:g} GiB RAM, {box['arch']}, "
             f"Python {box['python']})")
    sync = f", sync vs dlt at {sync_scale:,}" if sync_scale != scale else ""
    return f"seqguard benchmarks, {when}, {where}, scale {scale:,} people{sync}"


def table(benches: list[Bench], rows: list[dict]) -> str:
    by_key = {row["key"]: row for row in rows}
    lines = ["| benchmark | figures | wall |", "| --- | --- | --- |"]
    for bench in benches:
        if bench.key in by_key:
            row = by_key[bench.key]
            cell = headline_of(bench, row).replace("|", "\\|")
            lines.append(f"| {bench.title} | {cell} | {duration(row['seconds'])} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --quick is looked for by its full name
    )
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--sync-scale", type=int, default=None,
                        help="contacts for sync vs dlt (default: --scale; dlt at 1M takes "
                             "~35 min and 11 GiB)")
    parser.add_argument("--soak-days", type=float, default=7)
    parser.add_argument("--soak-contacts", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=50, help="kill -9 fault trials")
    parser.add_argument("--sequencer", default="hubspot",
                        choices=["hubspot", "outreach", "salesloft", "apollo"],
                        help="where the post benchmark and the soak post")
    parser.add_argument("--results", type=Path, default=BENCH / "results",
                        help="where each result is saved as <key>.json")
    parser.add_argument("--reuse", action="store_true",
                        help="take a saved result with the same arguments instead of running")
    parser.add_argument("--only", action="append", metavar="KEY",
                        help="run (and show) only these; repeat or comma-separate")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes, to try it out: {QUICK} (sizes given win)")
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    args.sync_scale = args.sync_scale or args.scale
    keys = [b.key for b in plan(args.scale, args.sync_scale, args.soak_days,
                                args.soak_contacts, args.changes, args.kills, args.sequencer)]
    args.only = [k for item in args.only or [] for k in item.split(",") if k]
    unknown = sorted(set(args.only) - set(keys))
    if unknown:
        parser.error(f"--only {', '.join(unknown)}: not a benchmark; choose from {', '.join(keys)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    benches = [b for b in plan(args.scale, args.sync_scale, args.soak_days, args.soak_contacts,
                               args.changes, args.kills, args.sequencer)
               if not args.only or b.key in args.only]
    args.results.mkdir(parents=True, exist_ok=True)
    rows = []
    for bench in benches:
        saved = reusable(args.results / f"{bench.key}.json", bench.args) if args.reuse else None
        if saved:
            print(f"{bench.key}: reusing the result of {saved['date']}", file=sys.stderr)
        rows.append(saved or run_and_save(bench, args.results))
    print(header(rows, args.scale, args.sync_scale) + "\n")
    print(table(benches, rows))
    print(json.dumps({"scale": args.scale, "sync_scale": args.sync_scale, "results": rows}))


if __name__ == "__main__":
    main()
