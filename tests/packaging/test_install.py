"""seqguard installed from its wheel (not editable, not from this checkout) still has its
own SQL: the schema, the model and the built-in rules ship as the `sql` package's data,
and `seqguard init` scaffolds a project that lints clean against them and runs a cycle
against the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox.client import SandboxClient

ROOT = Path(__file__).resolve().parents[2]
# what the wheel is built from (as the Dockerfile's .dockerignore lets in)
SOURCES = ("pyproject.toml", "README.md", "flows", "tasks", "sql", "sandbox", "deployments")

CHECK = """
import json
import tasks
from tasks.core.resources import BUILTIN_RULES_DIR, OWN_SQL
from tasks.db import sql, store
from tasks.model import build_model
import duckdb
con = duckdb.connect("installed.duckdb")
applied = store.migrate(con)
con.close()
model = build_model("installed.duckdb", "project", None)
print(json.dumps({"tasks": tasks.__file__, "sql": str(OWN_SQL), "migrations": applied,
                  "model": sorted(model.rows),
                  "builtin": sorted(p.stem for p in BUILTIN_RULES_DIR.glob("*.sql"))}))
"""


def test_a_wheel_install_finds_its_schema_model_and_builtin_rules(
        tmp_path: Path, sandbox: SandboxClient) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("seqguard-*.whl")
    installed = tmp_path / "installed"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(installed), str(wheel)],
                   check=True)
    shutil.rmtree(source)  # nothing may come from a source tree
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                              cwd=work, timeout=300)

    init = run("-m", "flows.cli", "init", "project")
    assert init.returncode == 0, init.stderr
    assert (work / "project" / "seqguard.yml").is_file()
    assert (work / "project" / "sql" / "exclusions" / "do_not_contact.sql").is_file()

    checked = run("-c", CHECK)
    assert checked.returncode == 0, checked.stderr
    found = json.loads(checked.stdout.splitlines()[-1])
    assert found["tasks"].startswith(str(installed)) and found["sql"].startswith(str(installed))
    assert "001_raw.sql" in found["migrations"] and len(found["migrations"]) >= 10
    assert {"people", "companies", "engagements", "opportunities"} <= set(found["model"])
    assert {"unsubscribed", "bounced", "replied", "open_opportunity"} <= set(found["builtin"])

    lint = run("-m", "flows.cli", "lint", "--project", "project", "--db", "installed.duckdb")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    sandbox.reset(seed=3, contacts=200)
    cycle = run("-m", "flows.cli", "cycle", "--project", "project", "--db", "installed.duckdb",
                "--sandbox", sandbox.url, "--sandbox-cert", str(sandbox.cert), "--json")
    assert cycle.returncode == 0, cycle.stderr
    summary = json.loads(cycle.stdout)
    assert summary["model"]["rows"]["people"] > 0
    assert summary["rules"]["rules_run"] > 0 and not summary["rules"]["rules_failed"]
