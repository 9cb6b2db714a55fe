"""`python -m sandbox --port N --contacts N --seed S --data-dir DIR`."""

import argparse

from sandbox.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data/sandbox")
    parser.add_argument("--enrollments", type=int, default=0)
    args = parser.parse_args()
    serve(
        port=args.port,
        data_dir=args.data_dir,
        contacts=args.contacts,
        seed=args.seed,
        enrollments=args.enrollments,
    )


if __name__ == "__main__":
    main()
