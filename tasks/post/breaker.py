"""The circuit breaker: a run that would unenroll too many people posts nothing until
someone approves it.

A broken rule (a join that fans out, a list uploaded with the wrong column) shows up as
a sudden mass unenroll. So before posting, the flow asks `check`: more than
`unenroll_threshold_pct` of the open enrollments (active or paused, the people an
unenroll can touch) or more than `unenroll_threshold_count` people trips it. The flow
then `hold`s the run's rows (status 'held': no poster sends them, whoever runs it) and
waits for approval; `release` puts them back to pending, `cancel` ends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tasks.core.config import Config
from tasks.db import sql
from tasks.db.store import connect, transaction

TOP_RULES = 5


@dataclass(frozen=True)
class BreakerVerdict:
    """Whether a run may post, with the figures an approver needs."""

    run_id: str
    tripped: bool
    unenrolls: int                 # people the run would unenroll
    open_enrollments: int          # active or paused enrollments as last read
    pct: float                     # unenrolls as a share of open enrollments
    threshold_pct: float
    threshold_count: int
    top_rules: list[tuple[str, int]] = field(default_factory=list)  # (rule, people)
    reason: str = ""

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "tripped": self.tripped, "unenrolls": self.unenrolls,
                "open_enrollments": self.open_enrollments, "pct": self.pct,
                "threshold_pct": self.threshold_pct, "threshold_count": self.threshold_count,
                "top_rules": [{"rule": r, "people": n} for r, n in self.top_rules],
                "reason": self.reason}


def check(db_path: str | Path, run_id: str, config: Config) -> BreakerVerdict:
    """The verdict for a run's unenrolls (its pending or held outbox rows)."""
    with connect(db_path) as con:
        unenrolls, open_enrollments, top = sql.fetch(con, "post/breaker_counts", run_id=run_id,
                                                     top=TOP_RULES)[0]
    return verdict(run_id, int(unenrolls), int(open_enrollments), config,
                   [(r["rule"], int(r["people"])) for r in top])


def verdict(run_id: str, unenrolls: int, open_enrollments: int, config: Config,
            top_rules: list[tuple[str, int]] | None = None) -> BreakerVerdict:
    """The rule itself, on counts: over the share or over the head count trips it."""
    if open_enrollments:
        pct = round(100.0 * unenrolls / open_enrollments, 2)
    else:
        pct = 100.0 if unenrolls else 0.0  # unenrolling from nothing known: treat as all
    over_pct = pct > config.unenroll_threshold_pct and unenrolls >= config.unenroll_threshold_min
    over_count = unenrolls > config.unenroll_threshold_count
    tripped = unenrolls > 0 and (over_pct or over_count)
    rules = ", ".join(f"{r} ({n})" for r, n in (top_rules or []))
    if tripped:
        limits = " and ".join(
            text for on, text in (
                (over_pct, f"{config.unenroll_threshold_pct:g}% of open enrollments (and at "
                           f"least {config.unenroll_threshold_min} people)"),
                (over_count, f"{config.unenroll_threshold_count} people"),
            ) if on)
        reason = (
            f"run {run_id} would unenroll {unenrolls} people ({pct:g}% of {open_enrollments} "
            f"open enrollments), over {limits}; top rules: {rules or 'none'}. Nothing was "
            f"posted: approve it in the Prefect UI or with `seqguard cycle --approve {run_id}`"
        )
    else:
        reason = (f"run {run_id} unenrolls {unenrolls} people ({pct:g}% of "
                  f"{open_enrollments} open enrollments): within the thresholds")
    return BreakerVerdict(
        run_id=run_id, tripped=tripped, unenrolls=unenrolls, open_enrollments=open_enrollments,
        pct=pct, threshold_pct=config.unenroll_threshold_pct,
        threshold_count=config.unenroll_threshold_count, top_rules=list(top_rules or []),
        reason=reason)


def hold(db_path: str | Path, run_id: str) -> int:
    """Keep a tripped run's pending rows from any poster; returns how many were held."""
    with connect(db_path) as con, transaction(con):
        return _move(con, run_id, "pending", "held", None)


def release(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Approval: the held rows of the run become pending again, to be posted (in the
    caller's transaction, which records the decision)."""
    return _move(con, run_id, "held", "pending", None)


def cancel(con: duckdb.DuckDBPyConnection, run_id: str, actor: str) -> int:
    """Rejection: the held rows of the run end as cancelled, with who cancelled them."""
    return _move(con, run_id, "held", "cancelled",
                 f"not approved by {actor}: the circuit breaker stopped run {run_id}")


def _move(con: duckdb.DuckDBPyConnection, run_id: str, from_status: str, to_status: str,
          error: str | None) -> int:
    return len(sql.fetch(con, "post/move_run", run_id=run_id, from_status=from_status,
                         to_status=to_status, error=error))
