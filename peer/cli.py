"""What `streamnest-peer` does with a running peer: print, read stdin, stop on time.

With --stats-json exactly one JSON object per line goes to stdout each second, and
everything else (chat, notices, errors) to stderr. Without it, a one-line human summary
goes to stderr each second.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import attrs
import trio

from peer.chat_board import chat_line
from peer.config import PeerConfig, PeerHooks
from peer.errors import PeerError
from peer.event_text import describe
from peer.node import Peer
from peer.recorder import Recorder
from peer.resolution import ResolutionError, parse_resolution
from peer.web.app import WebTap
from peer.web.server import serve_tap

STATS_INTERVAL_S = 1.0
STDIN_LINE_BYTES = 4096


def say(text: str) -> None:
    """A line for the human, on stderr."""
    print(text, file=sys.stderr, flush=True)


NO_VIDEO_WORDS = {"none": "yet", "stalled": "(frames stopped coming)"}


def summary(stats: dict[str, Any]) -> str:
    """The one-line human summary of a statistics sample."""
    if stats["role"] == "source":
        where = "source"
    elif stats["parent"] is None:
        where = "waiting for a parent"
    else:
        where = f"depth {stats['depth']} via {stats['parent']}"
    if stats.get("video") in ("none", "stalled"):
        return f"{stats['name']} ({where}): no video {NO_VIDEO_WORDS[stats['video']]}"
    return (
        f"{stats['name']} ({where}): {stats['fps']} fps shown, {stats['recv_fps']} received, "
        f"{stats['bandwidth_kbps']} kb/s in, {stats['upload_kbps']} kb/s out, "
        f"latency {stats['latency_ms']} ms, rtt {stats['rtt_ms']} ms, "
        f"loss {stats['loss_pct']}%, {stats['children']} children, {stats['resolution']}"
    )


async def print_stats(peer: Peer, as_json: bool) -> None:
    """Print the statistics once a second."""
    next_s = trio.current_time() + STATS_INTERVAL_S
    while True:
        await trio.sleep_until(next_s)
        next_s += STATS_INTERVAL_S
        stats = peer.stats()
        if as_json:
            print(json.dumps(stats), flush=True)
        else:
            say(summary(stats))


async def read_commands(peer: Peer) -> None:
    """stdin: a line is chat; `/res R` changes resolution; `/probe` asks the tracker to
    check that peers can reach us; `/quit` leaves. EOF is ignored."""
    try:
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    except (OSError, ValueError):
        return
    buffer = b""
    async with stdin:
        while True:
            try:
                chunk = await stdin.receive_some(STDIN_LINE_BYTES)
            except (trio.BrokenResourceError, OSError):
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            buffer = buffer[-STDIN_LINE_BYTES:]
            for raw in lines:
                line = raw.decode("utf-8", "replace").strip()
                if line and await command(peer, line):
                    return


async def command(peer: Peer, line: str) -> bool:
    """Act on one stdin line; True means quit."""
    if line == "/quit":
        await peer.leave("quit")
        return True
    if line.startswith("/res"):
        try:
            resolution = parse_resolution(line[4:])
        except ResolutionError as exc:
            say(str(exc))
            return False
        peer.set_resolution(resolution)
        say(f"resolution: {resolution}")
        return False
    if line == "/probe":
        if not peer.check_reachability():
            say("not asked: the tracker is not reachable right now")
        return False
    if line.startswith("/"):
        say("commands: /res 360p|480p|720p|1080p|source, /probe, /quit; anything else is chat")
        return False
    if not peer.say(line):
        say("chat not sent: the tracker is not reachable right now")
    return False


@attrs.frozen
class Sinks:
    """Optional outputs beside the terminal: the HTTP tap and the recording."""

    http: tuple[str, int] | None = None
    http_max_clients: int = 32
    record: Path | None = None


async def start_sinks(peer: Peer, sinks: Sinks, nursery: trio.Nursery) -> Recorder | None:
    """Start the HTTP tap (a picture sink of `peer`) and the recorder (a frame sink)."""
    name = peer.config.name
    if sinks.http is not None:
        tap = WebTap(peer, max_clients=sinks.http_max_clients)
        host, port = sinks.http
        try:
            url = await nursery.start(serve_tap, tap, host, port)
        except OSError as exc:
            raise PeerError(f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from None
        peer.picture_sinks.append(tap.publish)
        say(f"{name}: watch in a browser at {url}")
    if sinks.record is None:
        return None
    recorder = Recorder(sinks.record, peer.config.resolution)
    await nursery.start(recorder.run)
    peer.frame_sinks.append(recorder.add)
    say(f"{name}: recording to {sinks.record}")
    return recorder


async def run_peer(
    config: PeerConfig,
    *,
    stats_json: bool,
    duration_s: float | None,
    sinks: Sinks | None = None,
) -> None:
    """Run a source or viewer until Ctrl-C, SIGTERM, /quit, --duration, or the end."""
    hooks = PeerHooks(
        on_chat=lambda message: say(chat_line(message)),
        on_event=lambda event: say(f"{config.name}: {describe(event)}"),
    )
    peer = Peer(config, hooks)
    recorder: Recorder | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(peer.run)
            where = peer.dial_address()
            say(f"{config.name}: {config.role} registered; children connect to {where}")
            recorder = await start_sinks(peer, sinks or Sinks(), nursery)
            nursery.start_soon(print_stats, peer, stats_json)
            nursery.start_soon(read_commands, peer)

            async def stop_on_signal() -> None:
                async for _ in signals:
                    await peer.leave("interrupted")
                    nursery.cancel_scope.cancel()
                    return

            async def stop_after(seconds: float) -> None:
                await trio.sleep(seconds)
                await peer.leave("duration reached")
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            if duration_s is not None:
                nursery.start_soon(stop_after, duration_s)
            await peer.finished.wait()  # left, killed, or the video ended
            nursery.cancel_scope.cancel()
    if recorder is not None:
        say(f"{config.name}: recorded {recorder.frames_written} frames to {recorder.path}")
