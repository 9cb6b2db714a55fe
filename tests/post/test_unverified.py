"""HubSpot's unenroll workflow may never run: whole cycles (sync, read, decide, post) keep
every such unenroll unverified, listed with its owner, and write each decision once."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from post_support import NOW, SEQUENCES, statuses, unenroll_writes

from flows.cycle import run_cycle
from sandbox.client import SandboxClient
from tasks.post.reads import ReadResult
from tasks.run.report import render_markdown

BATCH_UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
PEOPLE = 6  # under the circuit breaker's minimum of 10


def enrolled_then_unsubscribed(sandbox: SandboxClient) -> list[str]:
    """`PEOPLE` contacts in a sequence who then unsubscribed: the built-in rule removes
    them. The account has no unenroll workflow."""
    sandbox.reset(seed=3, contacts=200, now=NOW)
    sandbox.define_sequences(SEQUENCES)
    sandbox.workflow(None)
    ids = [str(c["id"]) for c in sandbox.table("hs_contacts")
           if c.get("hs_email_optout") != "true"][:PEOPLE]
    for contact_id in ids:
        answer = sandbox.http.post(
            f"{sandbox.url}/automation/v4/sequences/enrollments?userId=5100001",
            json={"sequenceId": "101", "contactId": contact_id,
                  "senderEmail": "avery.nguyen@seqguard-sandbox.test"},
            headers={"Authorization": "Bearer sandbox-token"})
        assert answer.status_code == 200, answer.text
    sandbox.upsert_hubspot("contacts", [{"id": i, "properties": {"hs_email_optout": "true"}}
                                        for i in ids])
    return ids


def test_with_the_workflow_off_every_unenroll_stays_unverified_and_is_written_once(
        sandbox: SandboxClient, tmp_path: Path) -> None:
    ids = enrolled_then_unsubscribed(sandbox)
    db = str(tmp_path / "seqguard.duckdb")
    summaries = []
    for cycle in range(4):
        now = NOW + timedelta(minutes=15 * cycle)
        sandbox.set_clock(now)
        summaries.append(run_cycle(db, str(tmp_path), sandbox.url, sandbox.cert, now))

    assert [s["decide"]["unenroll"] for s in summaries] == [PEOPLE, 0, 0, 0]
    assert [s["post"]["sent"] for s in summaries] == [PEOPLE, 0, 0, 0]
    # never claimed: each later read lists all of them, with the contact owner
    assert [s["enrollments"]["unverified_total"] for s in summaries] == [0] + [PEOPLE] * 3
    last = summaries[-1]["enrollments"]["unverified"]
    assert sorted(u["contact_id"] for u in last) == sorted(ids)
    assert all(u["owner_email"] and u["rule"] for u in last)
    assert statuses(db)["sent"] == PEOPLE and "confirmed" not in statuses(db)
    # one property write per decision, in one batch update, across all the cycles
    updates = [r for r in sandbox.requests() if r["method"] == "POST"
               and r["path"] == BATCH_UPDATE_PATH]
    assert [r["status"] for r in updates] == [200]
    assert sorted(unenroll_writes(sandbox).values()) == [1] * PEOPLE
    assert {e["state"] for e in sandbox.enrollments() if e["contact_id"] in ids} == {"active"}
    # and the run report says so, with the owners
    read = ReadResult(**summaries[-1]["enrollments"])
    report = render_markdown({**summaries[-1], "enrollments": asdict(read)}, {})
    assert f"## Unverified unenrolls\n\n{PEOPLE} unenrolls written but not yet seen" in report
    assert all(u["owner_email"] in report for u in last)
