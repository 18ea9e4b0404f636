"""Golden bytes: one message of each type, so an accidental format change fails here.

If a change to the wire format is intended, bump PROTOCOL_VERSION and update these.
"""

from __future__ import annotations

import pytest

import protocol as p

offer = p.ParentOffer(name="relay-1", host="127.0.0.1", port=40001, token="tok-a")
# A parent behind a home router that forwards a port to it (UPnP).
mapped_offer = p.ParentOffer(
    name="home-3", host="203.0.113.7", port=51000, token="tok-d", link=p.LinkKind.MAPPED
)
# A parent nobody can dial: it connects to the child instead (connection reversal).
reverse_offer = p.ParentOffer(
    name="home-2", host="203.0.113.9", port=40003, token="tok-c", link=p.LinkKind.REVERSED
)
# Parent and child both behind routers: they meet by hole punching.
punched_offer = p.ParentOffer(
    name="home-4",
    host="198.51.100.20",
    port=40004,
    token="tok-e",
    link=p.LinkKind.PUNCHED,
    punch_delay_ms=35,
)
stats = p.PeerStats(
    fps=29.5,
    recv_fps=30.0,
    bandwidth_kbps=16000.0,
    upload_kbps=32000.0,
    latency_ms=1.5,
    rtt_ms=0.25,
    loss_pct=0.0,
    frames_received=900,
    frames_lost=2,
    depth=2,
    children=2,
    resolution="480p",
    slots=4,
)
# Envelopes: magic, version 10, type, flags, reserved, body length.
ENV_ERROR = bytes.fromhex("534e0a04000000000032")
ENV_PARENT_LOST = bytes.fromhex("534e0a1200000000004f")
ENV_CHILD_DROPPED = bytes.fromhex("534e0a1300000000002e")
ENV_WAITING = bytes.fromhex("534e0a16000000000019")
chat = p.ChatMessage(id=7, sender="alice", time_ns=1_700_000_000_000_000_000, text="hi, all")

GOLDEN: list[tuple[p.Message, bytes]] = [
    (
        p.Hello(
            protocol_version=1,
            name="alice",
            role="viewer",
            listen_host="127.0.0.1",
            listen_port=40000,
            max_children=3,
            resolution="720p",
            addresses=["10.0.0.5", "fd00::5"],
            from_listen_port=True,
        ),
        bytes.fromhex("534e0a01000000000117")
        + b'{"protocol_version":1,"name":"alice","role":"viewer","listen_host":"127.0.0.1","listen_port":40000,"max_children":3,"resolution":"720p","parent":null,"join_key":null,"stream_key":null,"addresses":["10.0.0.5","fd00::5"],"advertise":null,"mapped_port":null,"from_listen_port":true}',
    ),
    (
        p.Hello(
            protocol_version=1,
            name="cam",
            role="source",
            listen_port=40001,
            max_children=3,
            stream_key="ab" * 256,
        ),
        bytes.fromhex("534e0a01000000000302")
        + b'{"protocol_version":1,"name":"cam","role":"source","listen_host":"127.0.0.1","listen_port":40001,"max_children":3,"resolution":"source","parent":null,"join_key":null,"stream_key":"'
        + b"ab" * 256
        + b'","addresses":[],"advertise":null,"mapped_port":null,"from_listen_port":false}',
    ),
    (
        p.Welcome(
            protocol_version=1,
            name="alice",
            heartbeat_interval_ms=1000,
            admission_key="k3y",
            source="cam",
            epoch=4,
            observed_host="203.0.113.5",
        ),
        bytes.fromhex("534e0a0200000000008f")
        + b'{"protocol_version":1,"name":"alice","heartbeat_interval_ms":1000,"admission_key":"k3y","source":"cam","epoch":4,"observed_host":"203.0.113.5"}',
    ),
    (
        p.Reject(code=p.RejectCode.NAME_TAKEN, message="name 'alice' is taken"),
        bytes.fromhex("534e0a03000000000037")
        + b'{"code":"name_taken","message":"name \'alice\' is taken"}',
    ),
    (
        p.Error(code=p.ErrorCode.CHAT_RATE_LIMITED, message="slow down"),
        ENV_ERROR + b'{"code":"chat_rate_limited","message":"slow down"}',
    ),
    (
        p.Goodbye(reason="quit"),
        bytes.fromhex("534e0a05000000000011") + b'{"reason":"quit"}',
    ),
    (
        p.Assign(parent=offer, depth=2, epoch=4, backup=None, stream_key="cd" * 256),
        bytes.fromhex("534e0a100000000002a2")
        + b'{"parent":{"name":"relay-1","host":"127.0.0.1","port":40001,"token":"tok-a","link":"direct","punch_delay_ms":0},"depth":2,"epoch":4,"backup":null,"stream_key":"'
        + b"cd" * 256
        + b'"}',
    ),
    (
        p.Assign(parent=reverse_offer, depth=3, epoch=4, backup=offer),
        bytes.fromhex("534e0a10000000000108")
        + b'{"parent":{"name":"home-2","host":"203.0.113.9","port":40003,"token":"tok-c","link":"reversed","punch_delay_ms":0},"depth":3,"epoch":4,"backup":{"name":"relay-1","host":"127.0.0.1","port":40001,"token":"tok-a","link":"direct","punch_delay_ms":0},"stream_key":null}',
    ),
    (
        p.Assign(parent=punched_offer, depth=1, epoch=4),
        bytes.fromhex("534e0a100000000000a9")
        + b'{"parent":{"name":"home-4","host":"198.51.100.20","port":40004,"token":"tok-e","link":"punched","punch_delay_ms":35},"depth":1,"epoch":4,"backup":null,"stream_key":null}',
    ),
    (
        p.BackupUpdate(backup=mapped_offer),
        bytes.fromhex("534e0a11000000000071")
        + b'{"backup":{"name":"home-3","host":"203.0.113.7","port":51000,"token":"tok-d","link":"mapped","punch_delay_ms":0}}',
    ),
    (
        p.BackupUpdate(backup=offer),
        bytes.fromhex("534e0a11000000000070")
        + b'{"backup":{"name":"relay-1","host":"127.0.0.1","port":40001,"token":"tok-a","link":"direct","punch_delay_ms":0}}',
    ),
    (
        p.ParentLost(
            parent="relay-1", reason=p.LossReason.SILENT, switched_to="relay-2", detail="1.5 s"
        ),
        ENV_PARENT_LOST
        + b'{"parent":"relay-1","reason":"silent","switched_to":"relay-2","detail":"1.5 s"}',
    ),
    (
        p.ChildDropped(child="bob", reason=p.DropReason.STALLED),
        ENV_CHILD_DROPPED + b'{"child":"bob","reason":"stalled","detail":""}',
    ),
    (
        p.StreamStarted(source="cam", epoch=4),
        bytes.fromhex("534e0a1400000000001a") + b'{"source":"cam","epoch":4}',
    ),
    (
        p.StreamEnded(source="cam", epoch=4, reason="end of file"),
        bytes.fromhex("534e0a15000000000031")
        + b'{"source":"cam","epoch":4,"reason":"end of file"}',
    ),
    (
        p.Waiting(reason=p.WaitReason.NO_FREE_SLOT),
        ENV_WAITING + b'{"reason":"no_free_slot"}',
    ),
    (
        p.Heartbeat(seq=12, stats=stats),
        bytes.fromhex(
            "534e0a20000000000066"  # envelope: 102 bytes of binary body
            "000000000000000c"  # seq 12
            "403d800000000000"  # fps 29.5
            "403e000000000000"  # recv_fps 30.0
            "40cf400000000000"  # bandwidth_kbps 16000.0
            "40df400000000000"  # upload_kbps 32000.0
            "3ff8000000000000"  # latency_ms 1.5
            "3fd0000000000000"  # rtt_ms 0.25
            "0000000000000000"  # loss_pct 0.0
            "0000000000000384"  # frames_received 900
            "0000000000000002"  # frames_lost 2
            "0000000000000002"  # depth 2
            "0000000000000002"  # children 2
            "04"  # resolution: 4 bytes
        )
        + b"480p"
        + bytes.fromhex("04"),  # slots 4
    ),
    (
        p.HeartbeatAck(seq=12, server_time_ns=1_700_000_000_000_000_000),
        bytes.fromhex("534e0a21000000000010000000000000000c17979cfe362a0000"),
    ),
    (
        p.StatusRequest(),
        bytes.fromhex("534e0a22000000000002") + b"{}",
    ),
    (
        p.StatusReply(
            source="cam",
            epoch=4,
            peers=[
                p.PeerInfo(
                    name="cam",
                    role="source",
                    parent=None,
                    depth=0,
                    children=["alice"],
                    max_children=3,
                    resolution="source",
                    address="[fd00::5]:7000",
                    reachable=True,
                    reached_by=p.LinkKind.DIRECT,
                )
            ],
            max_depth=1,
            source_fanout=3,
        ),
        bytes.fromhex("534e0a23000000000112")
        + b'{"source":"cam","epoch":4,"peers":[{"name":"cam","role":"source","parent":null,"depth":0,"children":["alice"],"max_children":3,"resolution":"source","stats":null,"address":"[fd00::5]:7000","reachable":true,"link":null,"reached_by":"direct"}],"max_depth":1,"source_fanout":3}',
    ),
    (
        p.ChatSend(text="hi, all"),
        bytes.fromhex("534e0a30000000000012") + b'{"text":"hi, all"}',
    ),
    (
        chat,
        bytes.fromhex("534e0a31000000000048")
        + b'{"id":7,"sender":"alice","time_ns":1700000000000000000,"text":"hi, all"}',
    ),
    (
        p.ChatHistory(messages=[chat]),
        bytes.fromhex("534e0a32000000000057")
        + b'{"messages":[{"id":7,"sender":"alice","time_ns":1700000000000000000,"text":"hi, all"}]}',
    ),
    (
        p.Join(protocol_version=1, name="bob", token="tok-b", last_epoch=4, last_seq=999),
        bytes.fromhex("534e0a40000000000051")
        + b'{"protocol_version":1,"name":"bob","token":"tok-b","last_epoch":4,"last_seq":999}',
    ),
    (
        p.Accept(parent="alice", depth=3, epoch=4),
        bytes.fromhex("534e0a41000000000026") + b'{"parent":"alice","depth":3,"epoch":4}',
    ),
    (
        p.Ping(nonce=5, sent_ns=123456789),
        bytes.fromhex("534e0a4200000000001f") + b'{"nonce":5,"sent_ns":123456789}',
    ),
    (
        p.Pong(nonce=5, echo_ns=123456789),
        bytes.fromhex("534e0a4300000000001f") + b'{"nonce":5,"echo_ns":123456789}',
    ),
    (p.KeyframeRequest(epoch=4), bytes.fromhex("534e0a4400000000000b") + b'{"epoch":4}'),
    (
        p.Probe(name="alice", nonce="c0ffee"),
        bytes.fromhex("534e0a45000000000021") + b'{"name":"alice","nonce":"c0ffee"}',
    ),
    (
        p.ProbeReply(proofs=["ab12"]),
        bytes.fromhex("534e0a46000000000013") + b'{"proofs":["ab12"]}',
    ),
    (
        p.Reverse(parent="home-2", token="tok-r"),
        bytes.fromhex("534e0a47000000000023") + b'{"parent":"home-2","token":"tok-r"}',
    ),
    (p.UplinkProbe(padding_bytes=3), bytes.fromhex("534e0a480000000000030000 00".replace(" ", ""))),
    (
        p.Reachability(reachable=False, address="203.0.113.5:7000", detail="Connection refused"),
        bytes.fromhex("534e0a1700000000004e")
        + b'{"reachable":false,"address":"203.0.113.5:7000","detail":"Connection refused"}',
    ),
    (
        p.DialChild(child="bob", host="198.51.100.7", port=40002, token="tok-r"),
        bytes.fromhex("534e0a18000000000042")
        + b'{"child":"bob","host":"198.51.100.7","port":40002,"token":"tok-r"}',
    ),
    (
        p.PunchChild(child="bob", host="198.51.100.21", port=40005, delay_ms=0),
        bytes.fromhex("534e0a19000000000040")
        + b'{"child":"bob","host":"198.51.100.21","port":40005,"delay_ms":0}',
    ),
    (
        p.CheckReachability(mapped_port=51000),
        bytes.fromhex("534e0a24000000000015") + b'{"mapped_port":51000}',
    ),
    (p.CheckReachability(), bytes.fromhex("534e0a24000000000014") + b'{"mapped_port":null}'),
    (
        p.VideoFrame(
            header=p.FrameHeader(
                epoch=4,
                seq=1000,
                capture_ns=1_700_000_000_000_000_000,
                width=1280,
                height=720,
                hops=2,
                path_latency_us=1500,
            ),
            data=b"\xff\xd8\xff\xe0JPEG\xff\xd9",
        ),
        bytes.fromhex(
            # A JPEG frame: flag 0x02 (keyframe), codec 1 at offset 30 of the header.
            "534e0a500200000000290000000400000000000003e817979cfe362a0000050002d00002000005dc01ffd8ffe04a504547ffd9"
        ),
    ),
    (
        p.VideoFrame(
            header=p.FrameHeader(epoch=4, seq=1001, capture_ns=1, width=640, height=360),
            data=b"\xff\xd8\xff\xd9",
            signature=bytes(range(256)),
        ),
        bytes.fromhex(
            "534e0a500300000001230000000400000000000003e900000000000000010280016800000000000001"
            + bytes(range(256)).hex()
            + "ffd8ffd9"
        ),
    ),
    (
        p.VideoFrame(
            header=p.FrameHeader(
                epoch=4,
                seq=1002,
                capture_ns=2,
                width=1280,
                height=720,
                codec=p.Codec.H264,
                keyframe=False,
            ),
            data=b"\x00\x00\x00\x01\x41\x9a",
        ),
        bytes.fromhex(
            # An H.264 access unit that is not a keyframe: no flags, codec 2.
            "534e0a500000000000250000000400000000000003ea0000000000000002050002d00000000000000200000001419a"
        ),
    ),
]


@pytest.mark.parametrize(
    ("message", "wire"), GOLDEN, ids=[f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(GOLDEN)]
)
def test_golden_encoding(message: p.Message, wire: bytes) -> None:
    assert p.encode(message) == wire


@pytest.mark.parametrize(
    ("message", "wire"), GOLDEN, ids=[f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(GOLDEN)]
)
def test_golden_decoding(message: p.Message, wire: bytes) -> None:
    decoder = p.MessageDecoder()
    decoder.receive_data(wire)
    assert list(decoder) == [message]


def test_every_type_has_a_golden_sample() -> None:
    assert {type(m) for m, _ in GOLDEN} == set(p.MESSAGE_TYPES)
