"""`seqguard sandbox`: the local HubSpot + Salesforce + sequencer server."""

from __future__ import annotations

import argparse


def run_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import serve

    serve(port=args.port, data_dir=args.data_dir, contacts=args.contacts, seed=args.seed,
          enrollments=args.enrollments)
    return 0
