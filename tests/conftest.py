"""Shared fixtures: one sandbox server process and one Prefect test harness per session.

Everything is real: the sandbox speaks HTTPS, the clients are the real HubSpot and
Salesforce libraries, databases are DuckDB files under tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import hubspot  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from simple_salesforce import Salesforce  # noqa: E402

from sandbox.client import SandboxClient, running_sandbox  # noqa: E402

# `make test` hands whole files to two workers in collection order; the longest files
# go first so that no worker is left running one of them alone at the end.
LONGEST_FIRST = ("tests/proof/test_faults.py", "tests/proof/test_soak.py", "tests/flows/",
                 "tests/prefect/", "tests/post/test_exactly_once.py", "tests/sync/test_sync.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST)
                     if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxClient]:
    """A sandbox server for the whole session; tests reset it to the data they need."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), quiet=False) as client:
        yield client


@pytest.fixture
def hubspot_client(sandbox: SandboxClient) -> hubspot.HubSpot:
    return hubspot.HubSpot(access_token="sandbox-token", host=sandbox.url, ssl_ca_cert=sandbox.cert)


@pytest.fixture
def salesforce_client(sandbox: SandboxClient) -> Salesforce:
    session = requests.Session()
    session.verify = sandbox.cert
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would override verify
    return Salesforce(instance_url=sandbox.url, session_id="sandbox-session", session=session)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the session (entering it costs ~13 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
