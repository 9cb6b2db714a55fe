"""Fixtures for the contract tests: the sandbox's configuration, as seqguard reads it."""

from __future__ import annotations

import pytest

from sandbox.client import SandboxClient
from tasks.core.config import Config, sandbox_config


@pytest.fixture
def config(sandbox: SandboxClient) -> Config:
    return sandbox_config(sandbox.url, sandbox.cert)
