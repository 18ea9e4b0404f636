#!/usr/bin/env python3
"""The demo: a tracker, a test-pattern source and relaying viewers, with live statistics.

    python scripts/demo.py [--viewers 5] [--seconds 20] [--source testsrc:1280x720@30]

Everything runs as the real programs (`streamnest-tracker`, `streamnest-peer`), each in
its own process on this machine. Once a second the demo prints every peer's statistics
line; at the end it prints the tree as the tracker sees it and stops everything.
The first viewer also serves its live page over HTTP: the demo prints its address
(--http-port, default a free port) so you can open it in a browser and watch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from process_group import processes, spawn

ROOT = Path(__file__).resolve().parent.parent
RESOLUTIONS = ["480p", "360p", "720p", "source", "360p", "480p"]


def row(stats: dict[str, Any]) -> str:
    """One table row of a statistics sample."""
    parent = stats["parent"] or "-"
    return (
        f"{stats['name']:<8} {stats['role']:<7} {stats['depth']:>5} {parent:<8} "
        f"{stats['children']:>4} {stats['resolution']:>10} {stats['fps']:>6} "
        f"{stats['recv_fps']:>7} {stats['bandwidth_kbps']:>9} {stats['upload_kbps']:>9} "
        f"{stats['latency_ms']:>8} {stats['loss_pct']:>6}"
    )


HEADER = (
    f"{'peer':<8} {'role':<7} {'depth':>5} {'parent':<8} {'kids':>4} {'resolution':>10} "
    f"{'fps':>6} {'recv':>7} {'in kb/s':>9} {'out kb/s':>9} {'lat ms':>8} {'loss%':>6}"
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> int:
    """Start the swarm, print its statistics, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--source", default="testsrc:1280x720@30")
    parser.add_argument("--http-port", type=int, default=0, help="viewer0's page (0: any free)")
    args = parser.parse_args()
    http_port = args.http_port or free_port()

    with processes() as started:
        tracker = spawn(started, "-m", "tracker", "--port", "0")
        assert tracker.stdout is not None
        line = tracker.stdout.readline().strip()
        address = line.rsplit(" ", 1)[-1]
        print(line)
        peers = [
            spawn(
                started, "-m", "peer", "source", "--no-port-mapping",
                args.source, "--tracker", address,
                "--name", "source", "--fanout", "2", "--stats-json",
            )
        ]  # fmt: skip
        for i in range(args.viewers):
            time.sleep(0.3)  # let each one settle, so the tree grows level by level
            resolution = RESOLUTIONS[i % len(RESOLUTIONS)]
            argv = [
                "-m",
                "peer",
                "view",
                "--no-port-mapping",
                "--tracker",
                address,
                "--name",
                f"viewer{i}",
            ]
            argv += ["--max-children", "2", "--resolution", resolution, "--stats-json"]
            if i == 0:
                argv += ["--http", f"127.0.0.1:{http_port}"]
            peers.append(spawn(started, *argv))
        print(f"source and {args.viewers} relaying viewers started; statistics every second")
        if args.viewers:
            print(f"watch viewer0 in a browser: http://127.0.0.1:{http_port}/")
        latest: dict[str, dict[str, Any]] = {}
        selector = selectors.DefaultSelector()
        for process in peers:
            assert process.stdout is not None
            selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + args.seconds
        next_print = time.monotonic() + 1.0
        try:
            while time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.2):
                    text = key.fileobj.readline()  # type: ignore[union-attr]
                    if not text:
                        selector.unregister(key.fileobj)
                        continue
                    with contextlib.suppress(json.JSONDecodeError):
                        stats = json.loads(text)
                        latest[stats["name"]] = stats
                if time.monotonic() >= next_print and latest:
                    next_print += 1.0
                    print(f"\n{time.strftime('%H:%M:%S')}\n{HEADER}")
                    for name in sorted(latest, key=lambda n: (latest[n]["depth"], n)):
                        print(row(latest[name]))
        except KeyboardInterrupt:
            print("\ninterrupted")
        status = subprocess.run(
            [sys.executable, "-m", "peer", "status", "--tracker", address],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        print("\nthe tree, as the tracker sees it:")
        print(status.stdout or status.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
