"""The tracker dials each peer back before it trusts it with children, and only at the
address the peer's own connection came from."""

from __future__ import annotations

import math

import attrs
import pytest
import trio

import protocol as p
from protocol.admission import probe_proof
from tests.tracker.client import Client
from tracker import service
from tracker.members import Member
from tracker.probe import run_probe
from tracker.reachability import (
    RECHECK_MIN_INTERVAL_S,
    RECHECK_UNREACHABLE_S,
    WRONG_PROOF,
    ProbeAnswer,
    Reachability,
)
from tracker.service import Tracker, TrackerConfig

CONFIG = TrackerConfig(port=0, recovery_window_s=0.0, probe_timeout_s=2.0)


class ProbedPeer:
    """A scripted peer with a real listener that answers the tracker's probe (or not)."""

    def __init__(self, name: str, *, answer: bool = True, wrong_proof: bool = False) -> None:
        self.name = name
        self.answer = answer
        self.wrong_proof = wrong_proof
        self.probes: list[p.Probe] = []
        self.welcome: p.Welcome | None = None
        self.listener: trio.SocketListener | None = None

    @property
    def port(self) -> int:
        assert self.listener is not None
        return int(self.listener.socket.getsockname()[1])

    async def listen(self, nursery: trio.Nursery) -> None:
        (self.listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        nursery.start_soon(trio.serve_listeners, self._serve, [self.listener])

    async def _serve(self, stream: trio.SocketStream) -> None:
        decoder = p.MessageDecoder()
        with trio.move_on_after(5):
            while not isinstance(message := decoder.next_message(), p.Probe):
                decoder.receive_data(await stream.receive_some(65536))
            self.probes.append(message)
            if self.answer and self.welcome is not None:
                key = "not the key" if self.wrong_proof else self.welcome.admission_key
                proof = probe_proof(key, name=self.name, nonce=message.nonce)
                await stream.send_all(p.encode(p.ProbeReply(proofs=[proof])))
        await stream.aclose()

    async def register(self, address: tuple[str, int], role: str, **hello: object) -> Client:
        client = await Client.connect(address)
        fields = {"listen_host": "::", "listen_port": self.port, "max_children": 3, **hello}
        await client.send(
            p.Hello(protocol_version=p.PROTOCOL_VERSION, name=self.name, role=role, **fields)  # type: ignore[arg-type]
        )
        self.welcome = await client.expect(p.Welcome)
        await client.send(p.Heartbeat(seq=1))  # the first heartbeat starts the check
        return client


async def start(nursery: trio.Nursery, config: TrackerConfig = CONFIG) -> Tracker:
    tracker = Tracker(config)
    await nursery.start(tracker.serve)
    return tracker


async def test_a_peer_that_answers_gets_children_and_one_that_cannot_is_never_dialled(
    nursery: trio.Nursery,
) -> None:
    tracker = await start(nursery)
    assert tracker.address is not None
    cam, open_viewer, closed_viewer = ProbedPeer("cam"), ProbedPeer("open"), ProbedPeer("nat")
    for peer in (cam, open_viewer, closed_viewer):
        await peer.listen(nursery)
    closed_viewer.answer = False  # something listens there, but not this peer
    source = await cam.register(tracker.address, "source", max_children=1)
    told = await source.expect(p.Reachability)
    assert told.reachable and told.address == f"127.0.0.1:{cam.port}"

    nat = await closed_viewer.register(tracker.address, "viewer")
    assert (await nat.expect(p.Assign)).parent.name == "cam"
    verdict = await nat.expect(p.Reachability, within_s=10)
    assert not verdict.reachable and verdict.detail == "closed without an answer"
    # Its slots feed only children it dials itself (connection reversal).
    assert not tracker.room.tree["nat"].dialable

    # A viewer that can be reached takes the source's only slot, and the one behind
    # the router hangs below it: never the other way round.
    viewer = await open_viewer.register(tracker.address, "viewer")
    assert (await viewer.expect(p.Reachability)).reachable
    assert (await viewer.expect(p.Assign)).parent.name == "cam"
    moved = await nat.expect(p.Assign)
    assert moved.parent.name == "open"
    status = tracker.room.status()
    reachable = {info.name: info.reachable for info in status.peers}
    assert reachable == {"cam": True, "open": True, "nat": False}


async def test_a_program_that_cannot_prove_it_is_the_peer_fails_the_probe(
    nursery: trio.Nursery,
) -> None:
    tracker = await start(nursery)
    assert tracker.address is not None
    impostor = ProbedPeer("cam", wrong_proof=True)
    await impostor.listen(nursery)
    source = await impostor.register(tracker.address, "source")
    verdict = await source.expect(p.Reachability)
    assert not verdict.reachable and "no valid proof" in verdict.detail


async def test_the_tracker_dials_only_the_address_the_connection_came_from(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialled: list[tuple[str, int]] = []
    real_probe = run_probe

    async def recording(host: str, port: int, *args: object) -> object:
        dialled.append((host, port))
        return await real_probe(host, port, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "run_probe", recording)
    tracker = await start(nursery)
    assert tracker.address is not None
    liar = ProbedPeer("cam")
    await liar.listen(nursery)
    claims = {"listen_host": "10.99.0.1", "addresses": ["10.99.0.1"], "advertise": "10.99.0.1"}
    source = await liar.register(tracker.address, "source", **claims)
    assert (await source.expect(p.Reachability)).reachable
    await source.send(p.CheckReachability())
    assert dialled == [("127.0.0.1", liar.port)]  # the ask came too soon: no second dial
    assert len(liar.probes) == 1


def answered(member: Member, nonce: str) -> ProbeAnswer:
    """What the real peer answers to a probe with `nonce`."""
    proof = probe_proof(member.admission_key, name=member.name, nonce=nonce)
    return ProbeAnswer(proofs=[proof])


REFUSED = ProbeAnswer(failure="Connection refused")


def test_checks_run_first_on_asks_no_more_than_every_few_seconds_and_again_while_unreachable() -> (
    None
):
    hello = p.Hello(protocol_version=p.PROTOCOL_VERSION, name="a", role="viewer", listen_port=7000)
    member = Member.from_hello(hello, "10.0.0.1", now_s=0.0)
    checks = Reachability(enabled=True)
    checks.joined("a", "10.0.0.1", 7000)
    first = checks.due("a", "a", now_s=0.0)
    assert first is not None and (first.host, first.port) == ("10.0.0.1", 7000)
    assert checks.due("a", "a", now_s=0.1, asked=True) is None  # one at a time
    assert checks.finished("a", first.nonce, REFUSED, member) is not None
    assert not checks.allows_children("a")
    assert checks.due("a", "a", now_s=1.0, asked=True) is None
    again = checks.due("a", "a", now_s=RECHECK_MIN_INTERVAL_S, asked=True)
    assert again is not None
    assert checks.finished("a", "stale", answered(member, "stale"), member) is None  # not in flight
    checks.finished("a", again.nonce, answered(member, "another nonce"), member)
    assert checks.reachable("a") is False and checks.checks["a"].detail == WRONG_PROOF
    assert checks.due("a", "a", now_s=RECHECK_MIN_INTERVAL_S + 1) is None
    later = checks.due("a", "a", now_s=RECHECK_MIN_INTERVAL_S + RECHECK_UNREACHABLE_S)
    assert later is not None
    checks.finished("a", later.nonce, answered(member, later.nonce), member)
    assert checks.allows_children("a")
    assert checks.due("a", "a", now_s=math.inf) is None  # reachable: no more checks unasked


def test_a_peer_that_listens_nowhere_is_a_leaf_without_a_dial() -> None:
    checks = Reachability(enabled=True)
    checks.joined("a", "10.0.0.1", 0)
    assert checks.reachable("a") is False and checks.due("a", "a", now_s=0.0) is None
    assert attrs.evolve(checks, enabled=False).allows_children("a")
