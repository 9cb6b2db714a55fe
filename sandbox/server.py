"""Run the sandbox over HTTPS in the foreground (`seqguard sandbox`, `python -m sandbox`)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

from sandbox.app import build_app
from sandbox.state import SandboxState
from sandbox.tls import write_certificate

READY_PREFIX = "seqguard sandbox listening on "


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0 = a free one).

    The protocol must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
    sockets whose proto says TCP, and without it every response waits ~40 ms on Nagle.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


def serve(
    port: int = 0,
    data_dir: str | Path = "data/sandbox",
    contacts: int = 0,
    seed: int = 0,
    enrollments: int = 0,
) -> None:
    """Generate data, write the certificate, print the URL and serve until stopped."""
    from sandbox import generate

    state = SandboxState()
    generate.seed_metadata(state)
    if contacts:
        generate.generate(state, seed=seed, contacts=contacts)
    if enrollments:
        from sandbox.demo import enroll_demo

        enroll_demo(state, enrollments)
    cert, key = write_certificate(Path(data_dir))
    sock = bind(port)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        build_app(state),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )
    print(f"{READY_PREFIX}{url} (certificate: {cert.resolve()})", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)
