"""`streamnest-peer`: run a peer as source or viewer, chat, or query the tracker."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The command line described in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog="streamnest-peer",
        description="Stream a video to a StreamNest mesh, or watch and relay one.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("source", help="stream a file, camera, URL or test pattern")
    commands.add_parser("view", help="watch the live stream and relay it to other viewers")
    commands.add_parser("chat", help="send one chat message")
    commands.add_parser("status", help="show the swarm as the tracker sees it")
    commands.add_parser("gui", help="open the desktop app")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamnest-peer` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(f"streamnest-peer: '{args.command}' is not available yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
