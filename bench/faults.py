"""Fault trials: seqguard's cycle under crashes and hostile conditions loses nothing and
posts nothing twice.

    .venv/bin/python bench/faults.py [--kills 50] [--contacts 300] [--seed 0] [--only KIND]
        [--lock-kills 20] [--repossessor-seconds 15]

Every trial plays the same scenario on a fresh sandbox and database:

- T0: web-form subscribers appear (a play will enroll them at T0 + 30 min), then the
  first cycle (a full sync);
- T1: reps enroll people at the sequencer by hand (some of them excluded), then a cycle;
- T2: the cycle under test posts the play's enrollments and the unenrolls. Its fault:
  `kill -9` at a random point of sync, decide or post (the process reports where it is
  at each step boundary; the kill lands a uniform random time into the chosen step,
  timed from a clean run); a 429 storm; 20% 5xx; 2 s latency per call; the DuckDB file
  held by another process; or 1,000 malformed CRM records (hypothesis) added at T1;
- recovery: the cycle at T2 again (until it completes; at most 5 tries), then at T3.

The crash-lock case (`--only crash-lock`, not in the default set) is apart: against a real
`prefect server start`, `seqguard cycle` (the CLI) is killed with `kill -9` a uniform random
time into its run, `--lock-kills` times; after each kill it measures when the cycle lock
(the Prefect lease and the file lock) is free again, then runs a normal CLI cycle, which
must run, not be skipped: the lock must not outlive its holder by more than a minute.

A clean run of the scenario is the reference. For each trial: lost = reference
unenrolls or enrollments missing at the sequencer; duplicate = enrollments beyond the
reference, plus unenroll writes seqguard repeated (the sandbox logs every write). The
circuit breaker's held runs are approved on the spot, as an operator would. Each kind
prints its lost / duplicate counts (0 / 0 expected); the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.churn import SEQUENCES, approve_held  # noqa: E402
from sandbox.client import SandboxClient, running_sandbox  # noqa: E402

T0 = datetime(2026, 3, 2, 8, 0)
CYCLE = timedelta(minutes=15)
PHASES = {"sync": "sync_crm", "decide": "decide_changes", "post": "post_changes"}
FORM_FILLS = 8
REP_ENROLLMENTS = 24


# ---- the cycle in a child process, telling where it is ---------------------------------


def child_main(db: str, project: str, url: str, cert: str, now: str) -> int:
    """One cycle (and the operator's approval of a held run), printing each step's
    start and end so the parent can kill it inside a chosen step."""
    from flows.cycle import run_cycle
    from tasks import steps

    for name in {*PHASES.values(), "evaluate_rules", "queue_plays", "build_model",
                 "read_enrollments", "check_breaker"}:
        task = getattr(steps, name)
        task.fn = _announced(name, task.fn)
    moment = datetime.fromisoformat(now)
    run_cycle(db, project, url, cert, moment, dry_run=False)
    _announce("approve", "start")
    approve_held(db, url, cert, moment)
    _announce("approve", "end")
    print("cycle done", flush=True)
    return 0


def _announce(name: str, edge: str) -> None:
    print(f"step {name} {edge} {time.monotonic():.4f}", flush=True)


def _announced(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        _announce(name, "start")
        result = fn(*args, **kwargs)
        _announce(name, "end")
        return result

    return run


def cycle_here(db: str, project: str, sandbox: SandboxClient, now: datetime) -> None:
    """A cycle in this process (the clean ones: no child to start), then the operator."""
    from flows.cycle import run_cycle

    run_cycle(db, project, sandbox.url, sandbox.cert, now, dry_run=False)
    approve_held(db, sandbox.url, sandbox.cert, now)


@dataclass
class CycleRun:
    """One child cycle: how it ended and when each step started and ended."""

    returncode: int | None
    killed_in: str | None
    steps: dict[str, tuple[float, float | None]]
    error: str


def run_child(db: str, project: str, sandbox: SandboxClient, now: datetime, *,
              kill_in: str | None = None, kill_after: float = 0.0,
              timeout: float = 900) -> CycleRun:
    """Run one cycle in a child; with `kill_in`, SIGKILL it `kill_after` seconds into
    that step (or wherever it has got to by then)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "ERROR"}
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "child", db, project, sandbox.url,
         sandbox.cert, now.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    steps: dict[str, tuple[float, float | None]] = {}
    current: list[str] = []
    killed: list[str] = []
    timer: list[threading.Timer] = []

    def kill() -> None:
        if process.poll() is None:
            killed.append(current[-1] if current else "start")
            process.send_signal(signal.SIGKILL)

    assert process.stdout is not None
    for line in process.stdout:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "step":
            name, edge, moment = parts[1], parts[2], float(parts[3])
            if edge == "start":
                steps[name] = (moment, None)
                current.append(name)
                if kill_in and name == PHASES.get(kill_in, kill_in) and not timer:
                    timer.append(threading.Timer(kill_after, kill))
                    timer[0].start()
            else:
                steps[name] = (steps[name][0], moment)
    stderr = process.stderr.read() if process.stderr else ""
    process.wait(timeout)
    for t in timer:
        t.cancel()
    error = "" if process.returncode == 0 or killed else _last_line(stderr)
    return CycleRun(process.returncode, killed[0] if killed else None, steps, error)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# ---- the scenario ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What seqguard left at the sequencer, in the terms lost/duplicate are counted in."""

    unenrolled: Counter          # (contact, sequence) unenrolled
    enrolled: Counter            # (contact, sequence) enrollments seqguard made
    unenroll_writes: Counter     # (contact, sequence, reason) unenroll writes

    def compare(self, reference: Outcome) -> tuple[int, int]:
        """(lost, duplicate) against the reference run."""
        lost = (sum((reference.unenrolled - self.unenrolled).values())
                + sum((reference.enrolled - self.enrolled).values()))
        duplicate = (sum((self.enrolled - reference.enrolled).values())
                     + sum(max(0, n - 1) for n in self.unenroll_writes.values()))
        return lost, duplicate


@dataclass
class Scenario:
    """The trial scenario on one sandbox; `run()` plays it with one fault."""

    sandbox: SandboxClient
    work: Path
    contacts: int
    seed: int
    project: Path = field(init=False)
    _rep_pairs: set[tuple[str, str]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.project = self.work / "project"
        if not self.project.exists():
            shutil.copytree(ROOT / "sql", self.project / "sql")

    def fresh(self, name: str) -> str:
        """A reset sandbox with the T0 subscribers, and an empty database path."""
        self.sandbox.set_clock(T0)
        self.sandbox.reset(seed=self.seed, contacts=self.contacts, now=T0)
        self.sandbox.define_sequences(SEQUENCES)
        owners = sorted(str(o["id"]) for o in self.sandbox.table("hs_owners"))
        self.sandbox.upsert_hubspot("contacts", [
            {"properties": {"email": f"form.{i}@guests{i % 4}.example", "firstname": "Form",
                            "lastname": f"Fill{i}", "lifecyclestage": "subscriber",
                            "hubspot_owner_id": owners[i % len(owners)]}}
            for i in range(FORM_FILLS)])
        db = self.work / f"{name}.duckdb"
        for path in (db, db.with_suffix(".duckdb.wal")):
            path.unlink(missing_ok=True)
        return str(db)

    def rep_enroll(self) -> None:
        """Reps put people into sequences by hand: a fixed, seeded choice of contacts."""
        contacts = sorted((r for r in self.sandbox.table("hs_contacts")
                           if r.get("hs_email_optout") != "true" and r.get("email")),
                          key=lambda r: int(r["id"]))
        chosen = random.Random(self.seed).sample(contacts, REP_ENROLLMENTS)
        http = self.sandbox.http
        for i, row in enumerate(chosen):
            response = http.post(
                f"{self.sandbox.url}/automation/v4/sequences/enrollments",
                params={"userId": "5100001"}, headers={"Authorization": "Bearer sandbox-token"},
                json={"sequenceId": "9001" if i % 2 else "9002", "contactId": str(row["id"]),
                      "senderEmail": "avery.nguyen@seqguard-sandbox.test"},
                timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"rep enrollment refused: {response.text}")

    def cycle(self, db: str, now: datetime) -> None:
        cycle_here(db, str(self.project), self.sandbox, now)

    def recover(self, db: str, now: datetime, attempts: int = 5) -> int:
        """Rerun the cycle at the same time until it completes; returns the tries."""
        for attempt in range(1, attempts + 1):
            try:
                self.cycle(db, now)
                return attempt
            except Exception as exc:  # a cycle that still fails is retried, as cron would
                error = exc
        raise RuntimeError(f"the cycle at {now:%H:%M} did not complete in {attempts} tries: "
                           f"{error}")

    def outcome(self) -> Outcome:
        rep = self._rep_pairs
        enrolled: Counter = Counter()
        unenrolled: Counter = Counter()
        for e in self.sandbox.enrollments():
            pair = (str(e["contact_id"]), str(e["sequence_id"]))
            if e["state"] == "unenrolled":
                unenrolled[pair] += 1
            if pair not in rep:
                enrolled[pair] += 1
        writes: Counter = Counter()
        for event in self.sandbox.events():
            if event["object"] != "contacts":
                continue
            properties = (json.loads(event["payload"] or "{}").get("properties") or {})
            if properties.get("seqguard_unenroll_sequence"):
                writes[(event["record_id"], properties["seqguard_unenroll_sequence"],
                        properties.get("seqguard_unenroll_at"))] += 1
        return Outcome(unenrolled, enrolled, writes)

    def run(self, name: str, fault: Callable[[str], CycleRun | None],
            before_t1: Callable[[], None] | None = None) -> tuple[Outcome, CycleRun | None, int]:
        """Play the scenario; `fault(db)` runs the T2 cycle its way (a child run, or None
        when it ran here). Returns the outcome, the faulted run and the recovery tries."""
        db = self.fresh(name)
        self.cycle(db, T0)
        self.sandbox.set_clock(T0 + CYCLE)
        self.rep_enroll()
        self._rep_pairs = {(str(e["contact_id"]), str(e["sequence_id"]))
                           for e in self.sandbox.enrollments()}
        if before_t1:
            before_t1()
        self.cycle(db, T0 + CYCLE)
        self.sandbox.set_clock(T0 + 2 * CYCLE)
        faulted = fault(db)
        tries = self.recover(db, T0 + 2 * CYCLE)
        self.sandbox.set_clock(T0 + 3 * CYCLE)
        self.cycle(db, T0 + 3 * CYCLE)
        return self.outcome(), faulted, tries


# ---- the trials ------------------------------------------------------------------------


@dataclass
class TrialResult:
    kind: str
    lost: int
    duplicate: int
    detail: str
    seconds: float


@dataclass
class Trials:
    """The fault kinds over one scenario and its clean reference."""

    scenario: Scenario
    reference: Outcome | None = None
    timings: dict[str, float] = field(default_factory=dict)
    results: list[TrialResult] = field(default_factory=list)

    def prepare(self) -> Outcome:
        """The clean run: the reference outcome and each step's duration at T2."""
        runs: list[CycleRun] = []

        def clean(db: str) -> None:
            run = run_child(db, str(self.scenario.project), self.scenario.sandbox,
                            T0 + 2 * CYCLE)
            if run.returncode != 0:
                raise RuntimeError(f"the clean cycle failed: {run.error}")
            runs.append(run)

        self.reference, _, _ = self.scenario.run("reference", clean)
        self.timings = {name: (end or start) - start
                        for name, (start, end) in runs[0].steps.items()}
        if not self.reference.unenrolled or not self.reference.enrolled:
            raise RuntimeError(
                "the reference run changed nothing (unenrolled "
                f"{sum(self.reference.unenrolled.values())}, enrolled "
                f"{sum(self.reference.enrolled.values())}): the trials would prove nothing")
        return self.reference

    def _judge(self, kind: str, outcome: Outcome, detail: str, started: float) -> TrialResult:
        assert self.reference is not None
        lost, duplicate = outcome.compare(self.reference)
        result = TrialResult(kind, lost, duplicate, detail,
                             round(time.perf_counter() - started, 1))
        self.results.append(result)
        return result

    def kill(self, phase: str, rng: random.Random) -> TrialResult:
        """kill -9 a uniform random time into one step of the T2 cycle."""
        started = time.perf_counter()
        window = self.timings.get(PHASES[phase], 0.0)
        if phase == "post":  # held rows are posted by the operator right after the step
            window += self.timings.get("approve", 0.0)
        after = rng.uniform(0, max(window, 0.05))
        seen: list[CycleRun] = []

        def fault(db: str) -> CycleRun:
            run = run_child(db, str(self.scenario.project), self.scenario.sandbox,
                            T0 + 2 * CYCLE, kill_in=phase, kill_after=after)
            seen.append(run)
            return run

        outcome, run, tries = self.scenario.run(f"kill-{phase}", fault)
        where = run.killed_in if run and run.killed_in else "after it finished"
        return self._judge(f"kill -9 in {phase}", outcome,
                           f"{after:.2f} s in, landed in {where}; recovered in {tries}", started)

    def faults(self, kind: str, settings: dict[str, Any]) -> TrialResult:
        """The T2 cycle with the sandbox injecting faults (reset before recovery)."""
        started = time.perf_counter()
        sandbox = self.scenario.sandbox

        said: list[str] = []

        def fault(db: str) -> None:
            sandbox.faults(**settings)
            try:
                self.scenario.cycle(db, T0 + 2 * CYCLE)
                said.append("completed")
            except Exception as exc:  # failing cleanly is allowed; losing things is not
                said.append(f"failed ({type(exc).__name__}: {str(exc)[:160]})")
            finally:
                sandbox.faults()

        outcome, _, tries = self.scenario.run(kind.replace(" ", "-"), fault)
        return self._judge(kind, outcome, f"under fault {said[0]}; recovered in {tries}",
                           started)

    def held_file(self) -> TrialResult:
        """Another process holds the DuckDB file for writing during the T2 cycle."""
        started = time.perf_counter()

        said: list[str] = []

        def fault(db: str) -> None:
            with holding(db):
                try:
                    self.scenario.cycle(db, T0 + 2 * CYCLE)
                    said.append("completed (it waited)")
                except Exception as exc:  # the one-line error is what we want to see
                    said.append(f"{type(exc).__name__}: {exc}")

        outcome, _, tries = self.scenario.run("held", fault)
        return self._judge("DuckDB file held", outcome, f"{said[0]}; recovered in {tries}",
                           started)

    def fuzz(self, count: int = 1000) -> TrialResult:
        """1,000 malformed CRM records (hypothesis) arrive with the reps' enrollments."""
        started = time.perf_counter()
        records = malformed_records(count, self.scenario.seed)

        def add() -> None:
            for obj, rows in records.items():
                for chunk in range(0, len(rows), 250):
                    self.scenario.sandbox.upsert_hubspot(obj, rows[chunk:chunk + 250])

        said: list[str] = []

        def fault(db: str) -> None:
            try:
                self.scenario.cycle(db, T0 + 2 * CYCLE)
                said.append("completed")
            except Exception as exc:  # a crash on bad data is a finding: say which
                said.append(f"failed ({type(exc).__name__}: {str(exc)[:160]})")

        outcome, _, tries = self.scenario.run("fuzz", fault, before_t1=add)
        status = said[0]
        return self._judge(f"{count} malformed records", outcome,
                           f"cycle {status}; recovered in {tries}", started)


@contextmanager
def holding(db: str) -> Iterator[None]:
    """Another process with the database open for writing (DuckDB's file lock)."""
    code = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(3600)")
    holder = subprocess.Popen([sys.executable, "-c", code, db], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "holding":
            raise RuntimeError("the holder process could not open the database")
        yield
    finally:
        holder.kill()
        holder.wait(10)


def malformed_records(count: int, seed: int) -> dict[str, list[dict]]:
    """`count` HubSpot records with the mess real CRMs hold: broken emails and times,
    labels where internal values belong, huge and odd text, duplicates. Drawn by
    hypothesis, derandomized, so a seed gives the same records."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    text = st.text(min_size=0, max_size=300)
    odd_email = st.one_of(text, st.just(""), st.just("no-at-sign"), st.just("two@@x.example"),
                          st.emails().map(lambda e: f"  {e.upper()} "),
                          st.builds(lambda n: f"dup{n}@fuzz.example", st.integers(0, 20)))
    odd_time = st.one_of(text, st.just("2026-13-45T99:99:99Z"), st.just("-1"),
                         st.integers(-10**15, 10**15).map(str), st.just("yesterday"))
    contact = st.fixed_dictionaries({"properties": st.fixed_dictionaries({
        "email": odd_email, "firstname": text,
        "lifecyclestage": st.sampled_from(["Customer", "customer ", "", "LEAD", "??"]),
        "hs_email_optout": st.sampled_from(["yes", "TRUE", "0", "", "maybe"]),
        "hs_additional_emails": text})})
    email = st.fixed_dictionaries({"properties": st.fixed_dictionaries({
        "hs_email_direction": st.sampled_from(["INCOMING_EMAIL", "incoming", "", "EMAIL", "?"]),
        "hs_email_from_email": odd_email, "hs_email_to_email": odd_email,
        "hs_email_subject": text, "hs_email_headers": st.one_of(text, st.just("{not json")),
        "hs_timestamp": odd_time})})
    deal = st.fixed_dictionaries({"properties": st.fixed_dictionaries({
        "dealname": text, "dealstage": st.sampled_from(["Closed Won", "open", "", "closedwon"]),
        "amount": st.one_of(text, st.just("1,000.00")), "closedate": odd_time})})
    company = st.fixed_dictionaries({"properties": st.fixed_dictionaries({
        "name": text, "domain": st.one_of(text, st.just("https://"), st.just("www.")),
        "hs_additional_domains": text})})
    kinds = {"contacts": contact, "emails": email, "deals": deal, "companies": company}
    drawn: dict[str, list[dict]] = {}
    for obj, strategy in kinds.items():
        rows: list[dict] = []

        # each example is one record: hypothesis draws `count // 4` of them, derandomized
        # (the same records every run), generating only (nothing fails, nothing to shrink)
        @settings(max_examples=count // len(kinds), database=None, derandomize=True,
                  deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def draw(record: dict) -> None:
            rows.append(record)  # noqa: B023 - drawn now, within this iteration

        draw()
        random.Random(seed).shuffle(rows)
        drawn[obj] = rows
    for rows in drawn.values():
        for row in rows:  # no CRM stores NUL characters
            row["properties"] = {k: v.replace("\x00", "") for k, v in row["properties"].items()}
    return drawn


# ---- the crash-lock case ---------------------------------------------------------------


LOCK_FREE_WITHIN = 60.0  # seconds after the crash: the next cycle runs within a minute


@dataclass
class LockTrial:
    kill_after: float    # seconds into the CLI cycle
    landed: bool         # the cycle was still running when the kill came
    held: bool           # the Prefect slot was still taken right after the kill
    freed_after: float   # seconds from the kill until the whole lock was free
    next_cycle: str      # "ran", "skipped", or "failed: <its last line>"


def cli_cycle(env: dict[str, str], db: Path, project: Path,
              sandbox: SandboxClient) -> subprocess.Popen:
    """`seqguard cycle` as a user runs it, against the server in `env`."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "seqguard"), "cycle", "--db", str(db),
         "--project", str(project), "--sandbox", sandbox.url, "--sandbox-cert",
         str(sandbox.cert)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def cycle_outcome(process: subprocess.Popen) -> str:
    _, stderr = process.communicate(timeout=900)
    if process.returncode == 0:
        return "ran"
    if process.returncode == 75:
        return "skipped"
    return f"failed: {_last_line(stderr)}"


def lock_taken(db: Path) -> tuple[bool, bool]:
    """(Prefect slot taken, file lock taken) of `db`'s cycle lock, without taking it."""
    import fcntl

    from prefect.client.orchestration import get_client

    from tasks.run import lock as cycle_lock

    with get_client(sync_client=True) as client:
        slot = client.read_global_concurrency_limit_by_name(
            cycle_lock.lock_name(str(db))).active_slots > 0
    path = cycle_lock.lock_file(str(db))
    assert path is not None
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return slot, True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return slot, False


def crash_lock_trials(*, kills: int, contacts: int, seed: int, repossessor_seconds: float,
                      workdir: str | Path | None = None,
                      report: Callable[[LockTrial], None] | None = None) -> dict[str, Any]:
    """kill -9 of a CLI cycle `kills` times; after each, the time until its lock is free
    and whether the next cycle runs."""
    from bench.prefect_server import running_prefect_server

    rng = random.Random(seed)
    trials: list[LockTrial] = []
    with tempfile.TemporaryDirectory(prefix="crash-lock-") as scratch:
        work = Path(workdir or scratch)
        (work / "prefect").mkdir(parents=True, exist_ok=True)
        project, db = work / "project", work / "lock.duckdb"
        if not project.exists():
            shutil.copytree(ROOT / "sql", project / "sql")
        with running_sandbox(work / "sandbox") as sandbox, \
                running_prefect_server(work / "prefect", repossessor_seconds) as server:
            sandbox.reset(seed=seed, contacts=contacts)
            env = server.env()
            if (first := cycle_outcome(cli_cycle(env, db, project, sandbox))) != "ran":
                raise RuntimeError(f"the first (full) cycle did not run: {first}")
            started = time.monotonic()
            if (clean := cycle_outcome(cli_cycle(env, db, project, sandbox))) != "ran":
                raise RuntimeError(f"the clean cycle did not run: {clean}")
            duration = time.monotonic() - started
            with server.settings():
                for _ in range(kills):
                    after = rng.uniform(0, duration)
                    process = cli_cycle(env, db, project, sandbox)
                    time.sleep(after)
                    landed = process.poll() is None
                    process.kill()
                    process.communicate()
                    killed = time.monotonic()
                    held = lock_taken(db)[0]
                    while any(lock_taken(db)) and time.monotonic() - killed < 600:
                        time.sleep(0.5)
                    freed = time.monotonic() - killed
                    trial = LockTrial(round(after, 2), landed, held, round(freed, 1),
                                      cycle_outcome(cli_cycle(env, db, project, sandbox)))
                    trials.append(trial)
                    if report:
                        report(trial)
    freed_after = sorted(t.freed_after for t in trials)
    return {"trials": len(trials),
            "ran": sum(t.next_cycle == "ran" for t in trials),
            "skipped": sum(t.next_cycle == "skipped" for t in trials),
            "failed": sum(t.next_cycle.startswith("failed") for t in trials),
            "killed_running": sum(t.landed for t in trials),
            "held_at_kill": sum(t.held for t in trials),
            "freed_within_60_s": sum(t.freed_after <= LOCK_FREE_WITHIN for t in trials),
            "freed_after_max_s": freed_after[-1] if trials else None,
            "freed_after_median_s": freed_after[len(freed_after) // 2] if trials else None,
            "clean_cycle_s": round(duration, 1), "repossessor_loop_s": repossessor_seconds}


# ---- main ------------------------------------------------------------------------------


def run_trials(*, kills: int, contacts: int, seed: int, only: set[str] | None = None,
               workdir: str | Path | None = None,
               report: Callable[[TrialResult], None] | None = None) -> dict[str, Any]:
    """Run the trials and return {kind: {trials, lost, duplicate}}."""
    rng = random.Random(seed)
    wanted = only or {"kill", "429", "5xx", "latency", "held", "fuzz"}
    with tempfile.TemporaryDirectory(prefix="faults-") as scratch:
        work = Path(workdir or scratch)
        with running_sandbox(work / "sandbox") as sandbox:
            trials = Trials(Scenario(sandbox, work, contacts, seed))
            trials.prepare()
            plan: list[Callable[[], TrialResult]] = []
            if "kill" in wanted:
                phases = list(PHASES)
                plan += [lambda p=phases[i % 3]: trials.kill(p, rng) for i in range(kills)]
            if "429" in wanted:
                plan.append(lambda: trials.faults("429 storm", {"rate_limit_per_10s": 10}))
            if "5xx" in wanted:
                plan.append(lambda: trials.faults("20% 5xx", {"error_rate": 0.2}))
            if "latency" in wanted:
                plan.append(lambda: trials.faults("2 s latency", {"latency_ms": 2000}))
            if "held" in wanted:
                plan.append(trials.held_file)
            if "fuzz" in wanted:
                plan.append(trials.fuzz)
            for step in plan:
                result = step()
                if report:
                    report(result)
    summary: dict[str, Any] = {}
    for result in trials.results:
        kind = "kill -9" if result.kind.startswith("kill") else result.kind
        entry = summary.setdefault(kind, {"trials": 0, "lost": 0, "duplicate": 0})
        entry["trials"] += 1
        entry["lost"] += result.lost
        entry["duplicate"] += result.duplicate
    return {"summary": summary, "results": [asdict(r) for r in trials.results],
            "reference": {"unenrolled": sum(trials.reference.unenrolled.values()),
                          "enrolled": sum(trials.reference.enrolled.values())}
            if trials.reference else {}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        return child_main(*argv[1:6])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append",
                        choices=["kill", "429", "5xx", "latency", "held", "fuzz", "crash-lock"])
    parser.add_argument("--lock-kills", type=int, default=20,
                        help="kill -9 trials of the crash-lock case (default %(default)s)")
    parser.add_argument("--repossessor-seconds", type=float, default=15,
                        help="the Prefect server's lease repossessor loop for the crash-lock "
                             "case (default %(default)s, Prefect's own)")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    only = set(args.only) if args.only else None
    crash: dict[str, Any] = {}
    if only and "crash-lock" in only:
        def report_lock(trial: LockTrial) -> None:
            print(f"crash-lock: killed {trial.kill_after} s in"
                  f"{'' if trial.landed else ' (after it had finished)'}; lock "
                  f"{'held' if trial.held else 'not held'} at the kill, free after "
                  f"{trial.freed_after} s; next cycle {trial.next_cycle}", flush=True)

        crash["crash-lock"] = crash_lock_trials(
            kills=args.lock_kills, contacts=args.contacts, seed=args.seed,
            repossessor_seconds=args.repossessor_seconds, workdir=args.workdir,
            report=report_lock)
        only.discard("crash-lock")
        if not only:
            print(json.dumps(crash))
            return 0

    def report(result: TrialResult) -> None:
        print(f"{result.kind}: lost {result.lost} / duplicate {result.duplicate} "
              f"({result.detail}; {result.seconds} s)", flush=True)

    outcome = run_trials(kills=args.kills, contacts=args.contacts, seed=args.seed,
                         only=only, workdir=args.workdir, report=report)
    print(f"reference: {json.dumps(outcome['reference'])}")
    for kind, entry in outcome["summary"].items():
        print(f"{kind}: {entry['trials']} trials, lost {entry['lost']} / "
              f"duplicate {entry['duplicate']}")
    print(json.dumps({**outcome["summary"], **crash}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
