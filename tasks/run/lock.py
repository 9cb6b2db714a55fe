"""One cycle per database at a time, under a lock that the death of its holder releases.

Both parts of the lock are named after the database's resolved path, so cycles on other
databases go on:

- a Prefect global concurrency limit of 1, taken through Prefect's public `concurrency()`
  with a lease of `LEASE_SECONDS` that Prefect renews from a thread while the holder lives.
  When the holder dies (kill -9), the server's lease repossessor revokes the expired lease:
  the lock is free within the lease plus the repossessor's loop (15 s by default). Taken
  only with a Prefect API configured: the temporary server a process starts without one
  keeps leases in its own memory and runs no repossessor, so nothing would ever expire them.
- an OS lock (`flock`) on `<db>.cycle-lock` beside a local database file, which the kernel
  releases the moment its holder dies. It is the lock of a CLI cycle without a Prefect API,
  and keeps such a cycle from overlapping a served one on the same machine.

When the file lock is free but the Prefect slot is still leased to a holder that the
record names as a process on this machine, that holder is dead (alive, it would hold the
file lock): its slot is freed at once (`active_slots` set to 0 through the public client)
instead of after the lease expires, so the cycle after a `kill -9` runs, not skips.

A run that cannot take the lock is skipped, not queued (the next one is 15 minutes away).
The holder writes who it is and since when into a Prefect variable of the lock's name;
a skipped run reads it and counts itself there, so the third skip in a row, or a lock held
past two cycles, can fail loudly instead of skipping quietly for ever.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

from tasks.core.errors import SeqguardError

LEASE_SECONDS = 60  # the shortest lease a Prefect server grants
WAIT_SECONDS = 10  # a free lock is taken at once; a busy Prefect API can take seconds to answer
SKIPS_BEFORE_FAILING = 2  # the third skip in a row fails the run
HELD_BEFORE_FAILING = timedelta(minutes=30)  # two cycles


class CycleLockHeld(SeqguardError):
    """The lock of a database has been held past two cycles: no rule applies meanwhile."""


@dataclass(frozen=True)
class Holder:
    """Who holds a database's lock, since when, and how many runs it has made skip."""

    holder: str
    since: datetime
    skips: int = 0
    host: str | None = None  # where the holder process runs, and its pid: how a successor
    pid: int | None = None   # on the same machine knows it died

    def held_for(self, now: datetime) -> timedelta:
        return now - self.since


@dataclass(frozen=True)
class Lock:
    """The outcome of trying the lock of `db`: ours, or held by `other`."""

    db: str
    name: str
    other: Holder | None = None

    @property
    def ours(self) -> bool:
        return self.other is None


def lock_name(db: str) -> str:
    """`seqguard-cycle-<file stem>-<hash of the resolved path>`: one per database, a valid
    Prefect limit and variable name whatever the path holds."""
    resolved = resolved_db(db)
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(resolved).stem.lower()).strip("_")[:40] or "db"
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return f"seqguard-cycle-{stem}-{digest}"


def resolved_db(db: str) -> str:
    """The database as one string per database: a local file by its absolute real path."""
    return db if _is_remote(db) else str(Path(db).expanduser().resolve())


def _is_remote(db: str) -> bool:
    return db == ":memory:" or ":" in db.split("/")[0]  # md:name, s3://..., ducklake:...


@contextmanager
def held(db: str, prefect: bool = True) -> Iterator[Lock]:
    """Hold the lock of database `db` for the block; yield at once whether it is ours.
    `prefect=False` (the cycle run without Prefect: the soak, benchmarks) takes the file
    lock alone and keeps no record of its holder."""
    name = lock_name(db)
    if not prefect:
        with ExitStack() as stack:
            other = None if _take_file_lock(stack, db) else Holder("another process", _utcnow())
            yield Lock(resolved_db(db), name, other=other)
        return
    with ExitStack() as stack:
        taken = _take_file_lock(stack, db) and (
            _take_prefect_lock(stack, name)
            or (_free_dead_local_holder(name) and _take_prefect_lock(stack, name)))
        if not taken:
            stack.close()  # release a part taken before the other part was refused
            yield Lock(resolved_db(db), name, other=_count_skip(name))
            return
        _write_holder(name, Holder(_this_holder(), _utcnow(), host=socket.gethostname(),
                                   pid=os.getpid()))
        stack.callback(_clear_holder, name)
        yield Lock(resolved_db(db), name)


def lock_file(db: str) -> Path | None:
    """The file the OS lock is taken on, beside a local database (None for a remote one)."""
    return None if _is_remote(db) else Path(resolved_db(db) + ".cycle-lock")


def _take_file_lock(stack: ExitStack, db: str) -> bool:
    """flock `<db>.cycle-lock` without waiting; True when taken (or the db is not a file)."""
    path = lock_file(db)
    if path is None:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = stack.enter_context(path.open("a"))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
    return True


def _take_prefect_lock(stack: ExitStack, name: str) -> bool:
    """The leased slot of limit `name`; True when taken (or no Prefect API is configured)."""
    from prefect.concurrency.sync import concurrency

    if not prefect_api_configured():
        return True
    _ensure_limit(name)
    try:
        stack.enter_context(concurrency(name, occupy=1, timeout_seconds=WAIT_SECONDS,
                                        lease_duration=LEASE_SECONDS, strict=True,
                                        holder=_lease_holder()))
    except TimeoutError:
        return False
    return True


def _free_dead_local_holder(name: str) -> bool:
    """Free the slot of a recorded holder that ran on this machine: called with the file
    lock taken, so that process is dead. True when a slot was freed (try again)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    recorded = _read_holder(name)
    if recorded is None or recorded.host != socket.gethostname() or recorded.pid is None:
        return False  # held from elsewhere, or unknown: only its lease can end it
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))
    return True


def prefect_api_configured() -> bool:
    """A Prefect server this process talks to (PREFECT_API_URL), not a temporary one."""
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def _ensure_limit(name: str) -> None:
    """The limit exists, active, with one slot (a fresh server has none; a limit someone
    disabled or widened would let two cycles write at once)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:
                pass  # another run created it first
            return
        if limit.limit != 1 or not limit.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, active=True))


def _lease_holder() -> ConcurrencyLeaseHolder | None:
    """The flow run holding the lease, as Prefect records it."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

    run_id = _flow_run_id()
    return ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.get_id()


def _this_holder() -> str:
    run_id = _flow_run_id()
    where = f"pid {os.getpid()} on {socket.gethostname()}"
    return f"flow run {run_id} ({where})" if run_id else where


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _write_holder(name: str, holder: Holder) -> None:
    from prefect.variables import Variable

    Variable.set(name, {"holder": holder.holder, "since": holder.since.isoformat(),
                        "skips": holder.skips, "host": holder.host, "pid": holder.pid},
                 overwrite=True)


def _read_holder(name: str) -> Holder | None:
    from prefect.variables import Variable

    value = Variable.get(name, default=None)
    if not isinstance(value, dict):
        return None
    try:
        pid = value.get("pid")
        return Holder(str(value["holder"]), datetime.fromisoformat(value["since"]),
                      int(value.get("skips", 0)), host=value.get("host"),
                      pid=int(pid) if pid is not None else None)
    except (KeyError, TypeError, ValueError):
        return None  # not ours to trust: start counting afresh


def _clear_holder(name: str) -> None:
    from prefect.variables import Variable

    Variable.unset(name)


def _count_skip(name: str) -> Holder:
    """The holder as recorded, with this skip counted (a holder that wrote nothing, e.g. one
    that died before it could, is recorded now as unknown)."""
    recorded = _read_holder(name) or Holder("an unknown holder", _utcnow())
    counted = replace(recorded, skips=recorded.skips + 1)
    _write_holder(name, counted)
    return counted


def must_fail(other: Holder, now: datetime | None = None) -> bool:
    """A skip fails the run once the lock has been held past two cycles: the third skip
    in a row, or the same holder for more than 30 minutes."""
    return (other.skips > SKIPS_BEFORE_FAILING
            or other.held_for(now or _utcnow()) > HELD_BEFORE_FAILING)
