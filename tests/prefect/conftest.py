"""Tests against a real `prefect server start`, one server per test module."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.prefect_server import PrefectServer, running_prefect_server


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real server per test module."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server


def wait_for(what: str, probe, timeout: float, every: float = 0.5):
    """Probe until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout} s")
