"""The soak: days of churn against the sandbox, seqguard's cycle every 15 minutes, then
the independent oracle's verdict.

    .venv/bin/python bench/soak.py --days 7 --contacts 20000 [--seed 0] [--workflow-lag 5]

Each cycle moves the sandbox clock 15 minutes (the sequencer sends the steps that came
due, and HubSpot's unenroll workflow acts on the unenrolls seqguard wrote
`--workflow-lag` minutes earlier; `off`: it never runs), lets the churn change the CRMs,
the rules and the enrollments, then runs one seqguard cycle at that time. At the end the
oracle (bench/oracle.py, which shares no code with seqguard) judges every step sent and
every unenroll, with the workflow's lag in mind. Target (issues 8, 18): 0 wrongful sends,
0 wrongful removals, no decision written twice, p95 latency <= 15 min + the workflow's
lag + posting time, 7 days at 20,000 contacts in under 60 minutes. The figures also say
how many unenrolls seqguard wrote and how many it reported unverified (written, not yet
seen to take effect): with the workflow off, every one. The last line printed is one
JSON object.

`--cycle none` runs a seqguard that does nothing: the oracle must then report the
wrongful sends such a tool lets through (a check of the oracle itself).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import oracle, soak_vendors  # noqa: E402
from bench.churn import Churn, ManualActions, Rates, approve_held  # noqa: E402
from sandbox.client import SandboxClient, running_sandbox  # noqa: E402

START = datetime(2026, 3, 2, 8, 0)
CYCLE = timedelta(minutes=15)
PROPAGATION_DELAY = timedelta(minutes=30)  # seqguard's default; the sandbox config uses it
WORKFLOW_LAG = 5  # minutes from seqguard's unenroll write to HubSpot's workflow acting

Cycle = Callable[[str, str, str, str, datetime], Any]


def seqguard_cycle() -> Cycle:
    """seqguard's cycle without Prefect (flows.cycle.run_cycle: the flow's steps, in its order)."""
    try:
        from flows.cycle import run_cycle
    except ImportError as exc:
        raise SystemExit(f"soak: seqguard's cycle is not available ({exc}); "
                         "run with --cycle none to check the oracle alone") from exc

    def run(db: str, project: str, url: str, cert: str, now: datetime) -> Any:
        return run_cycle(db, project, url, cert, now, dry_run=False)

    return run


def no_cycle(db: str, project: str, url: str, cert: str, now: datetime) -> None:
    """A seqguard that does nothing: the oracle's own check."""


@dataclass
class SeqguardManual:
    """A user at the CLI: `seqguard unenroll` / `seqguard enroll`, as functions."""

    db: str
    url: str
    cert: str
    settings: Any = None  # seqguard.yml's (the sequencer)

    def _config(self) -> Any:
        from tasks.core.config import sandbox_config

        return sandbox_config(self.url, self.cert, self.settings)

    def unenroll(self, email: str, sequence: str | None, now: datetime) -> None:
        from tasks.decide import manual

        config = self._config()
        manual.unenroll(self.db, email, sequence, now=now, sequencer=config.sequencer,
                        actor="user:churn", config=config)

    def enroll(self, email: str, sequence: str, now: datetime) -> None:
        from tasks.decide import manual

        config = self._config()
        manual.enroll(self.db, email, sequence, now=now, sequencer=config.sequencer,
                      actor="user:churn", config=config)


@dataclass
class Operator:
    """The person watching the Prefect UI: approves what the circuit breaker held, in the
    same 15 minutes. Counted, so the soak says how often seqguard needed a human."""

    db: str
    url: str
    cert: str
    approvals: int = 0
    held_unenrolls: int = 0
    settings: Any = None

    def review(self, summary: Any, now: datetime) -> None:
        breaker = (summary or {}).get("breaker") if isinstance(summary, dict) else None
        if breaker and breaker.get("tripped"):
            self.held_unenrolls += int(breaker.get("unenrolls") or 0)
        self.approvals += approve_held(self.db, self.url, self.cert, now, self.settings)


# The soak runs 15 minutes in a few seconds, but HubSpot's budget is per 10 s of wall
# clock: a real 15 minutes allows 9,000 requests, and a cycle here needs about 110.
SOAK_SETTINGS = "crms:\n  hubspot:\n    rate_limit_per_10s: 0\n"


def copy_project(target: Path, sequencer: str = "hubspot") -> Path:
    """A project folder of our own: the churn edits its rule files."""
    shutil.copytree(ROOT / "sql", target / "sql", ignore=shutil.ignore_patterns("*.duckdb"))
    (target / "seqguard.yml").write_text(
        SOAK_SETTINGS if sequencer == "hubspot" else soak_vendors.settings(sequencer))
    return target


def run_soak(*, days: float, contacts: int, seed: int = 0, cycle: Cycle | None = None,
             workdir: str | Path | None = None, manual: bool = True, rates: Rates | None = None,
             progress: Callable[[str], None] | None = None,
             workflow_lag: int | None = WORKFLOW_LAG,
             sequencer: str = "hubspot") -> dict[str, Any]:
    """Run a soak and return the oracle's figures plus the verdict's details;
    `workflow_lag` is the HubSpot unenroll workflow's lag in minutes (None: it never
    runs)."""
    cycle = cycle or seqguard_cycle()
    cycles = round(days * 24 * 60 / 15)
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        work = Path(workdir or scratch)
        project = copy_project(work / "project", sequencer)
        from tasks.core.config import load_config

        settings = load_config(project)
        shutil.copytree(project, work / "project-start")  # the oracle reads the start state
        db = str(work / "seqguard.duckdb")
        with running_sandbox(work / "sandbox") as sandbox:
            sandbox.set_clock(START)
            sandbox.reset(seed=seed, contacts=contacts, now=START)
            sandbox.workflow(workflow_lag)
            actions: ManualActions | None = (
                SeqguardManual(db, sandbox.url, sandbox.cert, settings)
                if manual and cycle is not no_cycle else None)
            rep = (soak_vendors.VendorRep(sandbox.url, str(sandbox.cert), settings)
                   if sequencer in soak_vendors.OWN_PEOPLE_ADAPTERS else None)
            churn = Churn(sandbox, seed=seed, contacts=contacts, project_dir=project,
                          manual=actions, rates=rates, sequencer=sequencer, rep=rep)
            churn.setup(START)
            start_truth = oracle.snapshot(sandbox)
            project_files = oracle.read_project(project)
            operator = Operator(db, sandbox.url, sandbox.cert, settings=settings)
            started = time.perf_counter()
            totals, unverified = drive(sandbox, churn, cycle, operator, cycles, db,
                                       str(project), progress)
            soak_seconds = time.perf_counter() - started
            sandbox.set_clock(START + cycles * CYCLE)  # the last steps come due
            truth = oracle.collect(sandbox, start_truth)
        if workdir:
            (work / "truth.json").write_text(json.dumps(
                {"truth": asdict(truth), "log": churn.log, "days": days, "contacts": contacts,
                 "cycles": cycles, "workflow_lag": workflow_lag, "sequencer": sequencer},
                default=str))
    verdict = judge_run(truth, project_files, churn.log, workflow_lag, sequencer)
    figures = {"days": days, "contacts": contacts, "cycles": cycles, "sequencer": sequencer,
               "workflow_lag_min": workflow_lag, **verdict.summary(),
               "unenrolls_written": sum(len(w) for w in oracle.unenroll_writes(truth).values()),
               **unverified}
    return {"figures": figures, "verdict": verdict, "churn": dict(totals),
            "seconds": round(soak_seconds, 1), "log": churn.log,
            "approvals": operator.approvals, "held_unenrolls": operator.held_unenrolls}


def judge_run(truth: oracle.Truth, project: oracle.Project, log: list[dict],
              workflow_lag: int | None, sequencer: str = "hubspot") -> oracle.Verdict:
    """The oracle's verdict on one soak, with the soak's clock, seqguard's settings and
    the HubSpot workflow's lag."""
    return oracle.judge(truth, project, log, propagation_delay=PROPAGATION_DELAY, grace=CYCLE,
                        crm=sequencer, send_grid=(START, CYCLE),
                        unenroll_lag=None if workflow_lag is None
                        else timedelta(minutes=workflow_lag))


def judge_saved(workdir: str | Path) -> dict[str, Any]:
    """Judge a soak again from what it saved in its workdir (after an oracle change)."""
    work = Path(workdir)
    saved = json.loads((work / "truth.json").read_text())
    truth = oracle.Truth(**saved["truth"])
    # soaks saved before the workflow ran asynchronously had it act at once
    lag = saved.get("workflow_lag", 0)
    verdict = judge_run(truth, oracle.read_project(work / "project-start"), saved["log"], lag,
                        saved.get("sequencer", "hubspot"))
    figures = {"days": saved["days"], "contacts": saved["contacts"], "cycles": saved["cycles"],
               "sequencer": saved.get("sequencer", "hubspot"), "workflow_lag_min": lag,
               **verdict.summary()}
    return {"figures": figures, "verdict": verdict, "churn": {}, "seconds": None,
            "log": saved["log"], "approvals": None, "held_unenrolls": None}


def drive(sandbox: SandboxClient, churn: Churn, cycle: Cycle, operator: Operator, cycles: int,
          db: str, project: str, progress: Callable[[str], None] | None
          ) -> tuple[Counter, dict[str, int | None]]:
    """Clock, churn, cycle (and the operator's look at it), once per 15 minutes. Returns
    the churn's counts and what seqguard reported unverified: the most in one run, at the
    end, and how many distinct unenrolls it ever listed so."""
    totals: Counter = Counter()
    reported: list[int] = []
    listed: set[str] = set()
    started = time.perf_counter()
    for i in range(cycles):
        now = START + i * CYCLE
        sandbox.set_clock(now)
        totals.update(churn.step(now))
        summary = cycle(db, project, sandbox.url, sandbox.cert, now)
        if cycle is not no_cycle:
            operator.review(summary, now)
            read = summary.get("enrollments") or {}
            reported.append(int(read.get("unverified_total") or 0))
            listed.update(u["change_id"] for u in read.get("unverified") or [])
        if progress and (i + 1) % 96 == 0:
            rate = (time.perf_counter() - started) / (i + 1)
            progress(f"cycle {i + 1}/{cycles}: {rate:.2f} s per cycle, "
                     f"eta {rate * (cycles - i - 1) / 60:.1f} min")
    return totals, {"unverified_max": max(reported, default=None),
                    "unverified_at_end": reported[-1] if reported else None,
                    "unverified_listed": len(listed) if reported else None}


def print_findings(result: dict[str, Any], limit: int = 15) -> None:
    verdict: oracle.Verdict = result["verdict"]
    if result["churn"]:
        print(f"churn: {json.dumps(result['churn'], sort_keys=True)}")
    for row in verdict.duplicate_writes[:limit]:
        print(f"duplicate write: {json.dumps(row, default=str)}")
    print(f"soak wall time: {result['seconds']} s; removals judged: {len(verdict.removals)}; "
          f"wrongful enrollments: {len(verdict.wrongful_enrollments)}; runs the circuit "
          f"breaker held and the operator approved: {result['approvals']} "
          f"({result['held_unenrolls']} unenrolls)")
    if verdict.unmodelled_rules:
        print(f"rules the oracle cannot judge (left out): {', '.join(verdict.unmodelled_rules)}")
    for title, rows in (("wrongful send", verdict.wrongful_sends),
                        ("wrongful removal", verdict.wrongful_removals),
                        ("wrongful enrollment", verdict.wrongful_enrollments)):
        for row in rows[:limit]:
            print(f"{title}: {json.dumps(row, default=str)}")
        if len(rows) > limit:
            print(f"... and {len(rows) - limit} more of {title}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cycle", choices=["seqguard", "none"], default="seqguard")
    parser.add_argument("--workflow-lag", default=str(WORKFLOW_LAG), metavar="MINUTES",
                        help="HubSpot's unenroll workflow acts this long after seqguard's "
                             "write; 'off': it never runs (default %(default)s)")
    parser.add_argument("--sequencer", default="hubspot",
                        choices=["hubspot", *soak_vendors.OWN_PEOPLE_ADAPTERS],
                        help="where changes are posted; the CRMs stay HubSpot and Salesforce")
    parser.add_argument("--workdir", help="keep the sandbox, project, database and truth here")
    parser.add_argument("--judge", metavar="WORKDIR",
                        help="only judge again the soak saved in WORKDIR")
    args = parser.parse_args(argv)
    if args.judge:
        result = judge_saved(args.judge)
        print_findings(result)
        print(json.dumps(result["figures"]))
        return 0
    cycle = no_cycle if args.cycle == "none" else seqguard_cycle()
    lag = None if args.workflow_lag == "off" else int(args.workflow_lag)
    result = run_soak(days=args.days, contacts=args.contacts, seed=args.seed, cycle=cycle,
                      workdir=args.workdir, workflow_lag=lag, sequencer=args.sequencer,
                      progress=lambda line: print(line, file=sys.stderr, flush=True))
    print_findings(result)
    print(json.dumps(result["figures"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
