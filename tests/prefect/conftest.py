"""Tests against a real `prefect server start`, one server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.prefect_server import PrefectServer, running_prefect_server


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real server per test module."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server
