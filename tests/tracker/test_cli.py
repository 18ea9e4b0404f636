"""The `streamnest-tracker` program as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import trio

import protocol as p
from tracker.__main__ import leaves
from tracker.errors import TrackerError
from tracker.service import Tracker, TrackerConfig


def start_tracker(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the tracker on a free port; return the process and its first stdout line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line


def test_it_says_where_it_listens_and_stops_cleanly_on_sigterm() -> None:
    process, line = start_tracker()
    try:
        assert line.startswith("tracker listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        assert port > 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()


def test_ctrl_c_stops_it_cleanly() -> None:
    process, line = start_tracker()
    try:
        assert line.startswith("tracker listening on")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_a_peer_can_register_with_the_real_program() -> None:
    import socket

    process, line = start_tracker()
    try:
        port = int(line.rsplit(":", 1)[1])
        assert welcome_from(socket.AF_INET, "127.0.0.1", port, "cli").name == "cli"
    finally:
        process.terminate()
        process.wait(timeout=10)


def welcome_from(family: int, host: str, port: int, name: str) -> p.Welcome:
    """Register `name` over a socket of `family` and return the tracker's Welcome."""
    import socket

    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((host, port))
        sock.sendall(
            p.encode(p.Hello(protocol_version=p.PROTOCOL_VERSION, name=name, role="viewer"))
        )
        decoder = p.MessageDecoder()
        deadline = time.monotonic() + 10
        message: object = p.NEED_DATA
        while message is p.NEED_DATA and time.monotonic() < deadline:
            decoder.receive_data(sock.recv(65536))
            message = decoder.next_message()
        assert isinstance(message, p.Welcome)
        return message


def test_host_any_v6_serves_ipv4_and_ipv6_peers_and_says_what_it_sees() -> None:
    import socket

    if not socket.has_dualstack_ipv6():
        pytest.skip("this system has no dual-stack IPv6 sockets")
    process, line = start_tracker("--host", "::")
    try:
        assert line.startswith("tracker listening on [::]:")
        port = int(line.rsplit(":", 1)[1])
        over_v4 = welcome_from(socket.AF_INET, "127.0.0.1", port, "four")
        over_v6 = welcome_from(socket.AF_INET6, "::1", port, "six")
        assert over_v4.observed_host == "127.0.0.1"  # not ::ffff:127.0.0.1
        assert over_v6.observed_host == "::1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_tracker(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the tracker to its end (these runs fail at once)."""
    return subprocess.run(
        [sys.executable, "-m", "tracker", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--db", "/nonexistent-dir/chat.db"], "cannot open chat database /nonexistent-dir"),
        (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1:0: "),  # not this machine's
        (
            ["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
            "cannot load the TLS",
        ),
        (["--join-key-file", "/nonexistent-key"], "cannot read the join key file"),
    ],
)
def test_what_the_user_got_wrong_is_one_line_and_exit_1(args: list[str], expected: str) -> None:
    result = run_tracker(*args)
    assert result.returncode == 1
    assert result.stderr.startswith(f"streamnest-tracker: {expected}")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--max-peers", "0"], "must be at least 1"),
        (["--tls-cert", "/some.pem"], "--tls-cert and --tls-key go together"),
        (["--port", "70000"], "not a port number"),
    ],
)
def test_a_command_line_mistake_is_a_usage_message_and_exit_2(
    args: list[str], expected: str
) -> None:
    result = run_tracker(*args)
    assert result.returncode == 2
    assert expected in result.stderr and "usage: streamnest-tracker" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_reported_plainly() -> None:
    first, line = start_tracker()
    try:
        port = line.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "tracker", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        first.terminate()
        first.wait(timeout=10)


async def tracker_errors(tracker: Tracker) -> list[str]:
    """The TrackerErrors `tracker.serve()` fails with, caught the way the CLI catches them."""
    caught: list[TrackerError] = []
    try:
        await tracker.serve()
    except* TrackerError as group:
        caught = leaves(group)
    return [str(exc) for exc in caught]


async def test_the_service_raises_a_tracker_error_for_a_port_in_use() -> None:
    first = Tracker(TrackerConfig(port=0))
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(first.serve)
        second = Tracker(TrackerConfig(host=host, port=port))
        (message,) = await tracker_errors(second)
        assert message.startswith(f"cannot listen on {host}:{port}: ")
        nursery.cancel_scope.cancel()


async def test_the_service_raises_a_tracker_error_for_a_chat_database_it_cannot_open() -> None:
    tracker = Tracker(TrackerConfig(port=0, db="/nonexistent-dir/chat.db"))
    (message,) = await tracker_errors(tracker)
    assert message.startswith("cannot open chat database /nonexistent-dir/chat.db: ")
