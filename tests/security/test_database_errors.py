"""What goes wrong with the database file says what it is (issue 14, item 9): a lock held
by another process, no permission, not a DuckDB file, a truncated or corrupt file and a
full disk each get their own one line and fix, and a full disk loses nothing committed.
An email with a NUL byte (or another control character) is quarantined by the sync."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from flows.cli import main
from sandbox.client import SandboxClient
from tasks.core.config import sandbox_config
from tasks.core.errors import StoreError
from tasks.db.store import connect
from tasks.sync.hubspot.sync import sync_hubspot

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A real seqguard database with some pages of data in it."""
    path = tmp_path / "seqguard.duckdb"
    with connect(path) as con:
        con.execute("create table ops.filler as select range as i, repeat('x', 40) as s "
                    "from range(300000)")
    return path


def explain_line(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["explain", "ann@example.com", "--db", str(db), "--project", str(db.parent)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return code, err


def test_a_lock_held_by_another_process_names_it(database: Path, capsys) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(60)", str(database)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        code, err = explain_line(database, capsys)
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert f"another process (PID {holder.pid}) has the database open" in err
    assert "wait for it to finish" in err


def test_a_file_that_is_not_a_database_says_so(tmp_path: Path, capsys) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_text("meeting notes, not a database\n" * 200)
    code, err = explain_line(db, capsys)
    assert code == 2 and "this file is not a DuckDB database; pass --db" in err
    assert "another" not in err


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_truncated_or_corrupt_file_says_so(database: Path, capsys, damage: str) -> None:
    data = bytearray(database.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    else:
        for i in range(len(data) // 4, len(data) - 4096, 7):
            data[i] = (data[i] + 13) % 256
    database.write_bytes(bytes(data))
    code, err = explain_line(database, capsys)
    assert code == 2 and "the database file is truncated or corrupt" in err
    assert "restore it from a backup" in err and "another" not in err


def test_no_permission_to_write_says_so(database: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("needs root and chattr to make a file unwritable even for root")
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode:
        pytest.skip("the filesystem has no immutable flag")
    try:
        with pytest.raises(StoreError, match=r"no permission to write the database \(.*"
                                             r"Operation not permitted\); run seqguard as "
                                             r"the user that owns the file"):
            with connect(database):
                pass
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)


def test_a_read_only_disk_says_so(small_disk: Path) -> None:
    db = small_disk / "seqguard.duckdb"
    with connect(db):
        pass
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(StoreError, match=r"the disk holding the database is mounted "
                                         r"read-only \(.*Read-only file system\); mount it "
                                         r"read-write"):
        with connect(db):
            pass


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs of its own, so the test can fill it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """A file taking every free byte of the disk."""
    filler = disk / "filler"
    out = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(out, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(out)
    return filler


def test_a_full_disk_is_one_line_and_loses_nothing_committed(
        prefect_harness, sandbox: SandboxClient, small_disk: Path, capsys) -> None:
    sandbox.reset(seed=2, contacts=30, now=NOW)
    db = small_disk / "seqguard.duckdb"

    def cycle(now: datetime) -> tuple[int, str]:
        code = main(["cycle", "--db", str(db), "--project", str(small_disk), "--sandbox",
                     sandbox.url, "--sandbox-cert", str(sandbox.cert), "--now", now.isoformat()])
        return code, capsys.readouterr().err

    assert cycle(NOW)[0] == 0
    with connect(db, read_only=True) as con:
        before = con.execute("select count(*) from raw_hubspot.contacts").fetchall()
    filler = fill(small_disk)
    code, err = cycle(NOW + timedelta(minutes=15))
    assert code == 2, err
    line = err.strip().splitlines()[-1]  # above it: Prefect's log, shown at WARNING in tests
    assert line.startswith(f"seqguard cycle: {db}: the disk is full (")
    assert "No space left on device" in line and "free space on the disk, then run again" in line
    filler.unlink()
    assert cycle(NOW + timedelta(minutes=30))[0] == 0
    with connect(db, read_only=True) as con:
        assert con.execute("select count(*) from raw_hubspot.contacts").fetchall() == before
        assert con.execute("select now, status from ops.runs where status = 'finished' "
                           "order by now").fetchall() == [
            (NOW, "finished"), (NOW + timedelta(minutes=30), "finished")]


def test_an_email_with_a_control_character_is_quarantined_with_the_reason(
        sandbox: SandboxClient, tmp_path: Path) -> None:
    sandbox.reset(now=NOW)
    sandbox.upsert_hubspot("contacts", [
        {"properties": {"email": "ann\x00x@example.com", "firstname": "Nul"}},
        {"properties": {"email": "bob\x01@example.com", "firstname": "Soh"}},
        {"properties": {"email": "cat@exa\x7fmple.com", "firstname": "Del"}},
        {"properties": {"email": "dan@example.com", "firstname": "Clean"}},
    ])
    db = tmp_path / "seqguard.duckdb"
    sync_hubspot(db, sandbox_config(sandbox.url, sandbox.cert), NOW)
    with connect(db, read_only=True) as con:
        reasons = con.execute("select reason, count(*) from ops.quarantine "
                              "group by all").fetchall()
        merged = con.execute("select email from raw_hubspot.contacts").fetchall()
    assert reasons == [("control character in an email: email", 3)]
    assert merged == [("dan@example.com",)]
