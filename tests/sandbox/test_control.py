"""The sandbox's control API and faults, seen through the real clients."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import hubspot
import pytest
import requests
from hubspot.crm.contacts.exceptions import ApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest
from urllib3.util.retry import Retry

from sandbox.client import SandboxClient

NOW = datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def fresh(sandbox: SandboxClient) -> SandboxClient:
    sandbox.reset(seed=1, contacts=20, now=NOW)
    yield sandbox
    sandbox.faults()


def test_a_rate_limit_reaches_hubspot_api_client_as_429_with_policy_name(
        fresh: SandboxClient) -> None:
    client = hubspot.HubSpot(access_token="sandbox-token", host=fresh.url,
                             ssl_ca_cert=fresh.cert,
                             retry=Retry(total=0, respect_retry_after_header=False))
    fresh.faults(rate_limit_per_10s=2)
    client.crm.contacts.basic_api.get_page(limit=1)
    client.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as refused:
        client.crm.contacts.basic_api.get_page(limit=1)
    assert refused.value.status == 429
    assert '"policyName":"TEN_SECONDLY_ROLLING"' in refused.value.body.replace(" ", "")
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_a_default_hubspot_client_waits_out_retry_after(
        fresh: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    fresh.faults(rate_limit_per_10s=1)
    hubspot_client.crm.contacts.basic_api.get_page(limit=1)
    hubspot_client.crm.contacts.basic_api.get_page(limit=1)  # urllib3 honours Retry-After
    assert [e["status"] for e in fresh.requests()[-3:]] == [200, 429, 200]


def test_a_rate_limit_reaches_simple_salesforce_as_request_limit_exceeded(
        fresh: SandboxClient, salesforce_client: Salesforce) -> None:
    fresh.faults(rate_limit_per_10s=1)
    salesforce_client.query("SELECT Id FROM Contact LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest, match="REQUEST_LIMIT_EXCEEDED"):
        salesforce_client.query("SELECT Id FROM Contact LIMIT 1")


def test_wrong_credentials_get_the_real_401s(fresh: SandboxClient) -> None:
    client = hubspot.HubSpot(access_token="expired", host=fresh.url, ssl_ca_cert=fresh.cert)
    with pytest.raises(ApiException) as refused:
        client.crm.contacts.basic_api.get_page(limit=1)
    assert refused.value.status == 401 and "INVALID_AUTHENTICATION" in refused.value.body
    session = requests.Session()
    session.verify, session.trust_env = fresh.cert, False
    salesforce = Salesforce(instance_url=fresh.url, session_id="stale", session=session)
    with pytest.raises(SalesforceExpiredSession):
        salesforce.query("SELECT Id FROM Contact")


def test_server_errors_and_latency_are_injected(fresh: SandboxClient) -> None:
    http = fresh.http
    fresh.faults(error_rate=1.0)
    answer = http.get(f"{fresh.url}/crm/v3/objects/contacts",
                      headers={"Authorization": "Bearer sandbox-token"})
    assert answer.status_code == 502
    fresh.faults(latency_ms=300)
    started = time.monotonic()
    http.get(f"{fresh.url}/crm/v3/objects/contacts",
             headers={"Authorization": "Bearer sandbox-token"})
    assert time.monotonic() - started >= 0.3
    logged = fresh.requests()
    assert [e["status"] for e in logged[-2:]] == [502, 200]


def test_the_clock_sends_due_steps_and_the_log_shows_them(fresh: SandboxClient) -> None:
    fresh.define_sequences([{"id": "7", "name": "Two steps",
                             "steps": [{"after_minutes": 0}, {"after_minutes": 60}]}])
    contact = fresh.table("hs_contacts")[0]
    answer = fresh.http.post(
        f"{fresh.url}/automation/v4/sequences/enrollments?userId=1",
        json={"sequenceId": "7", "contactId": str(contact["id"]), "senderEmail": "r@x.test"},
        headers={"Authorization": "Bearer sandbox-token"})
    assert answer.status_code == 200, answer.text
    assert fresh.set_clock("2026-03-02T09:30:00Z")["steps_sent"] == 1
    assert fresh.set_clock("2026-03-02T10:30:00Z")["steps_sent"] == 1
    assert [s["step"] for s in fresh.sent()] == [1, 2]
    [enrollment] = fresh.enrollments()
    assert (enrollment["state"], enrollment["step"]) == ("finished", 2)
    emails = fresh.table("hs_emails")
    assert sum(e["hs_sequence_id"] == "7" for e in emails) == 2  # the CRM sees the sends


def test_seqguard_sandbox_prints_its_url_and_certificate(tmp_path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "sandbox", "--port", "0", "--data-dir",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(10)
    assert line.startswith("seqguard sandbox listening on https://127.0.0.1:")
    assert f"certificate: {tmp_path / 'cert.pem'}" in line
    assert (tmp_path / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
