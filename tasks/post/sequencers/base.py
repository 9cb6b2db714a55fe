"""The Sequencer protocol every adapter implements, and what they share.

The flow never talks to one person at a time: every method takes and returns an Arrow
table. An adapter turns a set of changes into as few API calls as the sequencer allows
(HubSpot: one enrollment per call, 100 property writes per batch; Salesforce: 200 action
inputs per call) and answers one result row per change, so the poster can mark each
outbox row with what the sequencer said.

HubSpot Sequences and Salesforce cadences enroll the CRM's own records, and what their
emails meet (replies, bounces) reaches seqguard through the CRM sync. Outreach, Salesloft
and Apollo hold people of their own, under the same email as the CRM's: such an adapter is
an `OwnPeopleSequencer`, which also resolves emails to its people (`people`) and reads
back what it recorded about its emails (`activity`), both as sets.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa
import requests

from tasks.core.errors import ConfigError, SyncError
from tasks.sync.limiter import RateLimiter, limited_session

# a change to post: one outbox row, with the CRM record it concerns
CHANGE_SCHEMA = pa.schema([
    ("change_id", pa.string()),
    ("kind", pa.string()),          # enroll | unenroll | pause | resume
    ("sequence_id", pa.string()),   # '*' = every open enrollment of the person (unenroll)
    ("email", pa.string()),
    ("contact_id", pa.string()),
    ("sender", pa.string()),
    ("reason", pa.string()),
    # enroll: the step to start at (recover: the one after the last completed); null = the
    # first. Adapters whose API has no starting step start at step 1 and say so
    ("start_step", pa.int64()),
])

# one enrollment as the sequencer holds it
ENROLLMENT_SCHEMA = pa.schema([
    ("enrollment_id", pa.string()),
    ("sequence_id", pa.string()),
    ("email", pa.string()),
    ("contact_id", pa.string()),
    ("state", pa.string()),         # active | paused | finished | unenrolled
    ("step", pa.int32()),
    ("enrolled_at", pa.timestamp("us")),
    ("updated_at", pa.timestamp("us")),
])

SEQUENCE_SCHEMA = pa.schema([("sequence_id", pa.string()), ("name", pa.string())])

# what the sequencer answered for one change:
#   sent      accepted (the effect is confirmed on a later state read)
#   confirmed the effect is already visible
#   rejected  refused for good (already enrolled, unsubscribed, unknown id): not retried
#   retry     outcome unknown (5xx, timeout): read the state before posting it again
RESULT_SCHEMA = pa.schema([
    ("change_id", pa.string()),
    ("outcome", pa.string()),
    ("enrollment_id", pa.string()),
    ("response", pa.string()),      # json
    ("error", pa.string()),
])

OPEN_STATES = ("active", "paused")


# a sequencer's own person for an email (Outreach prospect, Salesloft person, Apollo
# contact): email normalized (trimmed, lower case), contact_id the sequencer's id
PEOPLE_SCHEMA = pa.schema([("email", pa.string()), ("contact_id", pa.string())])

# what a sequencer of its own recorded about its emails, one row per event
ACTIVITY_SCHEMA = pa.schema([
    ("activity_id", pa.string()),   # stable per sequencer: re-reading it gives the same id
    ("email", pa.string()),         # the recipient, normalized; null where not exposed
    ("contact_id", pa.string()),    # the sequencer's person
    ("kind", pa.string()),          # ACTIVITY_KINDS
    ("sequence_id", pa.string()),   # the sequence whose email it was (null: not one)
    ("occurred_at", pa.timestamp("us")),
    # when the sequencer last changed the record: the watermark for `activity(since)`
    ("updated_at", pa.timestamp("us")),
])
#   sent         the sequencer sent a step's email (its own activity: never a signal)
#   reply        the recipient replied (the vendor does not say whether out of office)
#   bounce       the email bounced
#   unsubscribe  the recipient unsubscribed (opted out) through the email
ACTIVITY_KINDS = ("sent", "reply", "bounce", "unsubscribe")


class Sequencer(Protocol):
    """Where enrollment changes are posted; sets in, sets out."""

    crm: str
    requests_made: int
    # kinds whose arrival `written` proves either way: a change of such a kind that
    # `written` does not list never reached the sequencer, so no state read is needed
    traceable_kinds: frozenset[str]

    def batch_limit(self, kind: str) -> int:
        """How many changes of `kind` one API call carries."""
        ...

    def prepare(self, kinds: set[str]) -> None:
        """One-time setup before posting (e.g. create the properties HubSpot needs)."""
        ...

    def sequences(self) -> pa.Table:
        """Every sequence the sequencer has (SEQUENCE_SCHEMA)."""
        ...

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Enrollments changed since `since` (None = all it can list), plus every
        enrollment of the contacts in `contacts` (column contact_id); ENROLLMENT_SCHEMA."""
        ...

    def written(self, changes: pa.Table) -> pa.Table:
        """The changes whose request demonstrably reached the sequencer, even if the effect
        is not visible yet (column change_id); empty where the API keeps no trace."""
        ...

    def enroll(self, changes: pa.Table) -> pa.Table:
        ...

    def unenroll(self, changes: pa.Table) -> pa.Table:
        ...

    def pause(self, changes: pa.Table) -> pa.Table:
        ...

    def resume(self, changes: pa.Table) -> pa.Table:
        ...


class OwnPeopleSequencer(Sequencer, Protocol):
    """A sequencer with people of its own (Outreach, Salesloft, Apollo): the outbox names
    people by email and its `contact_id` must be the sequencer's id, and the replies,
    bounces and unsubscribes its emails meet are read from it, not from the CRM."""

    def people(self, emails: pa.Table) -> pa.Table:
        """The sequencer's person for each email in `emails` (column email) it knows, in
        batches; PEOPLE_SCHEMA, emails it does not know left out (never created)."""
        ...

    def activity(self, since: datetime | None) -> pa.Table:
        """What it recorded about its emails that changed since `since` (None = all it
        can list); ACTIVITY_SCHEMA. Re-reads are expected: rows keep their activity_id."""
        ...


def own_people(adapter: Sequencer) -> OwnPeopleSequencer | None:
    """`adapter` when its sequencer has people of its own, else None (people and activity
    then come from the CRM: crm.people, crm.engagements)."""
    kind = type(adapter)  # the class's methods: an instance's __getattr__ answers anything
    if callable(getattr(kind, "people", None)) and callable(getattr(kind, "activity", None)):
        return adapter  # type: ignore[return-value]
    return None


class Limiter(Protocol):
    """The CRM's shared request budget (tasks/sync/limiter.py `RateLimiter`)."""

    def acquire(self) -> None: ...

    def pause(self, seconds: float) -> None: ...


class OutcomeUnknown(Exception):
    """A write may or may not have reached the sequencer (5xx, timeout, dropped connection)."""


class RateLimitExhausted(SyncError):
    """The sequencer kept answering 'rate limited', or failing, past the retry budget."""


# ---- building result tables -------------------------------------------------------------

def results(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Result rows (dicts with RESULT_SCHEMA keys) as a table; `response` dicts become json."""
    columns: dict[str, list[Any]] = {name: [] for name in RESULT_SCHEMA.names}
    for row in rows:
        for name in RESULT_SCHEMA.names:
            value = row.get(name)
            if name == "response" and value is not None and not isinstance(value, str):
                value = json.dumps(value, default=str)
            columns[name].append(None if value is None else str(value))
    return pa.table(columns, schema=RESULT_SCHEMA)


def same_outcome(changes: pa.Table, outcome: str, error: str | None = None,
                 response: Any = None) -> pa.Table:
    """Every change of a call got the same answer (a failed call, a batch-level refusal)."""
    ids = changes.column("change_id").to_pylist()
    return results([{"change_id": c, "outcome": outcome, "error": error, "response": response}
                    for c in ids])


class HttpAdapter:
    """An adapter whose calls go through its `http`, which counts them."""

    http: Http

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    def written(self, changes: pa.Table) -> pa.Table:
        """None: the API keeps no trace of seqguard's change id (a sequence state, cadence
        membership or tracker carries none), so the state read tells all; an adapter whose
        writes carry the id (HubSpot) overrides this."""
        return pa.table({"change_id": pa.array([], pa.string())})


class Http:
    """The HTTP side of an adapter: one session per thread (requests.Session is not
    documented as thread-safe) bound to the CRM's limiter with no retries of its own
    (`send` decides what may be resent: writes with an unknown outcome are not, until the
    state has been read), and a count of the calls made."""

    def __init__(self, crm: str, limiter: RateLimiter, ca_cert: str | None,
                 headers: dict[str, str],
                 is_rate_limited: Callable[[requests.Response], bool],
                 timeout: float | tuple[float, float],
                 wait_of: Callable[[requests.Response], float | None] | None = None) -> None:
        self.crm = crm
        self.limiter = limiter
        self.is_rate_limited = is_rate_limited
        self.timeout = timeout
        self.wait_of = wait_of
        self.requests_made = 0
        self._ca_cert = ca_cert
        self._auth = headers
        self._local = threading.local()
        self._count_lock = threading.Lock()

    def session(self) -> requests.Session:
        """This thread's session (made on first use)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = limited_session(self.limiter, self._ca_cert, retries=0)
            session.headers.update(self._auth)
            self._local.session = session
        return session

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1

    def call(self, method: str, url: str, *, idempotent: bool, json_body: Any = None,
             params: dict[str, Any] | None = None) -> requests.Response:
        """One API call (see `send`)."""
        return send(self.session(), method, url, limiter=self.limiter, crm=self.crm,
                    is_rate_limited=self.is_rate_limited, idempotent=idempotent,
                    count=self._count, json_body=json_body, params=params,
                    timeout=self.timeout, wait_of=self.wait_of)


def bearer(token: str, media_type: str = "application/json") -> dict[str, str]:
    """The headers of an API that takes an OAuth/session token as `Authorization: Bearer`."""
    return {"Authorization": f"Bearer {token}", "Accept": media_type}



def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limiter: Limiter,
    crm: str,
    is_rate_limited: Callable[[requests.Response], bool],
    idempotent: bool,
    count: Callable[[], None],
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    timeout: float | tuple[float, float] = 30.0,
    max_attempts: int = 8,
    sleep: Callable[[float], None] = time.sleep,
    wait_of: Callable[[requests.Response], float | None] | None = None,
) -> requests.Response:
    """One API call on a session bound to the CRM's limiter (`limited_session`, no retries).

    Rate-limit answers were never processed, so they pause every caller of the CRM for
    Retry-After, or the vendor's own reset header read by `wait_of` (plus jitter), and are
    resent. 5xx and timeouts leave a write's outcome
    unknown: reads are retried here with backoff, writes raise OutcomeUnknown so the poster
    reads the state first. A 401 is a configuration problem and raises ConfigError.
    """
    last = "no answer"
    for attempt in range(max_attempts):
        count()
        try:
            response = session.request(method, url, json=json_body, params=params,
                                       timeout=timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            if not idempotent:
                raise OutcomeUnknown(f"{crm} {method} {_path(url)}: {type(exc).__name__}") from exc
            last = type(exc).__name__
            sleep(backoff_seconds(attempt))
            continue
        if response.status_code == 401:
            raise ConfigError(
                f"{crm}: the sequencer refused the credentials (401 on {_path(url)}); "
                f"check the {crm} token/session setting in seqguard.yml"
            )
        if is_rate_limited(response):
            last = f"rate limited (HTTP {response.status_code})"
            wait = (wait_of or retry_after)(response)
            limiter.pause((wait if wait is not None else 1.0 + attempt) + random.uniform(0, 0.5))
            continue
        if response.status_code >= 500:
            if not idempotent:
                raise OutcomeUnknown(
                    f"{crm} {method} {_path(url)}: HTTP {response.status_code}")
            last = f"HTTP {response.status_code}"
            sleep(backoff_seconds(attempt))
            continue
        return response
    raise RateLimitExhausted(
        f"{crm} {method} {_path(url)}: {last} after {max_attempts} attempts; check that "
        f"{crm} is reachable (the changes stay pending for the next run)"
    )


def restart_note(name: str, start_step: int | None, *, recovering: bool = False,
                 step_known: bool = True) -> str | None:
    """Why an enrollment does not start where it was meant to, on a sequencer whose
    documented enroll call takes no starting step: one meant to start mid-sequence says so
    on its outbox row, and a recovery always says so (where the sequencer reports no step,
    the one it would resume at is unknown too). Shown in the recover plan."""
    if start_step is not None and start_step > 1:
        return (f"{name} restarts them at step 1, not step {start_step}: its enrollment "
                "API cannot start mid-sequence")
    if recovering:  # the plan reads "re-enroll from step 1 (<this>)"
        if step_known:
            return f"{name}'s enrollment API cannot start mid-sequence, so they receive " \
                   "every step again"
        return (f"{name} does not report how far they got, and its enrollment API cannot "
                "start mid-sequence, so they receive every step again")
    return None


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter, so retrying clients spread out."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def retry_after(response: requests.Response) -> float | None:
    """Seconds a Retry-After header asks for (HTTP's delta-seconds form), or None."""
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _path(url: str) -> str:
    """The path of a URL without host or query, for error lines (no ids, no tokens)."""
    path = url.split("://", 1)[-1]
    return "/" + path.split("/", 1)[1].split("?", 1)[0] if "/" in path else path
