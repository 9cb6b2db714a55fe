"""`seqguard sandbox`: the local HubSpot + Salesforce + sequencer server."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local sandbox server in the foreground",
        description="Run the local HubSpot + Salesforce + sequencer server over HTTPS. "
        "Writes DIR/cert.pem and prints the URL and certificate path.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=0, help="generated contacts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data/sandbox")
    parser.add_argument(
        "--enrollments", type=int, default=0, help="people already enrolled in two demo sequences"
    )
    parser.set_defaults(handler=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import serve

    serve(
        port=args.port,
        data_dir=args.data_dir,
        contacts=args.contacts,
        seed=args.seed,
        enrollments=args.enrollments,
    )
    return 0
