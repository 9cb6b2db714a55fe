"""An ad-hoc run narrowed to some sequences posts only their changes; the rest wait."""

from __future__ import annotations

from pathlib import Path

from post_support import NOW, add_changes, hubspot, hubspot_people, outbox, read_hubspot

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.post.poster import post_pending


def test_posting_narrowed_to_a_sequence_leaves_the_others_pending(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    people = hubspot_people(fresh, 4)
    read_hubspot(db, config, NOW)  # learn the sequence names
    first = add_changes(db, "enroll", people[:2], sequence_id="101")
    second = add_changes(db, "enroll", people[2:], sequence_id="102", prefix="other")
    name_of_101 = next(s["name"] for s in fresh.define_sequences([]) if s["id"] == "101")
    posted = post_pending(db, config, NOW, sequencer=hubspot(config), sequences=[name_of_101])
    assert posted.sent == 2
    rows = outbox(db)
    assert {rows[c]["status"] for c in first} == {"sent"}
    assert {rows[c]["status"] for c in second} == {"pending"}
    assert post_pending(db, config, NOW, sequencer=hubspot(config)).sent == 2
