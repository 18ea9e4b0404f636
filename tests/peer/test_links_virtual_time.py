"""The peer's time rules over memory streams, on trio's MockClock: exact, in milliseconds.

A 1.5 s parent-silence rule, a 3 s stall rule, a 5 s child-silence rule, one heartbeat a
second and a 4 s tracker-silence rule are each run in virtual time
(`autojump_clock`: the clock jumps whenever every task waits), so the assertions are
exact and hold however busy the machine is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

import protocol as p
from peer import events as ev
from peer.children import ChildrenHub
from peer.gate import AdmissionGate
from peer.parent import ParentFollower
from peer.tracker_link import TrackerLink
from peer.wire import receive_message
from protocol.admission import mint_token, new_admission_key
from tests.polling import eventually

FRAME_INTERVAL_S = 1 / 30
# The rules, as the design states them (not read from the code under test).
PARENT_SILENCE_S = 1.5  # a parent unheard this long is lost ...
SILENCE_SLACK_S = 0.25  # ... detected up to this much sooner (the deadline moves lazily)
STALL_TIMEOUT_S = 3.0  # a child whose send is stuck this long is cut off ...
STALL_CHECK_INTERVAL_S = 0.25  # ... noticed within one check of the stall watcher
CHILD_SILENCE_S = 5.0  # a child that sends nothing (no ping) this long is cut off
FROM_CHILD = (p.Join, p.Ping, p.Pong, p.Goodbye)
FROM_PEER = (p.Hello, p.Heartbeat, p.Goodbye, p.ParentLost, p.ChildDropped, p.ChatSend)

Serve = Callable[[trio.abc.Stream], Awaitable[None]]


def frame(seq: int) -> p.VideoFrame:
    header = p.FrameHeader(epoch=1, seq=seq, capture_ns=seq, width=64, height=36)
    return p.VideoFrame(header=header, data=b"\xff\xd8 picture %d" % seq)


def offer(name: str, port: int) -> p.ParentOffer:
    return p.ParentOffer(name=name, host="10.0.0.1", port=port, token="t")


class Parents:
    """Fake parents behind a `connect` that hands out memory streams, by port."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.by_port: dict[int, Serve] = {}
        self.dialled: list[tuple[float, int]] = []

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        self.dialled.append((trio.current_time(), port))
        ours, theirs = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.by_port[port], theirs)
        return ours


async def read_join(stream: trio.abc.Stream) -> None:
    """What a fake parent reads first: the child's Join."""
    decoder = p.MessageDecoder(accept=FROM_CHILD, max_frame_payload_bytes=0)
    await receive_message(stream, decoder)


def parent_sending(name: str, frames: range, sent_at: list[float]) -> Serve:
    """A parent that accepts, sends `frames` at 30 fps, then goes silent (never closes)."""

    async def serve(stream: trio.abc.Stream) -> None:
        await read_join(stream)
        await stream.send_all(p.encode(p.Accept(parent=name, depth=0, epoch=1)))
        for seq in frames:
            await stream.send_all(b"".join(p.frame_wire_parts(frame(seq))))
            sent_at.append(trio.current_time())
            await trio.sleep(FRAME_INTERVAL_S)
        await trio.sleep_forever()  # silent, as a frozen (SIGSTOPped) relay is

    return serve


def follower(
    parents: Parents, received: list[tuple[float, int]], reports: list[tuple[float, p.Message]]
) -> ParentFollower:
    def on_frame(message: p.VideoFrame, _: int) -> None:
        received.append((trio.current_time(), message.header.seq))

    def report(message: p.Message) -> bool:
        reports.append((trio.current_time(), message))
        return True

    return ParentFollower(
        name="me",
        on_frame=on_frame,
        on_parent=lambda name, depth: None,
        on_rtt=lambda rtt: None,
        on_stream_ended=lambda ended: None,
        report=report,
        connect=parents.connect,
    )


async def test_a_silent_parent_is_given_up_between_1_25_and_1_5_s_after_its_last_frame(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    parents = Parents(nursery)
    sent_at: list[float] = []
    parents.by_port[1] = parent_sending("a", range(1, 31), sent_at)
    received: list[tuple[float, int]] = []
    reports: list[tuple[float, p.Message]] = []
    viewer = follower(parents, received, reports)
    nursery.start_soon(viewer.run)
    viewer.assign(p.Assign(parent=offer("a", 1), depth=1, epoch=1))

    await eventually(lambda: bool(reports), within_s=60, what="the loss reported")
    lost_at, lost = reports[0]
    assert [seq for _, seq in received] == list(range(1, 31)), "every frame, in order"
    silent_for = lost_at - received[-1][0]
    assert PARENT_SILENCE_S - SILENCE_SLACK_S <= silent_for <= PARENT_SILENCE_S
    assert lost == p.ParentLost(
        parent="a", reason=p.LossReason.SILENT, detail=f"nothing for {PARENT_SILENCE_S} s"
    )


async def test_an_orphan_is_on_its_backup_the_moment_it_gives_up_and_tells_the_tracker_after(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    parents = Parents(nursery)
    a_sent: list[float] = []
    b_sent: list[float] = []
    parents.by_port[1] = parent_sending("a", range(1, 31), a_sent)
    parents.by_port[2] = parent_sending("b", range(31, 91), b_sent)
    received: list[tuple[float, int]] = []
    reports: list[tuple[float, p.Message]] = []
    viewer = follower(parents, received, reports)
    nursery.start_soon(viewer.run)
    viewer.assign(p.Assign(parent=offer("a", 1), depth=1, epoch=1, backup=offer("b", 2)))

    await eventually(lambda: len(received) >= 90, within_s=60, what="frames from both")
    assert [port for _, port in parents.dialled] == [1, 2], "a, then the backup, nobody else"
    (reported_at, report), *others = reports
    assert not others
    assert report == p.ParentLost(
        parent="a",
        reason=p.LossReason.SILENT,
        switched_to="b",
        detail=f"nothing for {PARENT_SILENCE_S} s",
    )
    dark_s = received[30][0] - received[29][0]
    assert dark_s <= PARENT_SILENCE_S, "the only gap is the silence rule itself"
    assert reported_at == received[30][0], "reported once attached to b, not before"
    assert viewer.switches == 1 and viewer.current is not None and viewer.current.name == "b"


def live_parent(name: str, log: list[tuple[float, str]]) -> Serve:
    """A parent that accepts and sends the live stream (frame n at n/30 s) until we leave."""

    async def serve(stream: trio.abc.Stream) -> None:
        await read_join(stream)
        await stream.send_all(p.encode(p.Accept(parent=name, depth=0, epoch=1)))
        log.append((trio.current_time(), f"{name} accepted"))
        try:
            while True:
                seq = round(trio.current_time() / FRAME_INTERVAL_S)
                await stream.send_all(b"".join(p.frame_wire_parts(frame(seq))))
                await trio.sleep(FRAME_INTERVAL_S)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.append((trio.current_time(), f"{name} left"))

    return serve


async def test_a_move_joins_the_new_parent_before_leaving_the_old_and_misses_nothing(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    parents = Parents(nursery)
    log: list[tuple[float, str]] = []
    parents.by_port[1] = live_parent("a", log)
    parents.by_port[2] = live_parent("b", log)
    received: list[tuple[float, int]] = []
    reports: list[tuple[float, p.Message]] = []
    viewer = follower(parents, received, reports)
    nursery.start_soon(viewer.run)
    viewer.assign(p.Assign(parent=offer("a", 1), depth=1, epoch=1))
    await eventually(lambda: len(received) >= 30, within_s=60, what="frames from a")
    viewer.assign(p.Assign(parent=offer("b", 2), depth=1, epoch=1))  # the tracker moves us
    await eventually(lambda: "a left" in {what for _, what in log}, within_s=60, what="a left")
    await trio.sleep(1.0)
    order = [what for _, what in log]
    assert order == ["a accepted", "b accepted", "a left"], "b joined before a was left"
    seqs = sorted({seq for _, seq in received})  # repeats from the two parents ignored
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "no frame missed in the move"
    assert not reports, "a move is no loss"
    assert viewer.current is not None and viewer.current.name == "b"


async def test_a_move_to_a_parent_that_refuses_is_reported_and_the_old_link_closed(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    parents = Parents(nursery)
    log: list[tuple[float, str]] = []
    parents.by_port[1] = live_parent("a", log)

    async def refuses(stream: trio.abc.Stream) -> None:
        await read_join(stream)
        full = p.Reject(code=p.RejectCode.FULL, message="b has no free child slot")
        await stream.send_all(p.encode(full))

    parents.by_port[2] = refuses
    received: list[tuple[float, int]] = []
    reports: list[tuple[float, p.Message]] = []
    viewer = follower(parents, received, reports)
    nursery.start_soon(viewer.run)
    viewer.assign(p.Assign(parent=offer("a", 1), depth=1, epoch=1))
    await eventually(lambda: len(received) >= 10, within_s=60, what="frames from a")
    viewer.assign(p.Assign(parent=offer("b", 2), depth=1, epoch=1))
    await eventually(lambda: bool(reports), within_s=60, what="the refusal reported")
    assert reports[0][1] == p.ParentLost(
        parent="b", reason=p.LossReason.REFUSED, detail="b has no free child slot"
    )
    await eventually(lambda: "a left" in {what for _, what in log}, within_s=60, what="a left")


# -- a parent's children ------------------------------------------------------------


async def join_child(
    hub: ChildrenHub, key: str, nursery: trio.Nursery, *, lockstep: bool
) -> trio.abc.Stream:
    """A child named `kid` joins `hub` with a valid token; returns the child's end."""
    pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
    ours, theirs = pair()
    nursery.start_soon(hub.handle, theirs, "10.0.0.2")
    token = mint_token(key, parent="relay", child="kid", now_s=1e9)
    await ours.send_all(
        p.encode(p.Join(protocol_version=p.PROTOCOL_VERSION, name="kid", token=token))
    )
    decoder = p.MessageDecoder(accept=(p.Accept, p.Reject), max_frame_payload_bytes=0)
    assert isinstance(await receive_message(ours, decoder), p.Accept)
    return ours


def relay_hub(
    dropped: list[tuple[float, ev.ChildDropped]] | None = None, **options: Any
) -> tuple[ChildrenHub, str]:
    """A hub named "relay" with two slots and its admission key; `options` go to the hub."""
    key = new_admission_key()
    gate = AdmissionGate(name="relay", capacity=2)
    gate.add_key(key)
    drops = dropped if dropped is not None else []
    hub = ChildrenHub(
        gate=gate,
        depth=lambda: 1,
        epoch=lambda: 1,
        on_dropped=lambda event: drops.append((trio.current_time(), event)),
        **options,
    )
    return hub, key


@pytest.fixture(autouse=True)
def _wall_clock_for_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens carry Unix time; pin the gate's idea of it so virtual time cannot expire them."""
    monkeypatch.setattr("peer.children.time.time", lambda: 1e9)


async def test_a_child_that_takes_nothing_for_3_s_is_cut_off_and_reported_as_stalled(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    dropped: list[tuple[float, ev.ChildDropped]] = []
    hub, key = relay_hub(dropped)
    nursery.start_soon(hub.watch_stalls)
    await join_child(hub, key, nursery, lockstep=True)  # and then never reads again
    stalled_from = trio.current_time()
    seq = 0
    while not dropped:
        seq += 1
        hub.forward(frame(seq), arrival_ns=0, path_latency_us=0)
        await trio.sleep(FRAME_INTERVAL_S)
    dropped_at, event = dropped[0]
    waited_s = dropped_at - stalled_from
    assert STALL_TIMEOUT_S < waited_s <= STALL_TIMEOUT_S + STALL_CHECK_INTERVAL_S
    assert event == ev.ChildDropped(
        child="kid", reason=p.DropReason.STALLED, detail=f"a send stuck for {STALL_TIMEOUT_S:g} s"
    )
    assert "kid" not in hub.links


async def test_a_child_that_stops_pinging_is_dropped_after_exactly_5_s(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    dropped: list[tuple[float, ev.ChildDropped]] = []
    hub, key = relay_hub(dropped)
    child = await join_child(hub, key, nursery, lockstep=False)
    joined_at = trio.current_time()
    for nonce in range(1, 5):  # pings every 0.5 s for 2 s, then silence
        await child.send_all(p.encode(p.Ping(nonce=nonce, sent_ns=0)))
        await trio.sleep(0.5)
    last_ping_at = joined_at + 1.5
    await eventually(lambda: bool(dropped), within_s=60, what="the child dropped")
    dropped_at, event = dropped[0]
    assert event.reason is p.DropReason.STALLED
    # The deadline moves only once less than 4 s of the 5 s are left (see extend_deadline).
    assert last_ping_at + CHILD_SILENCE_S - 1.0 <= dropped_at <= last_ping_at + CHILD_SILENCE_S


# -- the tracker session --------------------------------------------------------------


class FakeTracker:
    """Welcomes each connection; acks heartbeats until `mute_after_beats`, then stays silent."""

    def __init__(self, mute_after_beats: int | None = None) -> None:
        self.mute_after_beats = mute_after_beats
        self.beats: list[tuple[float, int]] = []
        self.sessions = 0

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        ours, theirs = trio.testing.memory_stream_pair()
        self.sessions += 1
        trio.lowlevel.spawn_system_task(self.serve, theirs, self.sessions)
        return ours

    async def serve(self, stream: trio.abc.Stream, session: int) -> None:
        decoder = p.MessageDecoder(accept=FROM_PEER, max_frame_payload_bytes=0)
        hello = await receive_message(stream, decoder)
        assert isinstance(hello, p.Hello)
        welcome = p.Welcome(
            protocol_version=p.PROTOCOL_VERSION,
            name=hello.name,
            heartbeat_interval_ms=1000,
            admission_key="k",
        )
        await stream.send_all(p.encode(welcome))
        try:
            while (message := await receive_message(stream, decoder)) is not None:
                if not isinstance(message, p.Heartbeat):
                    continue
                self.beats.append((trio.current_time(), session))
                mute = self.mute_after_beats is not None and len(self.beats) > self.mute_after_beats
                if session == 1 and mute:
                    continue
                ack = p.HeartbeatAck(seq=message.seq, server_time_ns=0)
                await stream.send_all(p.encode(ack))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


def tracker_link(fake: FakeTracker, events: list[tuple[float, ev.PeerEvent]]) -> TrackerLink:
    return TrackerLink(
        ("10.0.0.9", 9000),
        hello=lambda: p.Hello(protocol_version=p.PROTOCOL_VERSION, name="me", role="viewer"),
        on_message=lambda message: None,
        stats=p.PeerStats,
        on_event=lambda event: events.append((trio.current_time(), event)),
        connect=fake.connect,
    )


async def test_a_peer_heartbeats_exactly_once_a_second(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    fake = FakeTracker()
    events: list[tuple[float, ev.PeerEvent]] = []
    link = tracker_link(fake, events)
    await link.register()
    started = trio.current_time()
    nursery.start_soon(link.run)
    await trio.sleep(10.5)
    times = [at - started for at, _ in fake.beats]
    assert times == pytest.approx([float(i) for i in range(11)], abs=1e-6)
    assert events == [], "a healthy session says nothing"


async def test_a_silent_tracker_is_given_up_after_4_s_and_the_peer_registers_again(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    fake = FakeTracker(mute_after_beats=2)
    events: list[tuple[float, ev.PeerEvent]] = []
    link = tracker_link(fake, events)
    await link.register()
    started = trio.current_time()
    nursery.start_soon(link.run)
    await eventually(
        lambda: any(isinstance(event, ev.TrackerBack) for _, event in events),
        within_s=60,
        what="the peer back with the tracker",
    )
    (lost_at, lost), (back_at, back) = events
    # The last ack answered the beat at 1 s; 4 s later (4 heartbeat intervals) it is lost.
    assert lost == ev.TrackerLost(detail="silent for 4 s")
    assert lost_at - started == pytest.approx(5.0, abs=1e-6)
    assert back == ev.TrackerBack()
    assert back_at - lost_at == pytest.approx(0.2, abs=1e-6), "the first retry comes at 0.2 s"
    assert fake.sessions == 2
