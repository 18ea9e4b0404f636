"""The `streamnest-peer` command line: its argument types and parser (DESIGN.md), and the
source's codec settings from it. Each type says in one line what is wrong with a value.
"""

from __future__ import annotations

import argparse
from typing import Any

import protocol as p
from peer.addresses import ALL_INTERFACES
from peer.errors import UsageError
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
from peer.resolution import RESOLUTIONS, ResolutionError, parse_resolution
from peer.upload_limit import MIN_LIMIT_KBPS
from protocol.addresses import parse_address
from protocol.join_key import JOIN_KEY_ENV
from protocol.limits import MAX_CHILDREN
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
