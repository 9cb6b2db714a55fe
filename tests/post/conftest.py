"""Fixtures for the poster tests: a fresh sandbox and database per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from post_support import NOW, SEQUENCES

from sandbox.client import SandboxClient
from tasks.core.config import Config, sandbox_config
from tasks.db.store import connect


@pytest.fixture
def fresh(sandbox: SandboxClient) -> SandboxClient:
    """The session's sandbox, emptied, on a fixed clock, with two sequences."""
    sandbox.reset(now=NOW)
    sandbox.define_sequences(SEQUENCES)
    return sandbox


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "seqguard.duckdb"
    with connect(path):
        pass  # migrated
    return path


@pytest.fixture
def config(fresh: SandboxClient) -> Config:
    return sandbox_config(fresh.url, fresh.cert)


