"""A real `prefect server start` (not the test harness, which runs no scheduler and
reaps no leases), with its own PREFECT_HOME and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class PrefectServer:
    """A running server: its API URL and the environment its clients need."""

    api_url: str
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a client process (seqguard serve, a CLI cycle) of this server."""
        return {**os.environ, "PREFECT_API_URL": self.api_url,
                "PREFECT_HOME": str(self.home / "client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING", **extra}

    @contextmanager
    def settings(self) -> Iterator[None]:
        """This process talks to the server (instead of the harness or a temporary one)."""
        from prefect.events.worker import EventsWorker
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_LOGGING_TO_API_ENABLED,
            temporary_settings,
        )

        # logs stay local: flushed at exit, they would find the server gone
        with temporary_settings({PREFECT_API_URL: self.api_url,
                                 PREFECT_LOGGING_TO_API_ENABLED: False}):
            try:
                yield
            finally:
                # the events this process emitted go out now, while the server is up: a
                # test harness drains every events worker when it stops, and one aimed
                # at a stopped server retried for 7 minutes
                EventsWorker.drain_all(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_prefect_server(home: Path, repossessor_seconds: float = 2,
                           timeout: float = 90) -> Iterator[PrefectServer]:
    """`prefect server start` with a 1 s scheduler loop and a short lease repossessor loop
    (Prefect's default is 15 s), so schedules and expired leases show within seconds;
    stopped (with its process group) on exit."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
           "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": str(repossessor_seconds),
           "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"prefect server not up in {timeout} s")
        yield PrefectServer(api_url, home)
    finally:
        stop_group(server)
        log.close()


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM a process started with `start_new_session=True` and its children, then
    SIGKILL what is left after `timeout` seconds."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
