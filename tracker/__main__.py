"""`streamnest-tracker`: the registration, placement and chat service."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The command line described in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog="streamnest-tracker",
        description="Run the StreamNest tracker (registration, streamer lock, placement, chat).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port (0 = any free port)")
    parser.add_argument("--db", default=None, help="SQLite file for chat history")
    parser.add_argument("--max-peers", type=int, default=10_000, help="connection cap")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamnest-tracker` console script."""
    build_parser().parse_args(argv)
    print("streamnest-tracker: the tracker service is not available yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
