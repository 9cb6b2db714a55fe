"""One cycle at a time: a Prefect global concurrency limit of 1 named `seqguard-cycle`.

The deployment's own limit (CANCEL_NEW) covers scheduled runs; this lock also covers a
CLI or UI run that starts while another is running, whatever started it. A run that
cannot take the lock is skipped, not queued (the next one is 15 minutes away).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

CYCLE_LOCK = "seqguard-cycle"
WAIT_SECONDS = 15  # a free slot is taken at once; a busy Prefect API can take seconds to answer


def ensure_lock() -> None:
    """Create the limit on first use (a fresh Prefect server has none)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(CYCLE_LOCK)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=CYCLE_LOCK, limit=1)
            )


@contextmanager
def held() -> Iterator[bool]:
    """Yield True while holding the cycle lock, or False at once when another run has it."""
    from prefect.concurrency._asyncio import AcquireConcurrencySlotTimeoutError

    ensure_lock()
    slot = concurrency(CYCLE_LOCK, occupy=1, timeout_seconds=WAIT_SECONDS, strict=True)
    try:
        slot.__enter__()
    except AcquireConcurrencySlotTimeoutError:
        yield False
        return
    try:
        yield True
    finally:
        slot.__exit__(None, None, None)
