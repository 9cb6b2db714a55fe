"""bench/post.py's setup and checks for the sequencers with people of their own.

Outreach, Salesloft and Apollo hold people of their own under the CRM contacts' emails:
the bench resolves them through the adapter's `people` (as the poster's id resolution
does), finds the bench sequence by name (Apollo's ids are its own), and for an unenroll
run enrolls everyone first, unlimited and outside the measure. Each unenroll must reach
the sandbox exactly once: Outreach as one `finish` of the person's sequence state,
Salesloft as one DELETE of the membership, Apollo as one remove call naming the contact.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.post.sequencers.apollo import ApolloSequencer
from tasks.post.sequencers.base import CHANGE_SCHEMA, Sequencer
from tasks.post.sequencers.outreach import OutreachSequencer
from tasks.post.sequencers.salesloft import SalesloftSequencer
from tasks.sync.limiter import RateLimiter

REP = "avery.nguyen@seqguard-sandbox.test"  # a seeded CRM owner: a mailbox/user/account
FINISH = re.compile(r"^/api/v2/sequenceStates/(\d+)/actions/finish$")
MEMBERSHIP = re.compile(r"^/v2/cadence_memberships/(\d+)(\.json)?$")


@dataclass(frozen=True)
class Vendor:
    adapter: type
    limit: int          # the documented limit, or the bench's scaled stand-in for it
    window_s: float     # the window the sandbox and the limiter count it in


# Outreach: 10,000 per user per hour, scaled to 100 per 10 s; Salesloft: 600 per minute;
# Apollo: 200 per minute (plan limit), in its own minute
VENDORS = {
    "outreach": Vendor(OutreachSequencer, 100, 10.0),
    "salesloft": Vendor(SalesloftSequencer, 600, 60.0),
    "apollo": Vendor(ApolloSequencer, 200, 60.0),
}


def adapter(config: Config, crm: str, limiter: RateLimiter) -> Sequencer:
    return VENDORS[crm].adapter(config.sequencer_config(crm), limiter)  # type: ignore[no-any-return]


def setup(config: Config, crm: str, contacts: pa.Table, sequence_name: str,
          kind: str) -> tuple[pa.Table, str]:
    """The contacts as the vendor's people (contact_id, email) and the bench sequence's
    id there; for unenrolls, everyone enrolled in it first."""
    vendor = adapter(config, crm, RateLimiter(limit=None))
    found = vendor.people(contacts.select(["email"]))  # type: ignore[attr-defined]
    assert found.num_rows == contacts.num_rows, \
        f"{contacts.num_rows - found.num_rows} emails have no {crm} person"
    sequence_id = next(r["sequence_id"] for r in vendor.sequences().to_pylist()
                       if r["name"] == sequence_name)
    people = found.select(["contact_id", "email"])
    if kind == "unenroll":
        n = people.num_rows
        vendor.enroll(pa.table({
            "change_id": [f"setup-{i}" for i in range(n)], "kind": ["enroll"] * n,
            "sequence_id": [sequence_id] * n, "email": people.column("email"),
            "contact_id": people.column("contact_id"), "sender": [REP] * n,
            "reason": [None] * n, "start_step": pa.array([None] * n, pa.int64())},
            schema=CHANGE_SCHEMA))
    return people, sequence_id


def unenroll_arrivals(sandbox: SandboxClient, crm: str) -> Counter[str]:
    """Person (the vendor's id) -> how many of their removals the sandbox answered as done."""
    person_of = {str(e["id"]): e["contact_id"] for e in sandbox.enrollments()
                 if e["crm"] == crm}
    counts: Counter[str] = Counter()
    for request in sandbox.requests():
        path = request["path"].split("?")[0]
        if crm == "apollo" and "remove_or_stop_contact_ids" in path and request["status"] == 200:
            counts.update(parse_qs(urlsplit(request["path"]).query)["contact_ids[]"])
        finished = FINISH.match(path) if crm == "outreach" else MEMBERSHIP.match(path)
        done = (request["method"], request["status"]) in (("POST", 200), ("DELETE", 204))
        if crm != "apollo" and finished and done:
            counts[person_of[finished.group(1)]] += 1
    return counts
