"""The staging -> quarantine -> merge machinery on pages built here, and the shared limiter.

Records a real CRM never sends but a broken one might (no id, the same id twice in a
page, an unparsable time) are built as page bodies and fed through the same staging SQL
the sync uses; no HTTP is involved or patched.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.db.store import connect
from tasks.sync.hubspot.sync import object_spec, record_stager
from tasks.sync.limiter import RateLimiter
from tasks.sync.snapshot import ensure_raw_table, merge_object, reset_staging

NOW = datetime(2026, 3, 2, 9, 0)
METADATA = [{"name": "email", "type": "string"}, {"name": "amount", "type": "number"}]


def record(i: int, **over: object) -> dict:
    base = {"id": str(i), "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": f"2026-02-01T00:00:{i % 60:02d}.123Z", "archived": False,
            "properties": {"email": f"p{i}@example.com", "firstname": "Ok"}}
    base.update(over)
    return base


BROKEN = st.sampled_from([
    ("missing id", lambda i: record(i, id=None)),
    ("missing id", lambda i: record(i, id="  ")),
    ("missing updated_at", lambda i: {k: v for k, v in record(i).items() if k != "updatedAt"}),
    ("unparsable time: updated_at", lambda i: record(i, updatedAt="last tuesday")),
    ("unparsable time: created_at", lambda i: record(i, createdAt="2026-02-30T00:00:00Z")),
    ("not an email: email", lambda i: record(i, properties={"email": f"p{i} at example"})),
    ("not a boolean: archived", lambda i: record(i, archived="perhaps")),
])


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(broken=st.lists(BROKEN, min_size=1000, max_size=1000), seed=st.integers(0, 10**6))
def test_structurally_bad_records_are_quarantined_by_sql(tmp_path_factory, broken, seed):
    db: Path = tmp_path_factory.mktemp("snap") / "s.duckdb"
    spec = object_spec("contacts", METADATA, [])
    good = [record(100_000 + i) for i in range(300)]
    bad = [make(1_000_000 + seed * 10_000 + i) for i, (_, make) in enumerate(broken)]
    # duplicates: the same id twice within one page, 50 times (100 records)
    dupes = [record(200_000 + i // 2) for i in range(100)]
    pages = [json.dumps({"results": good[:150] + bad[:500]}),
             json.dumps({"results": bad[500:] + dupes}),
             json.dumps({"results": good[150:]})]
    with connect(db) as con:
        ensure_raw_table(con, spec)
        reset_staging(con, spec)
        stager = record_stager(con, spec, pages_per_append=2)
        for body in pages:
            stager.add(body)
        stager.flush()
        outcome = merge_object(con, spec, run_id="r1", synced_at=NOW, full=True)
        reasons = dict(con.execute(
            "select reason, count(*) from ops.quarantine group by 1").fetchall())
        merged = con.execute("select count(*) from raw_hubspot.contacts").fetchone()[0]
    expected: dict[str, int] = {}
    for reason, _ in broken:
        expected[reason] = expected.get(reason, 0) + 1
    expected["duplicate id within a page"] = 100
    assert reasons == expected
    assert outcome.quarantined == 1100 and outcome.merged == merged == 300


def test_latest_fetched_copy_wins_and_tombstones_are_kept(tmp_path):
    spec = object_spec("contacts", METADATA, [])
    with connect(tmp_path / "s.duckdb") as con:
        ensure_raw_table(con, spec)
        for run, pages in enumerate([
            [[record(1), record(2)]],
            [[record(1, properties={"email": "new@example.com"})],
             [record(2, archived=True, archivedAt="2026-02-02T00:00:00Z")]],
        ]):
            reset_staging(con, spec)
            stager = record_stager(con, spec)
            for page in pages:
                stager.add(json.dumps({"results": page}))
            stager.flush()
            outcome = merge_object(con, spec, run_id=f"r{run}", synced_at=NOW, full=run == 0)
        assert outcome.deleted == 1
        assert con.execute("select id, email, archived from raw_hubspot.contacts order by id"
                           ).fetchall() == [("1", "new@example.com", False),
                                            ("2", "p2@example.com", True)]


def test_limiter_never_lets_more_than_the_limit_through_in_any_window():
    limiter = RateLimiter(limit=5, period=0.3, margin=0.02)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 20
    assert all(stamps[i + 5] - stamps[i] >= 0.29 for i in range(len(stamps) - 5))
    assert stamps[-1] - stamps[0] < 1.5  # and it does not wait much longer than it must
