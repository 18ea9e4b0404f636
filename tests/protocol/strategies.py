"""Hypothesis strategies producing every valid protocol message."""

from __future__ import annotations

from hypothesis import strategies as st

import protocol as p
from protocol.control import ROLES
from protocol.limits import MAX_CHILDREN, MAX_FRAME_DIMENSION, SIGNATURE_BYTES

U32 = 2**32 - 1
U64 = 2**64 - 1
I64 = 2**63 - 1

names = st.text(max_size=40)
texts = st.text(max_size=200)
hosts = st.text(min_size=1, max_size=40)
ports = st.integers(0, 65535)
tokens = st.text(max_size=80)
stream_keys = st.binary(min_size=32, max_size=32).map(bytes.hex)
counts = st.integers(0, I64)
u32s = st.integers(0, U32)
small_floats = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
roles = st.sampled_from(ROLES)
resolutions = st.sampled_from(["360p", "480p", "720p", "1080p", "source"])

offers = st.builds(p.ParentOffer, name=names, host=hosts, port=ports, token=tokens)
stats = st.builds(
    p.PeerStats,
    fps=small_floats,
    recv_fps=small_floats,
    bandwidth_kbps=small_floats,
    upload_kbps=small_floats,
    latency_ms=small_floats,
    rtt_ms=small_floats,
    loss_pct=small_floats,
    frames_received=counts,
    frames_lost=counts,
    depth=u32s,
    children=counts,
    resolution=resolutions,
)
peer_infos = st.builds(
    p.PeerInfo,
    name=names,
    role=roles,
    parent=st.none() | names,
    depth=u32s,
    children=st.lists(names, max_size=4),
    max_children=st.integers(0, MAX_CHILDREN),
    resolution=resolutions,
    stats=st.none() | stats,
)
chat_messages = st.builds(p.ChatMessage, id=counts, sender=names, time_ns=counts, text=texts)
frame_headers = st.builds(
    p.FrameHeader,
    epoch=u32s,
    seq=st.integers(0, U64),
    capture_ns=st.integers(0, U64),
    width=st.integers(1, MAX_FRAME_DIMENSION),
    height=st.integers(1, MAX_FRAME_DIMENSION),
    hops=st.integers(0, 0xFFFF),
    path_latency_us=u32s,
)
video_frames = st.builds(
    p.VideoFrame,
    header=frame_headers,
    jpeg=st.binary(min_size=1, max_size=3000),
    signature=st.sampled_from([b""])
    | st.binary(min_size=SIGNATURE_BYTES, max_size=SIGNATURE_BYTES),
)

STRATEGIES: dict[type, st.SearchStrategy[p.Message]] = {
    p.Hello: st.builds(
        p.Hello,
        protocol_version=st.integers(0, 255),
        name=names,
        role=roles,
        listen_host=hosts,
        listen_port=ports,
        max_children=st.integers(0, MAX_CHILDREN),
        resolution=resolutions,
        parent=st.none() | names,
        join_key=st.none() | tokens,
        stream_key=st.none() | stream_keys,
    ),
    p.Welcome: st.builds(
        p.Welcome,
        protocol_version=st.integers(0, 255),
        name=names,
        heartbeat_interval_ms=st.integers(1, 3_600_000),
        admission_key=tokens,
        source=st.none() | names,
        epoch=u32s,
    ),
    p.Reject: st.builds(p.Reject, code=st.sampled_from(p.RejectCode), message=texts),
    p.Error: st.builds(p.Error, code=st.sampled_from(p.ErrorCode), message=texts),
    p.Goodbye: st.builds(p.Goodbye, reason=texts),
    p.Assign: st.builds(
        p.Assign,
        parent=offers,
        depth=u32s,
        epoch=u32s,
        backup=st.none() | offers,
        stream_key=st.none() | stream_keys,
    ),
    p.BackupUpdate: st.builds(p.BackupUpdate, backup=st.none() | offers),
    p.ParentLost: st.builds(
        p.ParentLost,
        parent=names,
        reason=st.sampled_from(p.LossReason),
        switched_to=st.none() | names,
        detail=texts,
    ),
    p.ChildDropped: st.builds(
        p.ChildDropped, child=names, reason=st.sampled_from(p.DropReason), detail=texts
    ),
    p.StreamStarted: st.builds(p.StreamStarted, source=names, epoch=u32s),
    p.StreamEnded: st.builds(p.StreamEnded, source=names, epoch=u32s, reason=texts),
    p.Waiting: st.builds(p.Waiting, reason=st.sampled_from(p.WaitReason)),
    p.Heartbeat: st.builds(p.Heartbeat, seq=counts, stats=stats),
    p.HeartbeatAck: st.builds(p.HeartbeatAck, seq=counts, server_time_ns=counts),
    p.StatusRequest: st.just(p.StatusRequest()),
    p.StatusReply: st.builds(
        p.StatusReply,
        source=st.none() | names,
        epoch=u32s,
        peers=st.lists(peer_infos, max_size=5),
        max_depth=u32s,
        source_fanout=st.integers(0, MAX_CHILDREN),
    ),
    p.ChatSend: st.builds(p.ChatSend, text=texts),
    p.ChatMessage: chat_messages,
    p.ChatHistory: st.builds(p.ChatHistory, messages=st.lists(chat_messages, max_size=5)),
    p.Join: st.builds(p.Join, protocol_version=st.integers(0, 255), name=names, token=tokens),
    p.Accept: st.builds(p.Accept, parent=names, depth=u32s, epoch=u32s),
    p.Ping: st.builds(p.Ping, nonce=counts, sent_ns=counts),
    p.Pong: st.builds(p.Pong, nonce=counts, echo_ns=counts),
    p.VideoFrame: video_frames,
}

any_message: st.SearchStrategy[p.Message] = st.one_of(*STRATEGIES.values())
