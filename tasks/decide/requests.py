"""Enrollment requests: what is asked to enter a sequence, in one shape whoever asks (a
released play item, a manual enroll, a recovery), so one decision SQL judges them all."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

# one requested enrollment
REQUEST_SCHEMA = pa.schema([
    ("request_id", pa.int64()),
    ("source", pa.string()),             # play | manual | recover
    ("play", pa.string()),
    ("email", pa.string()),
    ("sequence_id", pa.string()),        # resolved id at the sequencer
    ("crm", pa.string()),                # which sequencer: hubspot | salesforce
    ("sender", pa.string()),             # 'owner' or an address
    ("allow_reenrollment", pa.bool_()),
    ("max_per_company", pa.int64()),
    ("rank_at", pa.timestamp("us")),     # earlier wins ties (release time)
    ("start_step", pa.int64()),          # recover: the step to start at
    ("release_at", pa.timestamp("us")),  # play items: part of the queue key
    ("actor", pa.string()),
    ("request_rule", pa.string()),       # recover: the rule whose removal is undone
    ("note", pa.string()),               # why it is asked for, kept as the reason
])


def request_table(requests: list[dict[str, Any]]) -> pa.Table:
    """A few requests (manual or recover) as REQUEST_SCHEMA rows."""
    return pa.Table.from_pylist(
        [{**{name: None for name in REQUEST_SCHEMA.names}, **r} for r in requests],
        schema=REQUEST_SCHEMA,
    )
