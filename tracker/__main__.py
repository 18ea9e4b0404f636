"""`streamnest-tracker`: the registration, placement and chat service."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
from pathlib import Path

import trio

from protocol.join_key import JOIN_KEY_ENV, choose_join_key, join_key_problem
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
    parser.add_argument(
        "--max-unregistered",
        type=positive_int,
        default=1024,
        metavar="N",
        help="connections that have not said Hello yet, in all (1024)",
    )
    parser.add_argument(
        "--max-unregistered-per-ip",
        type=positive_int,
        default=128,
        metavar="N",
        help="... and from one address (128; peers behind one NAT register in bursts)",
    )
    private = parser.add_mutually_exclusive_group()
    private.add_argument(
        "--join-key",
        metavar="KEY",
        help=f"a private stream: peers must give KEY (better: ${JOIN_KEY_ENV} or --join-key-file, "
        "which other users cannot see in ps)",
    )
    private.add_argument("--join-key-file", metavar="FILE", help="read the join key from FILE")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    return parser


class ConfigError(Exception):
    """A setting the user gave that cannot work (printed as one line)."""


def join_key(args: argparse.Namespace) -> str | None:
    """The join key from --join-key, --join-key-file or the environment (or None)."""
    text = None
    if args.join_key_file:
        try:
            text = Path(args.join_key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the join key file: {exc}") from None
    key = choose_join_key(args.join_key, text, os.environ)
    if key is not None and (problem := join_key_problem(key)) is not None:
        raise ConfigError(problem)
    return key


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A server TLS context from --tls-cert/--tls-key, or None for plain TCP."""
    if not args.tls_cert and not args.tls_key:
        return None
    if not (args.tls_cert and args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate: {exc}") from None
    return context


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
    try:
        key, tls = join_key(args), tls_context(args)
    except ConfigError as exc:
        print(f"streamnest-tracker: {exc}", file=sys.stderr)
        return 2
    config = TrackerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        max_peers=args.max_peers,
        heartbeat_interval_s=args.heartbeat_interval,
        missed_heartbeats=args.missed_heartbeats,
        max_unregistered=args.max_unregistered,
        max_unregistered_per_ip=args.max_unregistered_per_ip,
        join_key=key,
        tls=tls,
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
