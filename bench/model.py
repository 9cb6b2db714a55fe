"""How long the model rebuild takes on generated raw data (run by hand, not by pytest).

    .venv/bin/python bench/model.py --contacts 1000000

Generates the sandbox's CRM data, copies it into the raw snapshot tables of a fresh
seqguard database (as a full sync would leave them), then rebuilds the crm.* model a few
times, then once more after 1% of the contacts changed, printing wall and CPU seconds
(the machine may be shared). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "model"))

from model_support import copy_to_raw, generated_state  # noqa: E402

from tasks.core.config import Config  # noqa: E402
from tasks.db.store import connect  # noqa: E402
from tasks.model import build_model  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process (the machine may be shared: wall time alone misleads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        state = generated_state(args.contacts, seed=args.seed)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        raw = copy_to_raw(state, db)
        copied = time.perf_counter() - started
        state.con.close()
        del state
        print(f"generated {args.contacts:,} contacts in {generated:.1f} s, "
              f"copied {sum(raw.values()):,} raw rows in {copied:.1f} s", flush=True)

        config = Config(people_properties=["product_interest"])
        seconds, cpu_seconds = [], []
        result = None
        for n in range(args.builds):
            cpu = _cpu()
            result = build_model(db, tmp, config)
            seconds.append(result.seconds)
            cpu_seconds.append(round(_cpu() - cpu, 2))
            # the first build fills empty crm tables; later ones merge what changed
            print(f"build {n + 1}: {result.seconds:.2f} s wall, {cpu_seconds[-1]:.2f} s cpu",
                  flush=True)
        assert result is not None
        # a cycle's worth of change: 1% of contacts edited, then one more rebuild
        with connect(db) as con:
            con.execute("update raw_hubspot.contacts set firstname = firstname || 'x', "
                        "updated_at = updated_at + interval 1 minute where hash(id) % 100 = 0")
        cpu = _cpu()
        changed = build_model(db, tmp, config)
        changed_cpu = round(_cpu() - cpu, 2)
        print(f"build after 1% of contacts changed: {changed.seconds:.2f} s wall, "
              f"{changed_cpu:.2f} s cpu", flush=True)
        print("  seconds per table: " + ", ".join(
            f"{t} {s:.2f}" for t, s in changed.table_seconds.items()))
        for table, count in result.rows.items():
            print(f"  crm.{table}: {count:,}")
        print(json.dumps({
            "contacts": args.contacts,
            "raw_rows": sum(raw.values()),
            "build_seconds": seconds,
            "build_cpu_seconds": cpu_seconds,
            "changed_1pct_seconds": changed.seconds,
            "changed_1pct_cpu_seconds": changed_cpu,
            "crm_rows": result.rows,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }))


if __name__ == "__main__":
    main()
