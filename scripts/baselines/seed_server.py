"""The seed project's design, rebuilt compactly: it exists only as a benchmark baseline.

    python -m baselines.seed_server server                      (prints `ready PORT`)
    python -m baselines.seed_server streamer --port P --frames FILE
    python -m baselines.seed_server viewers --port P --names a,b,c

This is not StreamNest and nothing uses it but scripts/bench_compare.py. It follows the
original student project (../shared/seed/streamnest-README.txt): one central TCP server
that every client connects to, a thread per connection, messages as newline-delimited
JSON with JPEG frames in base64, a streamer that sends its frames to the server, and the
server broadcasting every frame to every viewer, one `sendall` after another. Also kept:
sequence numbers, the single-streamer lock and chat relayed to everyone. Messages:

    {"type": "join", "role": "streamer" | "viewer", "name": ...}   client -> server, first
    {"type": "welcome"} | {"type": "error", "message": ...}         server -> client
    {"type": "frame", "seq": ..., "t": capture_ns, "data": base64}  streamer -> server -> viewers
    {"type": "chat", "name": ..., "text": ...}                      anyone -> server -> everyone

The server parses every line (to know what it is) and forwards a frame's line as it came.
Sockets set TCP_NODELAY, as trio and zmq do, so Nagle's delay is not what gets measured.
Viewers parse each line and decode the base64 back to JPEG bytes (they do not decode the
JPEG, as StreamNest's benchmark viewers do not); each viewer is a thread, many per
process. The process protocol is the one of `baselines.workload`.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import threading
import time
from typing import Any, BinaryIO

from baselines.workload import (
    DeliveryLog,
    SendLog,
    Window,
    load_frames,
    report_on_window,
    run_viewer_threads,
    say_ready,
    send_paced,
    start_daemon,
)

HOST = "127.0.0.1"
LISTEN_BACKLOG = 1024
STARTUP_TIMEOUT_S = 60.0


def send_json(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send one message as a JSON line."""
    sock.sendall(json.dumps(message).encode() + b"\n")


class SeedServer:
    """The central server: the streamer lock, the viewer list and the broadcast."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: list[socket.socket] = []
        self.viewers: list[socket.socket] = []
        self.streamer: str | None = None

    def serve(self, listener: socket.socket) -> None:
        """Accept clients forever, a thread for each."""
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start_daemon(self.handle, conn)

    def handle(self, conn: socket.socket) -> None:
        """One client: its join, then every line it sends, until it leaves."""
        lines = conn.makefile("rb")
        role = None
        try:
            join = json.loads(lines.readline() or b"{}")
            role, name = join.get("role"), str(join.get("name", "?"))
            with self.lock:
                if role == "streamer" and self.streamer is not None:
                    send_json(conn, {"type": "error", "message": "a stream is already live"})
                    return
                if role == "streamer":
                    self.streamer = name
                elif role == "viewer":
                    self.viewers.append(conn)
                self.clients.append(conn)
            send_json(conn, {"type": "welcome"})
            for line in lines:
                message = json.loads(line)
                if message.get("type") == "frame" and role == "streamer":
                    self.broadcast(self.viewers, line)
                elif message.get("type") == "chat":
                    chat = {"type": "chat", "name": name, "text": str(message.get("text"))}
                    self.broadcast(self.clients, json.dumps(chat).encode() + b"\n")
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                for group in (self.viewers, self.clients):
                    if conn in group:
                        group.remove(conn)
                if role == "streamer":
                    self.streamer = None
            conn.close()

    def broadcast(self, group: list[socket.socket], line: bytes) -> None:
        """Send `line` to every client of `group` in turn (a slow one holds up the rest)."""
        with self.lock:
            for client in list(group):
                try:
                    client.sendall(line)
                except OSError:
                    group.remove(client)


def server(_args: argparse.Namespace) -> None:
    """Run the central server on a free port until killed."""
    listener = socket.create_server((HOST, 0), backlog=LISTEN_BACKLOG)
    say_ready(listener.getsockname()[1])
    SeedServer().serve(listener)


def join(port: int, role: str, name: str) -> tuple[socket.socket, BinaryIO]:
    """Connect to the server and join as `role`; the socket and its line reader."""
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    send_json(sock, {"type": "join", "role": role, "name": name})
    lines = sock.makefile("rb")
    reply = json.loads(lines.readline() or b"{}")
    if reply.get("type") != "welcome":
        raise SystemExit(f"{name}: the server refused us: {reply.get('message')}")
    return sock, lines


def streamer(args: argparse.Namespace) -> None:
    """Send the frames to the server at FPS as base64 JSON lines; then report."""
    frames = load_frames(args.frames)
    log = SendLog()
    sock, _ = join(args.port, "streamer", "streamer")

    def send(seq: int, capture_ns: int, jpeg: bytes) -> None:
        data = base64.b64encode(jpeg).decode("ascii")
        send_json(sock, {"type": "frame", "seq": seq, "t": capture_ns, "data": data})
        log.record(capture_ns)

    start_daemon(send_paced, frames, send)
    say_ready()

    def set_window(window: Window) -> None:
        log.window = window

    report_on_window(set_window, log.report)


def watch(port: int, name: str, log: DeliveryLog) -> None:
    """One viewer: read frame lines forever, decoding each back to JPEG bytes."""
    _sock, lines = join(port, "viewer", name)
    for line in lines:
        message = json.loads(line)
        if message.get("type") == "frame":
            base64.b64decode(message["data"])
            log.record(message["seq"], message["t"], time.time_ns())


def viewers(args: argparse.Namespace) -> None:
    """Run one viewer thread per name; `ready` once each has had a frame, then report."""
    run_viewer_threads(
        args.names, lambda name, log: watch(args.port, name, log), "viewer", STARTUP_TIMEOUT_S
    )


def main() -> None:
    """Run the server, the streamer or a group of viewers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("server")
    stream = commands.add_parser("streamer")
    stream.add_argument("--port", type=int, required=True)
    stream.add_argument("--frames", required=True, help="file of pre-encoded JPEG frames")
    view = commands.add_parser("viewers")
    view.add_argument("--port", type=int, required=True)
    view.add_argument("--names", required=True, help="comma-separated viewer names")
    args = parser.parse_args()
    {"server": server, "streamer": streamer, "viewers": viewers}[args.command](args)


if __name__ == "__main__":
    main()
