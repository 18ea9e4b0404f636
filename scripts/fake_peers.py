"""bench_tracker's fake peers: each registers over real TCP, then heartbeats with
plausible statistics at its own phase of the interval and times every HeartbeatAck.

The same load runs against the real tracker and against scripts/heartbeat_floor.py.
"""

from __future__ import annotations

import collections
import math
import random
import time

import attrs
import trio

import protocol as p

CONNECT_TIMEOUT_S = 10.0
WELCOME_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 5.0
SILENCE_TIMEOUT_S = 10.0  # nothing from the tracker for this long: the peer is lost
REGISTER_BATCH_PEERS = 100
FAKE_PORT_BASE = 20_000  # fake listen ports; the tracker never connects to them
MAX_PEERS = 40_000  # keeps the fake ports below 65536
MAX_CHILDREN = 3
RECEIVE_BYTES = 65_536
FRAME_RATE_FPS = 30.0


class BenchError(Exception):
    """The benchmark could not run (as opposed to: the tracker missed a target)."""


@attrs.define(eq=False)
class FakePeer:
    """One fake peer: its connection, its place in the tree, its running statistics."""

    index: int
    name: str
    stream: trio.SocketStream
    decoder: p.MessageDecoder
    interval_s: float
    welcome_s: float  # from connecting to receiving Welcome
    rng: random.Random
    depth: int | None = None
    children: int = 0
    frames_received: int = 0
    frames_lost: int = 0
    # seq -> (perf_counter at send, sent during the measured window)
    in_flight: dict[int, tuple[float, bool]] = attrs.field(factory=dict)

    def stats(self) -> p.PeerStats:
        """Plausible numbers for one more interval of a 720p, 30 fps stream."""
        rng = self.rng
        lost_now = rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 1, 2))
        self.frames_received += round(FRAME_RATE_FPS * self.interval_s) - lost_now
        self.frames_lost += lost_now
        bandwidth_kbps = max(0.0, rng.gauss(2500.0, 150.0))
        depth = self.depth or 0
        return p.PeerStats(
            fps=FRAME_RATE_FPS,
            recv_fps=FRAME_RATE_FPS - lost_now / self.interval_s,
            bandwidth_kbps=bandwidth_kbps,
            upload_kbps=bandwidth_kbps * self.children,
            latency_ms=depth * 30.0 + rng.uniform(5.0, 25.0),
            rtt_ms=rng.uniform(2.0, 40.0),
            loss_pct=100.0 * self.frames_lost / max(1, self.frames_received + self.frames_lost),
            frames_received=self.frames_received,
            frames_lost=self.frames_lost,
            depth=depth,
            children=self.children,
            resolution="720p",
        )


@attrs.define
class Recorder:
    """What all the peers measured; shared by their tasks."""

    peers: int
    measuring: bool = False
    sent: int = 0
    latencies_s: list[float] = attrs.field(factory=list)
    received: collections.Counter[str] = attrs.field(factory=collections.Counter)
    registered: list[FakePeer] = attrs.field(factory=list)
    lost: dict[str, str] = attrs.field(factory=dict)  # peer name -> why


async def register(index: int, host: str, port: int) -> FakePeer:
    """Connect and say Hello; return once the tracker's Welcome has arrived."""
    role, name = ("source", "bench-source") if index == 0 else ("viewer", f"bench-{index}")
    hello = p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role=role,
        listen_host="127.0.0.1",
        listen_port=FAKE_PORT_BASE + index,
        max_children=MAX_CHILDREN,
    )
    started_s = time.perf_counter()
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            stream = await trio.open_tcp_stream(host, port)
    except (OSError, trio.TooSlowError) as exc:
        raise BenchError(f"{name}: cannot connect to {host}:{port}: {exc!r}") from exc
    decoder = p.MessageDecoder()
    try:
        with trio.fail_after(WELCOME_TIMEOUT_S):
            await stream.send_all(p.encode(hello))
            first = await next_message(stream, decoder)
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise BenchError(f"{name}: no Welcome within {WELCOME_TIMEOUT_S} s") from None
    except (trio.BrokenResourceError, p.ProtocolError) as exc:
        await trio.aclose_forcefully(stream)
        raise BenchError(f"{name}: registration failed: {exc!r}") from exc
    if not isinstance(first, p.Welcome):
        await trio.aclose_forcefully(stream)
        if isinstance(first, p.Reject):
            raise BenchError(f"{name}: refused by the tracker: {first.code}: {first.message}")
        if first is p.CLOSED:
            raise BenchError(f"{name}: the tracker closed the connection before Welcome")
        raise BenchError(f"{name}: expected Welcome, got {type(first).__name__}")
    rng = random.Random(index)
    return FakePeer(
        index=index,
        name=name,
        stream=stream,
        decoder=decoder,
        interval_s=first.heartbeat_interval_ms / 1000,
        welcome_s=time.perf_counter() - started_s,
        rng=rng,
        children=MAX_CHILDREN if index == 0 else rng.choice((0, 0, MAX_CHILDREN)),
    )


async def next_message(
    stream: trio.SocketStream, decoder: p.MessageDecoder
) -> p.Message | p.Sentinel:
    """The next message from the tracker, or p.CLOSED."""
    while True:
        message = decoder.next_message()
        if message is not p.NEED_DATA:
            return message
        decoder.receive_data(await stream.receive_some(RECEIVE_BYTES))


async def send_heartbeats(peer: FakePeer, recorder: Recorder, origin_s: float) -> None:
    """Send a Heartbeat every interval, at this peer's own phase within the interval."""
    interval_s = peer.interval_s
    phase_s = origin_s + interval_s * peer.index / recorder.peers
    beat = 0
    seq = 0
    while True:
        # Never burst to catch up: skip beats that are already past.
        beat = max(beat, math.ceil((trio.current_time() - phase_s) / interval_s))
        await trio.sleep_until(phase_s + beat * interval_s)
        beat += 1
        seq += 1
        data = p.encode(p.Heartbeat(seq=seq, stats=peer.stats()))
        peer.in_flight[seq] = (time.perf_counter(), recorder.measuring)
        if recorder.measuring:
            recorder.sent += 1
        with trio.fail_after(SEND_TIMEOUT_S):
            await peer.stream.send_all(data)


async def read_messages(peer: FakePeer, recorder: Recorder) -> str:
    """Read the tracker's messages and time each HeartbeatAck; return why it stopped."""
    while True:
        data = None
        with trio.move_on_after(SILENCE_TIMEOUT_S):
            data = await peer.stream.receive_some(RECEIVE_BYTES)
        if data is None:
            return f"nothing from the tracker for {SILENCE_TIMEOUT_S} s"
        received_s = time.perf_counter()
        peer.decoder.receive_data(data)
        while True:
            message = peer.decoder.next_message()
            if message is p.NEED_DATA:
                break
            if isinstance(message, p.Sentinel):
                return "the tracker closed the connection"
            recorder.received[type(message).__name__] += 1
            if isinstance(message, p.HeartbeatAck):
                sent_s, in_window = peer.in_flight.pop(message.seq, (received_s, False))
                if in_window:
                    recorder.latencies_s.append(received_s - sent_s)
            elif isinstance(message, p.Assign):
                peer.depth = message.depth
            elif isinstance(message, p.StreamEnded | p.Waiting):
                peer.depth = None
            elif isinstance(message, p.Reject | p.Goodbye):
                return f"the tracker ended the session: {message!r}"


async def run_peer(
    index: int,
    host: str,
    port: int,
    recorder: Recorder,
    origin_s: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Register one peer (`started` once welcomed), then heartbeat until cancelled."""
    peer = await register(index, host, port)
    recorder.registered.append(peer)
    task_status.started()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_heartbeats, peer, recorder, origin_s)
            recorder.lost[peer.name] = await read_messages(peer, recorder)
            nursery.cancel_scope.cancel()
    except* (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError) as group:
        recorder.lost[peer.name] = repr(group.exceptions[0])
    finally:
        await trio.aclose_forcefully(peer.stream)


async def register_all(
    nursery: trio.Nursery, host: str, port: int, recorder: Recorder, origin_s: float
) -> None:
    """Register the source, then the viewers in batches; each starts heartbeating at once."""
    await nursery.start(run_peer, 0, host, port, recorder, origin_s)
    for first in range(1, recorder.peers, REGISTER_BATCH_PEERS):
        async with trio.open_nursery() as batch:
            for index in range(first, min(first + REGISTER_BATCH_PEERS, recorder.peers)):
                batch.start_soon(nursery.start, run_peer, index, host, port, recorder, origin_s)
