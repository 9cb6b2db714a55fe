"""Start a sandbox server process and drive it through its control API.

Used by tests, `make run` (via `seqguard cycle`) and the benchmarks, so all of them talk
to the sandbox over real HTTPS, as seqguard does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from sandbox.server import READY_PREFIX


class SandboxClient:
    """The `/_sandbox/` control endpoints of a running sandbox."""

    def __init__(self, url: str, cert: str | Path) -> None:
        self.url = url.rstrip("/")
        self.cert = str(cert)
        self.http = requests.Session()
        self.http.verify = self.cert
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=600)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(
        self,
        seed: int = 0,
        contacts: int = 0,
        companies: int | None = None,
        deals: int | None = None,
        now: datetime | str | None = None,
        enrollments: int = 0,
    ) -> dict:
        body: dict[str, Any] = {"seed": seed, "contacts": contacts, "enrollments": enrollments}
        if companies is not None:
            body["companies"] = companies
        if deals is not None:
            body["deals"] = deals
        if now is not None:
            body["now"] = now if isinstance(now, str) else now.isoformat()
        return self._call("POST", "reset", body)

    def set_clock(self, now: datetime | str) -> dict:
        return self._call(
            "POST", "clock", {"now": now if isinstance(now, str) else now.isoformat()}
        )

    def clock(self) -> str:
        return self._call("GET", "clock")["now"]

    def upsert_hubspot(self, obj: str, records: list[dict]) -> list[dict]:
        return self._call("POST", f"hubspot/{obj}", records)["results"]

    def associate(self, rows: list[dict]) -> None:
        self._call("POST", "hubspot/associations", rows)

    def upsert_salesforce(self, sobject: str, records: list[dict]) -> list[dict]:
        return self._call("POST", f"salesforce/{sobject}", records)["results"]

    def define_sequences(self, sequences: list[dict]) -> list[dict]:
        return self._call("POST", "sequences", sequences)

    def enrollments(self) -> list[dict]:
        return self._call("GET", "enrollments")

    def workflow(self, lag_minutes: int | None) -> dict:
        """The HubSpot unenroll workflow's lag in minutes (None: it never runs)."""
        return self._call("POST", "hubspot/workflow", {"lag_minutes": lag_minutes})

    def faults(self, **settings: Any) -> dict:
        return self._call("POST", "faults", settings)

    def requests(self, since: int = 0) -> list[dict]:
        return self._call("GET", f"requests?since={since}")

    def clear_requests(self) -> None:
        self._call("POST", "requests/clear")

    def sent(self) -> list[dict]:
        return self._call("GET", "sent")

    def sequencer_events(self, events: list[dict]) -> list[dict]:
        """Replies, bounces and unsubscribes at a sequencer of its own:
        `[{sequencer, email, kind, at?}]`; returns the activity rows recorded."""
        return self._call("POST", "sequencer/events", events)

    def sequencer_activity(self) -> list[dict]:
        """Everything the sequencers of their own recorded: sends and recipients' events."""
        return self._call("GET", "sequencer/events")

    def table(self, name: str) -> list[dict]:
        """Every row of one of the sandbox's own tables (its ground truth)."""
        return self._call("GET", f"table/{name}")

    def events(self) -> list[dict]:
        return self._call("GET", "events")


@contextmanager
def running_sandbox(
    data_dir: str | Path,
    port: int = 0,
    contacts: int = 0,
    seed: int = 0,
    enrollments: int = 0,
    timeout: float = 180.0,
    quiet: bool = True,
) -> Iterator[SandboxClient]:
    """A sandbox server in a child process for the duration of the block."""
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--contacts",
        str(contacts),
        "--seed",
        str(seed),
        "--enrollments",
        str(enrollments),
    ]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=None if not quiet else subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        client = _wait_ready(process, timeout)
        yield client
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(process: subprocess.Popen, timeout: float) -> SandboxClient:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(READY_PREFIX):
            url, _, rest = line[len(READY_PREFIX) :].partition(" (certificate: ")
            return SandboxClient(url.strip(), rest.rstrip().rstrip(")"))
        if not line and process.poll() is not None:
            raise RuntimeError(
                f"the sandbox exited with code {process.returncode} before it was ready"
            )
    raise RuntimeError(f"the sandbox was not ready within {timeout:.0f} s")
