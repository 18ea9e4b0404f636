"""The `streamnest-tracker` program as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import protocol as p


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
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.settimeout(10)
            hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, name="cli", role="viewer")
            sock.sendall(p.encode(hello))
            decoder = p.MessageDecoder()
            deadline = time.monotonic() + 10
            message: object = p.NEED_DATA
            while message is p.NEED_DATA and time.monotonic() < deadline:
                decoder.receive_data(sock.recv(65536))
                message = decoder.next_message()
            assert isinstance(message, p.Welcome)
            assert message.name == "cli"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--db", "/nonexistent-dir/chat.db"], "cannot open chat database"),
        (["--max-peers", "0"], "must be at least 1"),
    ],
)
def test_user_errors_are_one_line_without_a_traceback(args: list[str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracker", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert expected in result.stderr
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
