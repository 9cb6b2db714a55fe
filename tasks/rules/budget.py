"""The time budget every piece of user SQL runs within: rules, play audiences, explain
and preview.

A rule file is written by many people; one slow join must not hold the cycle (and its
lock) for minutes. `within_budget` starts a watchdog thread beside the query; past the
budget it interrupts the connection (DuckDB's `interrupt()`, which stops a running query
within milliseconds) and keeps interrupting until the block ends, since an interrupt
that lands between two statements is forgotten by the next one. The block then raises
`BudgetExceeded`, which the caller turns into a failed, fail-closed rule.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import duckdb

# how often the watchdog interrupts again once the budget is spent
REINTERRUPT_SECONDS = 0.05


class BudgetExceeded(Exception):
    """User SQL ran past its time budget and was interrupted."""

    def __init__(self, budget: timedelta) -> None:
        super().__init__(f"stopped after its time budget of {describe(budget)}")
        self.budget = budget


def describe(budget: timedelta) -> str:
    """A budget as people write it: '10 s', '1.5 s'."""
    return f"{budget.total_seconds():g} s"


@contextmanager
def within_budget(con: duckdb.DuckDBPyConnection, budget: timedelta) -> Iterator[None]:
    """Run the block's queries on `con` within `budget`; raise BudgetExceeded past it."""
    finished = threading.Event()
    spent = threading.Event()

    def watch() -> None:
        if finished.wait(budget.total_seconds()):
            return
        spent.set()
        while True:
            con.interrupt()
            if finished.wait(REINTERRUPT_SECONDS):
                return

    watchdog = threading.Thread(target=watch, name="rule-budget", daemon=True)
    watchdog.start()
    try:
        yield
    except duckdb.Error as exc:
        # an interrupted fetch may surface as another error class; the budget decides
        if spent.is_set():
            raise BudgetExceeded(budget) from exc
        raise
    finally:
        finished.set()
        # no interrupt of this block may reach the connection's next query
        watchdog.join()
