"""Private streams (--join-key) and TLS between peers and the tracker."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from peer.config import PeerConfig
from peer.errors import PeerError, user_error
from peer.node import Peer
from protocol.join_key import choose_join_key, join_key_matches, join_key_problem
from tests.polling import eventually
from tracker.service import Tracker, TrackerConfig

KEY = "correct horse battery staple"


async def start_tracker(nursery: trio.Nursery, **settings: object) -> Tracker:
    tracker = Tracker(TrackerConfig(port=0, check_reachability=False, **settings))  # type: ignore[arg-type]
    await nursery.start(tracker.serve)
    return tracker


async def start(
    nursery: trio.Nursery, tracker: Tracker, role: str, name: str, **kw: object
) -> Peer:
    assert tracker.address is not None
    extra = {"source": "testsrc:320x240@30"} if role == "source" else {}
    config = PeerConfig(role=role, name=name, tracker=tracker.address, **extra, **kw)  # type: ignore[arg-type]
    peer = Peer(config)
    started: Peer = await nursery.start(peer.run)
    return started


async def refusal(
    nursery: trio.Nursery, tracker: Tracker, role: str, name: str, **kw: object
) -> str:
    """The PeerError message starting this peer ends with (unwrapped from groups)."""
    try:
        await start(nursery, tracker, role, name, **kw)
    except (PeerError, BaseExceptionGroup) as exc:
        cause = user_error(exc)
        assert isinstance(cause, PeerError), exc
        return str(cause)
    raise AssertionError(f"{name} was not refused")


def test_join_keys_compare_whole_and_refuse_weak_ones() -> None:
    assert join_key_matches(KEY, KEY)
    assert not join_key_matches(KEY, KEY[:-1])
    assert not join_key_matches(KEY, None)
    assert join_key_problem("short") is not None
    assert join_key_problem(" padded key ") is not None
    assert join_key_problem(KEY) is None


def test_the_key_file_wins_then_the_flag_then_the_environment() -> None:
    environ = {"STREAMNEST_JOIN_KEY": "from the environment"}
    assert choose_join_key("flag key", "file key\n", environ) == "file key"
    assert choose_join_key("flag key", None, environ) == "flag key"
    assert choose_join_key(None, None, environ) == "from the environment"
    assert choose_join_key(None, None, {}) is None


async def test_a_private_stream_admits_only_peers_with_the_key(nursery: trio.Nursery) -> None:
    tracker = await start_tracker(nursery, join_key=KEY)
    no_key = await refusal(nursery, tracker, "viewer", "nokey")
    assert no_key == "this stream is private: no join key given"
    guess = await refusal(nursery, tracker, "viewer", "guess", join_key="correct horse")
    assert guess == "this stream is private: wrong join key"
    await start(nursery, tracker, "source", "cam", join_key=KEY)
    viewer = await start(nursery, tracker, "viewer", "friend", join_key=KEY)
    await eventually(lambda: viewer.receiving.is_set(), within_s=10, what="video")
    assert set(tracker.room.members) == {"cam", "friend"}


async def test_the_key_comes_from_a_file_or_the_environment_not_the_command_line(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    tracker = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tracker", "--port", "0", "--join-key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert tracker.stdout is not None
        with trio.fail_after(10):
            line = b""
            while not line.endswith(b"\n"):
                line += await tracker.stdout.receive_some(1)
        address = line.decode().split()[-1]
        base = [sys.executable, "-m", "peer", "status", "--tracker", address]
        refused = await trio.run_process(base, capture_stderr=True, check=False, stdin=b"")
        assert refused.returncode == 1
        assert b"this stream is private: no join key given" in refused.stderr
        env = {"STREAMNEST_JOIN_KEY": KEY, "PATH": "/usr/bin:/bin"}
        allowed = await trio.run_process(base, capture_stdout=True, check=False, env=env, stdin=b"")
        assert allowed.returncode == 0
        assert b"stream: none live" in allowed.stdout
    finally:
        tracker.kill()
        await tracker.wait()


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.fixture
async def tls_tracker(nursery: trio.Nursery, server_tls: ssl.SSLContext) -> AsyncIterator[Tracker]:
    yield await start_tracker(nursery, tls=server_tls)


async def test_peers_stream_and_chat_over_tls_to_the_tracker(
    nursery: trio.Nursery, tls_tracker: Tracker, client_tls: ssl.SSLContext
) -> None:
    await start(nursery, tls_tracker, "source", "cam", tls=client_tls)
    viewer = await start(nursery, tls_tracker, "viewer", "v", tls=client_tls)
    await eventually(lambda: viewer.receiving.is_set(), within_s=10, what="video")
    line = await viewer.post_chat("over tls")
    assert line.sender == "v"
    await eventually(
        lambda: tls_tracker.room.members["v"].stats is not None, within_s=5, what="a heartbeat"
    )


async def test_tls_refuses_strangers_both_ways(nursery: trio.Nursery, tls_tracker: Tracker) -> None:
    assert await refusal(nursery, tls_tracker, "viewer", "plain")  # no TLS at all
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)  # trusts some other authority
    spoofed = await refusal(nursery, tls_tracker, "viewer", "spoofed", tls=stranger)
    assert spoofed.startswith("TLS with the tracker")
    assert tls_tracker.room.members == {}
