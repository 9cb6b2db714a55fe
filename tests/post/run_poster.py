"""One posting pass in a process of its own, so a test can `kill -9` it mid-way.

`python tests/post/run_poster.py DB URL CERT SEQUENCER NOW`; prints `ready` just before
posting starts and the PostResult as JSON when it ends.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from datetime import datetime

from tasks.core.config import sandbox_config
from tasks.post.poster import post_pending


def main(db: str, url: str, cert: str, sequencer: str, now: str) -> None:
    config = replace(sandbox_config(url, cert), sequencer=sequencer)
    print("ready", flush=True)
    result = post_pending(db, config, datetime.fromisoformat(now))
    print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
