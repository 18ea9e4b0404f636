"""`streamnest-tracker`: the registration, placement and chat service."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
from pathlib import Path

import trio

from protocol.addresses import format_address, parse_address
from protocol.join_key import JOIN_KEY_ENV, choose_join_key, join_key_problem
from tracker.errors import TrackerError
from tracker.service import Tracker, TrackerConfig
from tracker.tree import Placement


def build_parser() -> argparse.ArgumentParser:
    """The command line described in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog="streamnest-tracker",
        description="Run the StreamNest tracker (registration, streamer lock, placement, "
        "chat). It never carries video.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (:: = every interface, IPv6 and IPv4; 0.0.0.0 = every IPv4 one)",
    )
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
    parser.add_argument(
        "--placement",
        choices=[placement.value for placement in Placement],
        default=Placement.CAPACITY.value,
        help="capacity: viewers offering more slots sit nearer the source (default); "
        "shallowest: the shallowest free slot only, as if every peer were equal",
    )
    parser.add_argument(
        "--metrics",
        type=metrics_address,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (host 127.0.0.1 unless given)",
    )
    parser.add_argument(
        "--trust-addresses",
        action="store_true",
        help="give peers children without dialling them back first (only where every peer "
        "is known to be reachable: a lab, a benchmark of fake peers)",
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


def join_key(args: argparse.Namespace) -> str | None:
    """The join key from --join-key, --join-key-file or the environment (or None)."""
    text = None
    if args.join_key_file:
        try:
            text = Path(args.join_key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TrackerError(f"cannot read the join key file: {exc}") from None
    key = choose_join_key(args.join_key, text, os.environ)
    if key is not None and (problem := join_key_problem(key)) is not None:
        raise TrackerError(problem)
    return key


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A server TLS context from --tls-cert/--tls-key, or None for plain TCP."""
    if not args.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise TrackerError(
            f"cannot load the TLS certificate {args.tls_cert} (key {args.tls_key}): {exc}"
        ) from None
    return context


def metrics_address(text: str) -> tuple[str, int]:
    """argparse type: [HOST:]PORT."""
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
            print(f"tracker listening on {format_address(host, port)}", flush=True)
            if tracker.metrics_address is not None:
                where = format_address(*tracker.metrics_address)
                print(f"metrics at http://{where}/metrics", file=sys.stderr, flush=True)
            async for signum in signals:
                print(f"tracker stopping ({signal.Signals(signum).name})", file=sys.stderr)
                nursery.cancel_scope.cancel()
                break


def config_from(args: argparse.Namespace) -> TrackerConfig:
    """The service's settings from the command line (reads key and TLS files)."""
    return TrackerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        max_peers=args.max_peers,
        heartbeat_interval_s=args.heartbeat_interval,
        missed_heartbeats=args.missed_heartbeats,
        max_unregistered=args.max_unregistered,
        max_unregistered_per_ip=args.max_unregistered_per_ip,
        join_key=join_key(args),
        tls=tls_context(args),
        placement=Placement(args.placement),
        check_reachability=not args.trust_addresses,
        metrics=args.metrics,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamnest-tracker` console script.

    Exit status: 0 after a clean stop, 1 for a TrackerError (one line on stderr), 2 for
    a command-line mistake (argparse's usage message).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    failures: list[TrackerError] = []
    try:
        trio.run(run, config_from(args))
    except* TrackerError as group:
        failures = list(leaves(group))
    for failure in failures:
        print(f"streamnest-tracker: {failure}", file=sys.stderr)
    return 1 if failures else 0


def leaves(group: BaseExceptionGroup[TrackerError]) -> list[TrackerError]:
    """The TrackerErrors in `group`, however deeply nurseries nested them."""
    found: list[TrackerError] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found += leaves(exc)
        else:
            found.append(exc)
    return found


if __name__ == "__main__":
    sys.exit(main())
