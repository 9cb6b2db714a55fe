"""Reading while a cycle writes: explain, preview, lint, schema and a plain DuckDB session
work while another process holds the database's write lock (they read the copy the last
cycle published), and lint never reports a configured column as missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from tasks.core.config import load_config
from tasks.db import store
from tasks.model import build_model
from tasks.run import runs
from tests.rules.conftest import NOW, people, write, write_rule

REPO = Path(__file__).resolve().parents[2]
# a writer in another process, as a cycle is: it holds the file's lock until killed
WRITER = """
import sys, time
from tasks.db import store
with store.connect(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(120)
"""
COLUMNS = "columns: {people: {job_title: {hubspot: jobtitle, salesforce: Title}}}\n"


@contextmanager
def cycle_writing(db: Path) -> Iterator[None]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "holding\n"
        with pytest.raises(store.DatabaseLocked):  # the lock is really held
            with store.connect(db, read_only=True):
                pass
        yield
    finally:
        writer.kill()
        writer.wait()


@pytest.fixture
def analyst(db: Path, project: Path) -> tuple[Path, Path]:
    """A configured job_title column, a rule on it, and a finished cycle's copy."""
    write(project, "seqguard.yml", COLUMNS)
    build_model(db, project, load_config(project))
    people(db, "ann@uni.example", job_title="PhD student", first_name="Ann")
    (project / "sql/exclusions/builtin").mkdir()
    write_rule(project, "students", "select email, 'student: ' || job_title as reason "
                                    "from crm.people where job_title ilike '%student%'")
    runs.record_finish(db, "run-1", "finished", {})  # publishes the reader copy
    return db, project


def cli(*args: str, db: Path, project: Path) -> list[str]:
    return [*args, "--db", str(db), "--project", str(project), "--now", NOW.isoformat()]


def test_every_reader_works_while_a_cycle_holds_the_database(
        analyst: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    db, project = analyst
    with cycle_writing(db):
        assert main(cli("explain", "ann@uni.example", db=db, project=project)) == 0
        assert "- students: student: PhD student" in capsys.readouterr().out
        assert main(cli("preview", db=db, project=project)) == 0
        assert "students" in capsys.readouterr().out
        assert main(cli("lint", db=db, project=project)) == 0
        assert capsys.readouterr().out == ""
        assert main(cli("schema", db=db, project=project)) == 0
        assert ("| job_title | VARCHAR | configured: hubspot contacts.jobtitle, salesforce "
                "Contact.Title, salesforce Lead.Title |") in capsys.readouterr().out
        # a DuckDB session of the analyst's own opens the published copy
        with duckdb.connect(str(store.reader_copy(db)), read_only=True) as con:
            assert con.execute("select job_title from crm.people").fetchall() == [
                ("PhD student",)]


def test_a_reader_never_holds_the_file_a_cycle_writes(analyst: tuple[Path, Path]) -> None:
    db, _ = analyst
    with store.connect_reader(db) as reader, cycle_writing(db):  # the writer takes the lock
        assert reader.execute("select email from crm.people").fetchall() == [
            ("ann@uni.example",)]


def test_without_a_published_copy_readers_say_why_and_lint_does_not_false_fail(
        analyst: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    db, project = analyst
    store.reader_copy(db).unlink()
    write(project, "seqguard.yml", COLUMNS + "crms: {hubspot: {properties: {contacts: [tier]}}}\n")
    write_rule(project, "gold", "select email from raw_hubspot.contacts where tier = 'gold'")
    with cycle_writing(db):
        assert main(cli("explain", "ann@uni.example", db=db, project=project)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no cycle has published a read-only copy yet" in err
        # the configured columns come from seqguard.yml: no false "job_title not found",
        # nor "tier not found" for the raw column the sync will add
        assert main(cli("lint", db=db, project=project)) == 0
        assert "not found" not in capsys.readouterr().out


def test_lint_of_a_missing_project_folder_fails(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    assert main(["lint", "--project", str(missing), "--db", str(tmp_path / "db.duckdb"),
                 "--json"]) == 2
    assert capsys.readouterr() == ("", f"seqguard lint: {missing}: no such project folder; "
                                       "pass --project with the folder holding sql/ (seqguard "
                                       "init DIR makes one)\n")
