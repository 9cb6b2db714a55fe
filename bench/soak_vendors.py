"""The soak with a sequencer of its own (`bench/soak.py --sequencer outreach|salesloft|apollo`).

The CRMs stay HubSpot and Salesforce; the sequencer's people mirror the CRM's contacts by
email. Reps enroll people by hand at that sequencer through its own API (here the
adapter's `enroll`, which speaks only the vendor's documented calls), so the oracle can
tell their enrollments from seqguard's. Its request budget is lifted, as HubSpot's is:
the soak runs 15 minutes in a few seconds of wall clock.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from bench.churn import SEQUENCES
from tasks.core.config import Config, sandbox_config
from tasks.post.sequencers import OWN_PEOPLE_ADAPTERS, sequencer_for
from tasks.post.sequencers.base import CHANGE_SCHEMA

NAMES = {str(s["id"]): str(s["name"]) for s in SEQUENCES}


def settings(sequencer: str) -> str:
    """seqguard.yml of a soak on `sequencer`: budgets lifted (see soak.py)."""
    text = f"sequencer: {sequencer}\ncrms:\n  hubspot:\n    rate_limit_per_10s: 0\n"
    if sequencer in OWN_PEOPLE_ADAPTERS:
        text += f"sequencers:\n  {sequencer}:\n    rate_limit: 0\n"
    return text


class VendorRep:
    """A rep at the sequencer: finds the person and the sequence there, then enrolls."""

    def __init__(self, url: str, cert: str, config: Config) -> None:
        self.adapter: Any = sequencer_for(sandbox_config(url, cert, config))
        self.sequence_ids: dict[str, str] = {}

    def enroll(self, email: str, sequence_id: str, sender: str
               ) -> tuple[bool, str | None, str | None]:
        if not self.sequence_ids:
            self.sequence_ids = {r["name"]: r["sequence_id"]
                                 for r in self.adapter.sequences().to_pylist()}
        found = self.adapter.people(pa.table({"email": [email]})).to_pylist()
        if not found:
            return False, f"no {self.adapter.crm} person with email {email}", None
        contact_id = found[0]["contact_id"]
        answer = self.adapter.enroll(pa.table({
            "change_id": ["rep"], "kind": ["enroll"],
            "sequence_id": [self.sequence_ids[NAMES[sequence_id]]], "email": [email],
            "contact_id": [contact_id], "sender": [sender], "reason": [None],
            "start_step": pa.array([None], pa.int64())}, schema=CHANGE_SCHEMA)).to_pylist()[0]
        ok = answer["outcome"] in ("confirmed", "sent")
        return ok, None if ok else answer["error"], contact_id
