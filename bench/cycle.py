"""The full cycle by step: a first (full) cycle over N people, then an incremental one
after 1% of the contacts changed in both CRMs.

    python bench/cycle.py --contacts 1000000 [--seed 7]

The cycle is flows/cycle.py's `run_cycle` itself (the flow's steps without Prefect): while
it runs, each step in `tasks.steps` is stood in for by a timed call of the same function,
so the steps, their order and their arguments stay the flow's. Each step gets its wall and CPU
seconds and the process's peak RSS during the step (sampled every 50 ms; the sandbox is
another process and is not counted). HubSpot's wall-clock rate limit is off, as in the
soak: the figures are seqguard's work, not the budget's waiting. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from bench.soak import copy_project  # noqa: E402
from bench.sync import change_one_percent  # noqa: E402
from flows.cycle import run_cycle  # noqa: E402
from sandbox.client import running_sandbox  # noqa: E402
from tasks import steps  # noqa: E402

MIB = 1024 * 1024
INCREMENT = timedelta(minutes=15)


class RssSampler:
    """This process's peak resident memory since the last `restart`, sampled in a thread
    (ru_maxrss is the peak of the whole life, not of one step)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.lock = threading.Lock()
        self.peak = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self.restart()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()

    def _rss(self) -> int:
        return self.process.memory_info().rss

    def _sample(self) -> None:
        while not self.stopping.wait(self.interval):
            rss = self._rss()
            with self.lock:
                self.peak = max(self.peak, rss)

    def restart(self) -> None:
        with self.lock:
            self.peak = self._rss()

    def peak_mib(self) -> float:
        """The peak since `restart`, the present moment included."""
        rss = self._rss()
        with self.lock:
            self.peak = max(self.peak, rss)
            return round(self.peak / MIB, 1)


def step_tasks() -> dict[str, Any]:
    """The Prefect tasks in `tasks.steps` (the cycle's steps), by attribute name."""
    from prefect import Task

    return {name: value for name, value in vars(steps).items() if isinstance(value, Task)}


def timed(name: str, fn: Callable[..., Any], sampler: RssSampler, times: dict[str, dict],
          label: str) -> Callable[..., Any]:
    """`fn`, recording its wall and CPU seconds and peak RSS under `name` as it returns."""

    def call(*args: Any, **kwargs: Any) -> Any:
        sampler.restart()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            figures = {"s": round(time.perf_counter() - wall, 2),
                       "cpu_s": round(time.process_time() - cpu, 2),
                       "peak_rss_mib": sampler.peak_mib()}
            times[name] = merge_step(times.get(name), figures)
            print(f"{label:<12} {name:<18} {figures['s']:>9.2f} s  cpu {figures['cpu_s']:>9.2f}"
                  f" s  peak RSS {figures['peak_rss_mib']:>8.1f} MiB", flush=True)

    return call


def merge_step(before: dict | None, figures: dict) -> dict:
    """A step called twice in a cycle counts once: times added, the higher peak kept."""
    if before is None:
        return figures
    return {"s": round(before["s"] + figures["s"], 2),
            "cpu_s": round(before["cpu_s"] + figures["cpu_s"], 2),
            "peak_rss_mib": max(before["peak_rss_mib"], figures["peak_rss_mib"])}


@contextmanager
def timed_steps(sampler: RssSampler, label: str) -> Iterator[dict[str, dict]]:
    """Within the block, `steps.<name>.fn` is the same function, timed; the dict it yields
    fills in the order the cycle calls the steps."""
    originals = step_tasks()
    times: dict[str, dict] = {}
    try:
        for name, task in originals.items():
            setattr(steps, name, SimpleNamespace(fn=timed(name, task.fn, sampler, times, label)))
        yield times
    finally:
        for name, task in originals.items():
            setattr(steps, name, task)


def timed_cycle(label: str, sampler: RssSampler, db: str, project: str, sandbox: Any,
                now: datetime) -> dict[str, Any]:
    """One `run_cycle` at `now`, by step, with its total and what it did."""
    started = time.perf_counter()
    with timed_steps(sampler, label) as times:
        summary = run_cycle(db, project, sandbox.url, sandbox.cert, now=now)
    total = time.perf_counter() - started
    tripped = bool(summary["breaker"]["tripped"])
    print(f"{label:<12} {'total':<18} {total:>9.2f} s"
          + ("  (circuit breaker tripped: its unenrolls are held, not posted)" if tripped else ""),
          flush=True)
    return {"total_s": round(total, 2),
            "peak_rss_mib": max(step["peak_rss_mib"] for step in times.values()),
            "steps": times, "breaker_tripped": tripped,
            "did": cycle_counts(summary)}


def cycle_counts(summary: dict[str, Any]) -> dict[str, Any]:
    """A few counts from the cycle's summary, so a reader sees what the time bought."""
    breaker = summary["breaker"]
    return {
        "rows_fetched": {crm: fetched(result) for crm, result in summary["sync"].items()},
        "rule_matches": summary["rules"].get("matches"),
        "decided": numbers(summary["decide"]),
        "posted": numbers(summary["post"]),
        "held_unenrolls": breaker.get("unenrolls") if breaker["tripped"] else 0,
    }


def numbers(result: dict[str, Any]) -> dict[str, int | float]:
    """The counts of a step's result (its flags and lists left out)."""
    return {k: v for k, v in result.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def fetched(result: dict[str, Any]) -> int:
    """Rows a CRM's sync fetched, summed over its objects (SyncResult.as_dict's shape)."""
    return sum(int(counts["fetched"]) for counts in result["objects"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="keep the sandbox, project and database here "
                                          "(else a temporary folder, removed at the end)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqguard-bench-cycle-") as scratch:
        report = measure(Path(args.workdir or scratch), args.contacts, args.seed)
    print(json.dumps(report))


def measure(work: Path, contacts: int, seed: int) -> dict[str, Any]:
    """The full cycle, the 1% change, the incremental cycle: the benchmark's figures."""
    project = str(copy_project(work / "project"))
    db = str(work / "seqguard.duckdb")
    report: dict[str, Any] = {"contacts": contacts, "seed": seed, "enrollments": contacts // 20}
    started = time.perf_counter()
    with running_sandbox(work / "sandbox", contacts=contacts, seed=seed,
                         enrollments=contacts // 20, timeout=900) as sandbox:
        report["sandbox_ready_s"] = round(time.perf_counter() - started, 1)
        print(f"sandbox ready in {report['sandbox_ready_s']} s ({work})", flush=True)
        now = datetime.fromisoformat(sandbox.clock().replace("Z", ""))
        with RssSampler() as sampler:
            report["full"] = timed_cycle("full", sampler, db, project, sandbox, now)
            later = now + INCREMENT
            report["changed"] = change_one_percent(sandbox, db, later)
            print(f"changed: {json.dumps(report['changed'])}", flush=True)
            report["incremental_1pct"] = timed_cycle("incremental", sampler, db, project,
                                                     sandbox, later)
    report["incremental_pct_of_full"] = round(
        100 * report["incremental_1pct"]["total_s"] / report["full"]["total_s"], 1)
    return report


if __name__ == "__main__":
    main()
