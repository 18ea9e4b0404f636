"""`streamnest-tracker`: the registration, placement and chat service."""

from __future__ import annotations

import argparse
import signal
import sys

import trio

from tracker.chat_store import StoreError
from tracker.service import Tracker, TrackerConfig


def build_parser() -> argparse.ArgumentParser:
    """The command line described in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog="streamnest-tracker",
        description="Run the StreamNest tracker (registration, streamer lock, placement, "
        "chat). It never carries video.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=port_number, default=9000, help="port to listen on (0 = any free port)"
    )
    parser.add_argument(
        "--db", default=None, metavar="PATH", help="SQLite file for chat history (default: memory)"
    )
    parser.add_argument(
        "--max-peers", type=positive_int, default=10_000, metavar="N", help="connection cap"
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="how often peers report (default 1)",
    )
    parser.add_argument(
        "--missed-heartbeats",
        type=positive_int,
        default=3,
        metavar="N",
        help="silent intervals before a peer is declared dead (default 3)",
    )
    return parser


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0-65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return value


async def run(config: TrackerConfig) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    tracker = Tracker(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(tracker.serve)
            print(f"tracker listening on {host}:{port}", flush=True)
            async for signum in signals:
                print(f"tracker stopping ({signal.Signals(signum).name})", file=sys.stderr)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamnest-tracker` console script."""
    args = build_parser().parse_args(argv)
    config = TrackerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        max_peers=args.max_peers,
        heartbeat_interval_s=args.heartbeat_interval,
        missed_heartbeats=args.missed_heartbeats,
    )
    try:
        trio.run(run, config)
    except (StoreError, OSError, BaseExceptionGroup) as exc:
        cause = user_error(exc)
        if cause is None:
            raise
        if isinstance(cause, OSError):
            reason = cause.strerror or str(cause)
            message = f"cannot listen on {args.host}:{args.port}: {reason}"
        else:
            message = str(cause)
        print(f"streamnest-tracker: {message}", file=sys.stderr)
        return 1
    return 0


def user_error(exc: BaseException) -> StoreError | OSError | None:
    """The failure a user caused (bad --db, port taken), unwrapped from exception groups."""
    if isinstance(exc, StoreError | OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return user_error(exc.exceptions[0])
    return None


if __name__ == "__main__":
    sys.exit(main())
