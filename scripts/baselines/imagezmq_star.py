"""imagezmq in PUB/SUB mode: one publisher, N subscribers, the star a Python user reaches for.

    python -m baselines.imagezmq_star publisher --frames FILE
    python -m baselines.imagezmq_star subscribers --port PORT --names a,b,c

The real package from the registry (`pip install imagezmq`), used as its README shows:
`ImageSender(connect_to=..., REQ_REP=False)` binds a PUB socket and `send_jpg(msg, jpeg)`
publishes; each subscriber is an `ImageHub(open_port=..., REQ_REP=False)` calling
`recv_jpg()`. The text message carries "SEQ CAPTURE_NS". zmq's defaults are kept (a
high-water mark of 1000 messages per subscriber, so a slow one queues rather than
drops). `recv_jpg` blocks, so each subscriber is a thread with its own ImageHub (and so
its own zmq context and I/O thread), many subscribers per process; zmq releases the GIL
while it waits. Subscribers do not decode the JPEG, as StreamNest's benchmark viewers
do not. The process protocol is the one of `baselines.workload`.
"""

from __future__ import annotations

import argparse
import time

import imagezmq
import zmq

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

BIND_ADDRESS = "tcp://127.0.0.1:*"  # zmq picks a free port
STARTUP_TIMEOUT_S = 60.0


def publisher(args: argparse.Namespace) -> None:
    """Publish the frames at FPS to every subscriber; print `ready PORT`, then report."""
    frames = load_frames(args.frames)
    log = SendLog()
    sender = imagezmq.ImageSender(connect_to=BIND_ADDRESS, REQ_REP=False)
    endpoint = sender.zmq_socket.getsockopt_string(zmq.LAST_ENDPOINT)
    port = int(endpoint.rsplit(":", 1)[1])

    def send(seq: int, capture_ns: int, jpeg: bytes) -> None:
        sender.send_jpg(f"{seq} {capture_ns}", jpeg)
        log.record(capture_ns)

    # The sending thread is the only one that touches the socket from here on.
    start_daemon(send_paced, frames, send)
    say_ready(port)

    def set_window(window: Window) -> None:
        log.window = window

    report_on_window(set_window, log.report)


def subscribe(port: int, log: DeliveryLog) -> None:
    """One subscriber: receive frames forever, logging each."""
    hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}", REQ_REP=False)
    while True:
        message, _jpeg = hub.recv_jpg()
        arrival_ns = time.time_ns()
        seq, capture_ns = message.split()
        log.record(int(seq), int(capture_ns), arrival_ns)


def subscribers(args: argparse.Namespace) -> None:
    """Run one subscriber thread per name; `ready` once each has had a frame, then report."""
    run_viewer_threads(
        args.names,
        lambda _name, log: subscribe(args.port, log),
        "subscriber",
        STARTUP_TIMEOUT_S,
    )


def main() -> None:
    """Run the publisher or a group of subscribers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("publisher")
    pub.add_argument("--frames", required=True, help="file of pre-encoded JPEG frames")
    sub = commands.add_parser("subscribers")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--names", required=True, help="comma-separated subscriber names")
    args = parser.parse_args()
    {"publisher": publisher, "subscribers": subscribers}[args.command](args)


if __name__ == "__main__":
    main()
