"""The CLI contract: the DESIGN commands exist, and errors are one line with an exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.cli import main

DESIGN_COMMANDS = [
    "cycle",
    "serve",
    "lint",
    "explain",
    "preview",
    "schema",
    "enroll",
    "unenroll",
    "recover",
    "runs",
    "history",
    "init",
    "sandbox",
]


def test_help_lists_every_design_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in DESIGN_COMMANDS:
        assert command in result.stdout


def test_cycle_with_a_missing_certificate_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    code = main(
        [
            "cycle",
            "--db",
            str(tmp_path / "db.duckdb"),
            "--project",
            str(tmp_path),
            "--sandbox",
            "https://127.0.0.1:9",
            "--sandbox-cert",
            str(tmp_path / "no.pem"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "no.pem not found" in err and "--sandbox-cert" in err


def test_bad_now_is_refused_with_the_format_to_use(tmp_path, capsys) -> None:
    code = main(
        [
            "cycle",
            "--db",
            str(tmp_path / "db.duckdb"),
            "--now",
            "yesterday",
            "--sandbox",
            "https://127.0.0.1:9",
        ]
    )
    assert code == 2
    assert "--now: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


def test_broken_seqguard_yml_names_the_file_and_line(tmp_path, capsys) -> None:
    (tmp_path / "seqguard.yml").write_text("crms:\n  hubspot: [unclosed\n")
    code = main(["cycle", "--db", str(tmp_path / "db.duckdb"), "--project", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "seqguard.yml:" in err and "not valid YAML" in err


@pytest.mark.parametrize("command", DESIGN_COMMANDS)
def test_every_command_has_help(command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0


def test_init_scaffolds_a_project_once_and_refuses_a_folder_that_holds_one(
    tmp_path, capsys
) -> None:
    project = tmp_path / "acme"
    assert main(["init", str(project)]) == 0
    assert f"wrote {project / 'seqguard.yml'}" in capsys.readouterr().out
    assert main(["lint", "--project", str(project), "--db", str(tmp_path / "db.duckdb")]) == 0
    capsys.readouterr()
    settings = (project / "seqguard.yml").read_text()
    assert main(["init", str(project)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds seqguard.yml and sql" in err
    assert (project / "seqguard.yml").read_text() == settings
