"""`streamnest-peer`: stream, watch and relay, chat, or ask the tracker for its status."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import ssl
import sys
from functools import partial
from pathlib import Path
from typing import Any

import trio

import protocol as p
from peer.addresses import ALL_INTERFACES
from peer.chat_board import chat_line
from peer.cli import Sinks, run_peer
from peer.config import PeerConfig
from peer.errors import PeerError, UsageError
from peer.h264 import (
    DEFAULT_BITRATE_KBPS,
    DEFAULT_CRF,
    DEFAULT_KEYINT_S,
    MAX_BITRATE_KBPS,
    MAX_CRF,
    MAX_KEYINT_S,
    MIN_BITRATE_KBPS,
    MIN_CRF,
    MIN_KEYINT_S,
    H264Settings,
)
from peer.one_shot import one_shot
from peer.recorder import check_record_path
from peer.resolution import RESOLUTIONS, ResolutionError, parse_resolution
from peer.upload_limit import MIN_LIMIT_KBPS
from protocol.addresses import parse_address
from protocol.join_key import JOIN_KEY_ENV, choose_join_key
from protocol.limits import MAX_CHAT_CHARS, MAX_CHILDREN
from protocol.names import name_problem

MAX_HTTP_CLIENTS = 1000
DEFAULT_TRACKER_PORT = 9000


def address(text: str) -> tuple[str, int]:
    """argparse type: HOST:PORT, [v6]:PORT, or PORT (host 127.0.0.1)."""
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tracker_address(text: str) -> tuple[str, int]:
    """argparse type: HOST[:PORT], [v6][:PORT] or a bare IPv6 address (port 9000)."""
    try:
        return parse_address(text, default_port=DEFAULT_TRACKER_PORT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def listen_address(text: str) -> tuple[str, int]:
    """argparse type: HOST:PORT, HOST, or PORT (on every interface); port 0 = any free one."""
    try:
        return parse_address(text, default_host=ALL_INTERFACES, default_port=0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def resolution(text: str) -> str:
    """argparse type: 360p | 480p | 720p | 1080p | source."""
    try:
        return parse_resolution(text)
    except ResolutionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def peer_name(text: str) -> str:
    """argparse type: a valid peer name."""
    problem = name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"invalid name {text!r}: {problem}")
    return text


def child_count(text: str) -> int:
    """argparse type: 0..MAX_CHILDREN."""
    value = int(text)
    if not 0 <= value <= MAX_CHILDREN:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and {MAX_CHILDREN}")
    return value


def positive(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def upload_limit(text: str) -> float:
    """argparse type: kb/s, at least MIN_LIMIT_KBPS."""
    value = float(text)
    if not MIN_LIMIT_KBPS <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be at least {MIN_LIMIT_KBPS:g} kb/s")
    return value


def client_count(text: str) -> int:
    """argparse type: 1..MAX_HTTP_CLIENTS."""
    value = int(text)
    if not 1 <= value <= MAX_HTTP_CLIENTS:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and {MAX_HTTP_CLIENTS}")
    return value


def quality(text: str) -> int:
    """argparse type: JPEG quality 1..100."""
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not a JPEG quality from 1 to 100")
    return value


def _bounded(low: float, high: float, what: str, kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not {what} from {low:g} to {high:g}")
        return value

    return parse


bitrate = _bounded(MIN_BITRATE_KBPS, MAX_BITRATE_KBPS, "a bitrate in kb/s", int)
crf = _bounded(MIN_CRF, MAX_CRF, "a CRF", int)
keyint = _bounded(MIN_KEYINT_S, MAX_KEYINT_S, "a keyframe interval in seconds", float)


def build_parser() -> argparse.ArgumentParser:
    """The command line described in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog="streamnest-peer",
        description="Stream a video to a StreamNest mesh, or watch it and relay it onward.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(sub: argparse.ArgumentParser, *, name_required: bool = False) -> None:
        sub.add_argument(
            "--tracker",
            type=tracker_address,
            default=("127.0.0.1", DEFAULT_TRACKER_PORT),
            metavar="HOST[:PORT]",
            help=f"the tracker (default 127.0.0.1:{DEFAULT_TRACKER_PORT}; IPv6 as [::1]:9000)",
        )
        sub.add_argument(
            "--name", type=peer_name, required=name_required, help="default: a random name"
        )
        private = sub.add_mutually_exclusive_group()
        private.add_argument(
            "--join-key",
            metavar="KEY",
            help=f"the key of a private stream (better: ${JOIN_KEY_ENV} or --join-key-file)",
        )
        private.add_argument("--join-key-file", metavar="FILE", help="read the join key from FILE")
        sub.add_argument(
            "--tls-ca", metavar="FILE", help="connect to the tracker over TLS, trusting this CA"
        )

    def streaming(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--listen",
            type=listen_address,
            default=(ALL_INTERFACES, 0),
            metavar="HOST:PORT",
            help="where to accept children (default: every interface, IPv6 and IPv4, any "
            "free port); the tracker tells each child which of our addresses to dial",
        )
        sub.add_argument(
            "--advertise",
            type=address,
            metavar="HOST:PORT",
            help="tell children to dial exactly this (a port forwarded to --listen's)",
        )
        sub.add_argument(
            "--no-port-mapping",
            dest="port_mapping",
            action="store_false",
            help="do not ask the home router (UPnP) to forward a port to us",
        )
        sub.add_argument(
            "--upload-limit",
            type=upload_limit,
            metavar="KBPS",
            help="send our children at most KBPS kb/s in all (default: what the uplink takes)",
        )
        sub.add_argument(
            "--stats-json", action="store_true", help="one JSON line of statistics per second"
        )
        sub.add_argument(
            "--http",
            type=address,
            metavar="[HOST:]PORT",
            help="serve the live page, /stream.mjpg, /snapshot.jpg, /stats.json and /chat "
            "(host 127.0.0.1 unless given)",
        )
        sub.add_argument(
            "--http-max-clients",
            type=client_count,
            default=32,
            metavar="N",
            help="HTTP requests served at once; more get 503 (32)",
        )

    source = commands.add_parser("source", help="stream a file, camera, URL or test pattern")
    source.add_argument(
        "source", metavar="SOURCE", help="file, camera index, URL, testsrc[:WxH@FPS]"
    )
    common(source)
    streaming(source)
    source.add_argument(
        "--fanout",
        type=child_count,
        default=3,
        help="direct children (3), fewer while the upload cannot carry them",
    )
    source.add_argument("--fps", type=positive, help="frame rate (default: the file's own)")
    source.add_argument("--quality", type=quality, default=80, help="JPEG quality (80)")
    source.add_argument(
        "--max-resolution", type=resolution, metavar="R", help="downscale to at most R"
    )
    source.add_argument("--loop", action="store_true", help="restart the file at its end")
    source.add_argument(
        "--codec",
        choices=list(p.CODECS_BY_LABEL),
        default="jpeg",
        help="jpeg: every frame stands alone (default); h264: about a tenth of the bits",
    )
    source.add_argument(
        "--bitrate",
        type=bitrate,
        metavar="KBPS",
        help=f"h264: the rate cap (VBV), kb/s ({DEFAULT_BITRATE_KBPS})",
    )
    source.add_argument(
        "--crf",
        type=crf,
        metavar="N",
        help=f"h264: quality, lower is better ({DEFAULT_CRF})",
    )
    source.add_argument(
        "--keyint",
        type=keyint,
        metavar="SECONDS",
        help=f"h264: a keyframe every SECONDS ({DEFAULT_KEYINT_S:g})",
    )

    view = commands.add_parser("view", help="watch the live stream and relay it to others")
    common(view)
    streaming(view)
    view.add_argument(
        "--resolution",
        type=resolution,
        default="source",
        metavar="R",
        help=f"display resolution: {' | '.join(RESOLUTIONS)} (source)",
    )
    view.add_argument(
        "--max-children",
        type=child_count,
        default=3,
        help="viewers to relay to at most (3; 0 = leaf); granted as the upload proves it",
    )
    view.add_argument("--duration", type=positive, metavar="SECONDS", help="leave after this")
    view.add_argument(
        "--no-decode", action="store_true", help="relay and count only; decode nothing"
    )
    view.add_argument(
        "--record",
        metavar="FILE",
        help="write the stream to FILE (.avi MJPG, .mp4 mp4v or .mkv XVID) at --resolution",
    )

    chat = commands.add_parser("chat", help="send one chat message")
    common(chat, name_required=True)
    chat.add_argument("text", metavar="TEXT")

    status = commands.add_parser("status", help="show the swarm as the tracker sees it")
    common(status)
    status.add_argument("--json", action="store_true", help="print the raw status as JSON")

    gui = commands.add_parser("gui", help="open the desktop app")
    gui.add_argument(
        "--no-port-mapping",
        dest="port_mapping",
        action="store_false",
        help="do not ask the home router (UPnP) to forward a port to us",
    )
    commands.add_parser(
        "simulate", help="run a whole swarm on this machine (see: simulate --help)", add_help=False
    )
    return parser


def random_name(prefix: str) -> str:
    """A random peer name, unique enough."""
    return f"{prefix}-{secrets.token_hex(3)}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `streamnest-peer` console script."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["simulate"]:
        from peer.simulation.command_line import main as simulate

        return simulate(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return run_reporting_errors(args)
    except KeyboardInterrupt:
        return 130


def run_reporting_errors(args: argparse.Namespace) -> int:
    """Run the command; a user's error becomes one line on stderr and exit status 1.

    trio raises failures inside exception groups, so they are caught with `except*`;
    anything that is not a PeerError (a bug) keeps its traceback.
    """
    try:
        return dispatch(args)
    except* BrokenPipeError:
        # Our reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except* PeerError as group:
        print(f"streamnest-peer: {first_leaf(group)}", file=sys.stderr)
    return 1


def first_leaf(group: BaseExceptionGroup[PeerError]) -> PeerError:
    """The first error inside a (nested) exception group."""
    inner = group.exceptions[0]
    return first_leaf(inner) if isinstance(inner, BaseExceptionGroup) else inner


def join_key(args: argparse.Namespace) -> str | None:
    """The join key from --join-key, --join-key-file or the environment (or None)."""
    text = None
    if args.join_key_file:
        try:
            text = Path(args.join_key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the join key file: {exc}") from None
    return choose_join_key(args.join_key, text, os.environ)


def codec_settings(args: argparse.Namespace) -> tuple[p.Codec, H264Settings]:
    """The source's codec and H.264 settings; UsageError for H.264 options without it."""
    codec = p.CODECS_BY_LABEL[getattr(args, "codec", "jpeg")]
    given = {
        name: value
        for name in ("bitrate", "crf", "keyint")
        if (value := getattr(args, name, None)) is not None
    }
    if given and codec is not p.Codec.H264:
        options = ", ".join(f"--{name}" for name in given)
        verb = "needs" if len(given) == 1 else "need"
        raise UsageError(f"{options} {verb} --codec h264")
    settings = H264Settings(
        crf=given.get("crf", DEFAULT_CRF),
        bitrate_kbps=given.get("bitrate", DEFAULT_BITRATE_KBPS),
        keyint_s=given.get("keyint", DEFAULT_KEYINT_S),
    )
    return codec, settings


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A client TLS context trusting --tls-ca, or None for plain TCP."""
    if not args.tls_ca:
        return None
    try:
        return ssl.create_default_context(cafile=args.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the CA certificate {args.tls_ca!r}: {exc}") from None


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command."""
    key = join_key(args) if "join_key" in args else None
    tls = tls_context(args) if "tls_ca" in args else None
    if args.command in ("source", "view"):
        codec, h264 = codec_settings(args)
        config = PeerConfig(
            role="source" if args.command == "source" else "viewer",
            name=args.name or random_name(args.command),
            tracker=args.tracker,
            listen=args.listen,
            advertise=args.advertise,
            port_mapping=args.port_mapping and args.advertise is None,
            max_children=args.fanout if args.command == "source" else args.max_children,
            resolution=getattr(args, "resolution", "source"),
            source=getattr(args, "source", None),
            fps=getattr(args, "fps", None),
            quality=getattr(args, "quality", 80),
            codec=codec,
            h264=h264,
            max_resolution=getattr(args, "max_resolution", None),
            loop=getattr(args, "loop", False),
            decode=not getattr(args, "no_decode", False),
            join_key=key,
            tls=tls,
            upload_limit_kbps=args.upload_limit,
        )
        sinks = Sinks(
            http=args.http,
            http_max_clients=args.http_max_clients,
            record=check_record_path(args.record) if getattr(args, "record", None) else None,
        )
        trio.run(
            lambda: run_peer(
                config,
                stats_json=args.stats_json,
                duration_s=getattr(args, "duration", None),
                sinks=sinks,
            )
        )
        return 0
    if args.command == "chat":
        text = args.text.strip()
        if not text or len(text) > MAX_CHAT_CHARS:
            raise UsageError(f"a chat message has 1 to {MAX_CHAT_CHARS} characters")
        answers = trio.run(
            partial(one_shot, args.tracker, args.name, p.ChatSend(text=text), join_key=key, tls=tls)
        )
        for answer in answers:
            if isinstance(answer, p.Error | p.Reject):
                raise PeerError(answer.message)
            if isinstance(answer, p.ChatMessage):
                print(chat_line(answer), file=sys.stderr)
        return 0
    if args.command == "status":
        name = args.name or random_name("status")
        request = partial(one_shot, args.tracker, name, p.StatusRequest(), join_key=key, tls=tls)
        answers = trio.run(request)
        reply = next((a for a in answers if isinstance(a, p.StatusReply)), None)
        if reply is None:
            raise PeerError("the tracker sent no status")
        print(json.dumps(status_json(reply), indent=2) if args.json else status_text(reply))
        return 0
    if args.command == "gui":
        from peer.gui.app import run_app

        return run_app(port_mapping=args.port_mapping)
    raise PeerError(f"'{args.command}' is not available yet")


def status_json(reply: p.StatusReply) -> dict[str, object]:
    """The status as plain JSON data."""
    import attrs

    return attrs.asdict(reply)


def status_text(reply: p.StatusReply) -> str:
    """The swarm as an indented tree, one peer per line."""
    peers = {peer.name: peer for peer in reply.peers}
    lines = [
        f"stream: {reply.source or 'none live'} (epoch {reply.epoch}), "
        f"{sum(1 for x in reply.peers if x.role == 'viewer')} viewers, "
        f"max depth {reply.max_depth}, source fanout {reply.source_fanout}"
    ]

    def describe(info: p.PeerInfo) -> str:
        stats = info.stats
        numbers = (
            f"{stats.fps:.1f} fps, {stats.latency_ms:.1f} ms, loss {stats.loss_pct:.1f}%"
            if stats
            else "no stats yet"
        )
        slots = f"{len(info.children)}/{info.max_children} children"
        reach = {True: "reachable", False: "unreachable", None: "not checked"}[info.reachable]
        if info.reachable is False and info.reached_by is p.LinkKind.PUNCHED:
            reach = "unreachable, punchable"
        where = f" at {info.address} ({reach})" if info.address else ""
        link = f", {info.link} link" if info.link is not None else ""
        return f"{info.name}{where} [{info.role}, {info.resolution}, {slots}{link}] {numbers}"

    def walk(name: str, indent: int) -> None:
        info = peers[name]
        lines.append("  " * indent + describe(info))
        for child in info.children:
            if child in peers:
                walk(child, indent + 1)

    if reply.source in peers:
        walk(reply.source, 0)
    waiting = [x for x in reply.peers if x.role == "viewer" and x.parent is None]
    for info in waiting:
        lines.append(f"waiting: {describe(info)}")
    observers = [x.name for x in reply.peers if x.role == "observer"]
    if observers:
        lines.append(f"observers: {', '.join(observers)}")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
