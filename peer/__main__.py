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

import trio

import protocol as p
from peer.arguments import build_parser, codec_settings
from peer.chat_board import chat_line
from peer.cli import Sinks, run_peer
from peer.config import PeerConfig
from peer.errors import PeerError, UsageError
from peer.one_shot import one_shot
from peer.recorder import check_record_path
from protocol.join_key import choose_join_key
from protocol.limits import MAX_CHAT_CHARS


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
