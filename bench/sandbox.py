"""Benchmark the sandbox: generating N contacts, and serving them to hubspot-api-client.

    .venv/bin/python bench/sandbox.py --contacts 1000000 [--seconds 20] [--seed 0]

Targets (issue 3): 1M contacts generated in <= 60 s, and the process holding them stays
<= 2 GiB RSS. The serving figure is contact pages of 100 per second, read the way sync
reads them (`basic_api.get_page(limit=100, after=...)`, one client, sequential).
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.generate import generate, seed_metadata  # noqa: E402
from sandbox.state import SandboxState  # noqa: E402

MIB = 1024 * 1024


def peak_rss_mib(pid: int | None = None) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MiB."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def bench_generate(contacts: int, seed: int) -> dict[str, Any]:
    """Generate in this process (before the HTTP client is even imported) and time it."""
    state = SandboxState()
    seed_metadata(state)
    started = time.perf_counter()
    counts = generate(state, seed=seed, contacts=contacts)
    seconds = time.perf_counter() - started
    figures = {
        "generate_seconds": round(seconds, 2),
        "generate_rss_mib": round(peak_rss_mib(), 1),
        "rows": counts,
    }
    state.con.close()
    del state
    gc.collect()
    return figures


def server_process() -> psutil.Process:
    """The sandbox server: our child running `python -m sandbox`."""
    for child in psutil.Process().children(recursive=True):
        if "sandbox" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("the sandbox server process was not found among our children")


def read_pages(url: str, cert: str, seconds: float) -> tuple[int, int, float]:
    """Page through contacts for `seconds`, starting over at the end; (pages, rows, secs)."""
    import hubspot

    client = hubspot.HubSpot(access_token="sandbox-token", host=url, ssl_ca_cert=cert)
    api = client.crm.contacts.basic_api
    api.get_page(limit=100)  # warm up: TLS handshake, connection pool
    pages = rows = 0
    after: str | None = None
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        page = api.get_page(limit=100, after=after)
        pages += 1
        rows += len(page.results)
        after = page.paging.next.after if page.paging and page.paging.next else None
    return pages, rows, elapsed


def read_raw_pages(url: str, cert: str, seconds: float) -> tuple[int, float]:
    """The same paging over a bare requests session: the server's side without the
    client's model decoding (hubspot-api-client parses every timestamp with dateutil)."""
    import requests

    session = requests.Session()
    session.verify = cert
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.headers["Authorization"] = "Bearer sandbox-token"
    pages = 0
    after: str | None = None
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        params = {"limit": 100, **({"after": after} if after else {})}
        response = session.get(f"{url}/crm/v3/objects/contacts", params=params, timeout=30)
        response.raise_for_status()
        pages += 1
        after = response.json().get("paging", {}).get("next", {}).get("after")
    return pages, elapsed


def bench_serve(contacts: int, seed: int, seconds: float) -> dict[str, Any]:
    """Start a sandbox server with `contacts` generated, read pages, measure its memory."""
    from sandbox.client import running_sandbox

    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        with running_sandbox(data_dir, contacts=contacts, seed=seed, timeout=900) as sandbox:
            ready = time.perf_counter() - started
            server = server_process()
            idle_rss = server.memory_info().rss / MIB
            pages, rows, elapsed = read_pages(sandbox.url, sandbox.cert, seconds)
            raw_pages, raw_elapsed = read_raw_pages(sandbox.url, sandbox.cert, seconds / 2)
            return {
                "serve_start_seconds": round(ready, 1),
                "serve_idle_rss_mib": round(idle_rss, 1),
                "serve_rss_mib": round(server.memory_info().rss / MIB, 1),
                "serve_peak_rss_mib": round(peak_rss_mib(server.pid), 1),
                "hubspot_pages_per_s": round(pages / elapsed, 1),
                "hubspot_rows_read": rows,
                "raw_pages_per_s": round(raw_pages / raw_elapsed, 1),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to read pages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-serve", action="store_true", help="only time generate")
    args = parser.parse_args()

    figures: dict[str, Any] = {"contacts": args.contacts}
    generated = bench_generate(args.contacts, args.seed)
    rows = generated.pop("rows")
    figures.update(generated)
    print(f"generate: {figures['generate_seconds']} s, peak RSS "
          f"{figures['generate_rss_mib']} MiB; rows {rows}", flush=True)
    if not args.skip_serve:
        figures.update(bench_serve(args.contacts, args.seed, args.seconds))
        print(f"serve: ready in {figures['serve_start_seconds']} s, "
              f"{figures['hubspot_pages_per_s']} pages/s of 100 contacts via hubspot-api-client "
              f"({figures['raw_pages_per_s']} via bare requests), server RSS "
              f"{figures['serve_rss_mib']} MiB (peak {figures['serve_peak_rss_mib']})",
              flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
