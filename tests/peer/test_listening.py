"""Where a peer listens and what it says about itself: every interface by default, its
dialable addresses to the tracker, IPv6 addresses as users type them, and never itself
as its own child."""

from __future__ import annotations

import argparse
import socket

import pytest
import trio

import protocol as p
from peer.addresses import interface_addresses
from peer.arguments import listen_address, tracker_address
from peer.gate import AdmissionGate
from peer.wire import receive_message
from tests.peer.conftest import PeerStarter
from tests.tracker.client import joined


def test_tracker_and_listen_addresses_parse_as_typed() -> None:
    assert tracker_address("::1") == ("::1", 9000)
    assert tracker_address("[::1]:7000") == ("::1", 7000)
    assert tracker_address("tracker.example.org") == ("tracker.example.org", 9000)
    assert listen_address("7000") == ("::", 7000)
    assert listen_address("0.0.0.0:7000") == ("0.0.0.0", 7000)
    with pytest.raises(argparse.ArgumentTypeError, match="is not"):
        tracker_address("[::1")


def test_interface_addresses_leave_out_what_another_host_cannot_dial() -> None:
    found = interface_addresses("::")
    assert not {"127.0.0.1", "::1"} & set(found)
    assert interface_addresses("127.0.0.1") == []
    assert interface_addresses("10.9.8.7") == ["10.9.8.7"]


def test_a_join_from_ourselves_is_refused_by_name() -> None:
    gate = AdmissionGate(name="Alice", capacity=3)
    join = p.Join(protocol_version=p.PROTOCOL_VERSION, name="alice", token="t")
    refusal = gate.admit(join, children_now=0, now_s=0.0)
    assert refusal is not None and refusal.code is p.RejectCode.SELF


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack sockets here")
async def test_by_default_children_reach_a_peer_over_ipv4_and_ipv6(
    start_peer: PeerStarter, address: tuple[str, int]
) -> None:
    source = await start_peer("source", "cam", source="testsrc:320x180@30", max_children=3)
    assert source.config.listen[0] == "::"
    assert source.dial_address().startswith("127.0.0.1:")  # as the tracker sees it
    port = source.hub.address[1] if source.hub.address else 0
    for name, host in (("four", "127.0.0.1"), ("six", "::1")):
        viewer = await joined(address, name, capacity=0)
        assign = await viewer.expect(p.Assign)
        assert (assign.parent.host, assign.parent.port) == ("127.0.0.1", port)
        link = await trio.open_tcp_stream(host, port)
        join = p.Join(protocol_version=p.PROTOCOL_VERSION, name=name, token=assign.parent.token)
        await link.send_all(p.encode(join))
        decoder = p.MessageDecoder()
        with trio.fail_after(10):
            answer = await receive_message(link, decoder)
            assert isinstance(answer, p.Accept), answer
            frame = await receive_message(link, decoder)
        assert isinstance(frame, p.VideoFrame)
        await link.aclose()
