"""Hypothesis strategies producing every valid protocol message, out to the wire limits.

Every bounded field is drawn now and then at its exact limit (protocol/limits.py and the
validators in protocol/control.py), so the largest message a peer may legally send is
tried as well as the usual small ones. Long values are a short drawn piece repeated: a
4096-character text costs hypothesis a few choices, not four thousand. JPEG payloads
stay small here (byte-at-a-time tests feed every byte); the 8 MiB frame limit has its
own tests in tests/protocol/test_limits.py.
"""

from __future__ import annotations

from typing import TypeVar

from hypothesis import strategies as st

import protocol as p
from protocol.control import ROLES
from protocol.limits import (
    CHAT_HISTORY_LENGTH,
    MAX_CHILDREN,
    MAX_FRAME_DIMENSION,
    MAX_HOST_CHARS,
    MAX_PORT,
    MAX_TOKEN_CHARS,
    MAX_WIRE_NAME_CHARS,
    MAX_WIRE_TEXT_CHARS,
    SIGNATURE_BYTES,
)

T = TypeVar("T")
U16 = 2**16 - 1
U32 = 2**32 - 1
U64 = 2**64 - 1
I64 = 2**63 - 1
MAX_CODE_CHARS = 64  # Reject and Error codes (protocol/control.py)
MAX_RESOLUTION_CHARS = 16
# How often a bounded value is drawn at its limit rather than anywhere below it.
AT_LIMIT_ONE_IN = 8


def sometimes_at(limit: st.SearchStrategy[T], usual: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`usual`, or one time in AT_LIMIT_ONE_IN a value from `limit`."""
    return st.integers(1, AT_LIMIT_ONE_IN).flatmap(
        lambda k: limit if k == AT_LIMIT_ONE_IN else usual
    )


def texts_up_to(
    max_chars: int, *, min_chars: int = 0, usual_chars: int = 40
) -> st.SearchStrategy[str]:
    """Any text of min_chars..max_chars characters, sometimes exactly max_chars."""
    at_limit = st.text(min_size=1, max_size=8).map(lambda piece: (piece * max_chars)[:max_chars])
    return sometimes_at(at_limit, st.text(min_size=min_chars, max_size=min(usual_chars, max_chars)))


def ints_up_to(low: int, high: int) -> st.SearchStrategy[int]:
    """Any int in [low, high], with both ends drawn often."""
    return sometimes_at(st.sampled_from([low, high]), st.integers(low, high))


def lists_up_to(
    items: st.SearchStrategy[T], max_items: int, *, usual_items: int = 4
) -> st.SearchStrategy[list[T]]:
    """A list of up to max_items, sometimes exactly max_items."""
    at_limit = st.lists(items, min_size=max_items, max_size=max_items)
    return sometimes_at(at_limit, st.lists(items, max_size=min(usual_items, max_items)))


names = texts_up_to(MAX_WIRE_NAME_CHARS)
texts = texts_up_to(MAX_WIRE_TEXT_CHARS, usual_chars=200)
codes = texts_up_to(MAX_CODE_CHARS, min_chars=1)
hosts = texts_up_to(MAX_HOST_CHARS, min_chars=1)
ports = ints_up_to(0, MAX_PORT)
tokens = texts_up_to(MAX_TOKEN_CHARS, usual_chars=80)
stream_keys = st.binary(min_size=256, max_size=256).map(bytes.hex)
counts = ints_up_to(0, I64)
u32s = ints_up_to(0, U32)
floats = sometimes_at(
    st.just(1.7976931348623157e308),  # the largest finite float: the validators' limit
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
)
roles = st.sampled_from(ROLES)
resolutions = st.sampled_from(["360p", "480p", "720p", "1080p", "source"]) | texts_up_to(
    MAX_RESOLUTION_CHARS, usual_chars=MAX_RESOLUTION_CHARS
)
capacities = ints_up_to(0, MAX_CHILDREN)
versions = ints_up_to(0, 255)

offers = st.builds(
    p.ParentOffer,
    name=names,
    host=hosts,
    port=ports,
    token=tokens,
    link=st.sampled_from(p.LinkKind),
    punch_delay_ms=ints_up_to(0, p.limits.MAX_PUNCH_DELAY_MS),
)
stats = st.builds(
    p.PeerStats,
    fps=floats,
    recv_fps=floats,
    bandwidth_kbps=floats,
    upload_kbps=floats,
    latency_ms=floats,
    rtt_ms=floats,
    loss_pct=floats,
    frames_received=counts,
    frames_lost=counts,
    depth=u32s,
    children=counts,
    resolution=resolutions,
    slots=st.none() | st.integers(0, p.limits.MAX_CHILDREN),
)
peer_infos = st.builds(
    p.PeerInfo,
    name=names,
    role=roles,
    parent=st.none() | names,
    depth=u32s,
    children=lists_up_to(names, MAX_CHILDREN),
    max_children=capacities,
    resolution=resolutions,
    stats=st.none() | stats,
    address=st.none() | texts,
    reachable=st.none() | st.booleans(),
    link=st.none() | st.sampled_from(p.LinkKind),
    reached_by=st.none() | st.sampled_from(p.LinkKind),
)
chat_messages = st.builds(p.ChatMessage, id=counts, sender=names, time_ns=counts, text=texts)
# A full history of lines at the text limit would be over its 1 MiB payload limit (which
# encode refuses): full histories are of short lines, long lines come a few at a time.
short_chat_messages = st.builds(
    p.ChatMessage, id=counts, sender=names, time_ns=counts, text=st.text(max_size=100)
)
chat_histories = st.builds(
    p.ChatHistory,
    messages=lists_up_to(short_chat_messages, CHAT_HISTORY_LENGTH)
    | st.lists(chat_messages, max_size=3),
)
# A JPEG frame is always a keyframe; an H.264 access unit may or may not be one.
encodings = st.just((p.Codec.JPEG, True)) | st.tuples(st.just(p.Codec.H264), st.booleans())
frame_headers = encodings.flatmap(
    lambda encoding: st.builds(
        p.FrameHeader,
        epoch=u32s,
        seq=ints_up_to(0, U64),
        capture_ns=ints_up_to(0, U64),
        width=ints_up_to(1, MAX_FRAME_DIMENSION),
        height=ints_up_to(1, MAX_FRAME_DIMENSION),
        hops=ints_up_to(0, U16),
        path_latency_us=u32s,
        codec=st.just(encoding[0]),
        keyframe=st.just(encoding[1]),
    )
)
video_frames = st.builds(
    p.VideoFrame,
    header=frame_headers,
    data=st.binary(min_size=1, max_size=3000),
    signature=st.sampled_from([b""])
    | st.binary(min_size=SIGNATURE_BYTES, max_size=SIGNATURE_BYTES),
)

STRATEGIES: dict[type, st.SearchStrategy[p.Message]] = {
    p.Hello: st.builds(
        p.Hello,
        protocol_version=versions,
        name=names,
        role=roles,
        listen_host=hosts,
        listen_port=ports,
        max_children=capacities,
        resolution=resolutions,
        parent=st.none() | names,
        join_key=st.none() | tokens,
        stream_key=st.none() | stream_keys,
        addresses=lists_up_to(hosts, p.limits.MAX_ADVERTISED_ADDRESSES),
        advertise=st.none() | hosts,
        mapped_port=st.none() | st.integers(1, p.limits.MAX_PORT),
        from_listen_port=st.booleans(),
    ),
    p.Welcome: st.builds(
        p.Welcome,
        protocol_version=versions,
        name=names,
        heartbeat_interval_ms=ints_up_to(1, 3_600_000),
        admission_key=tokens,
        source=st.none() | names,
        epoch=u32s,
        observed_host=st.none() | hosts,
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
        # Up to MAX_STATUS_PEERS in a reply; that limit is tested in test_limits.py.
        peers=st.lists(peer_infos, max_size=5),
        max_depth=u32s,
        source_fanout=capacities,
    ),
    p.ChatSend: st.builds(p.ChatSend, text=texts),
    p.ChatMessage: chat_messages,
    p.ChatHistory: chat_histories,
    p.Join: st.builds(
        p.Join,
        protocol_version=versions,
        name=names,
        token=tokens,
        last_epoch=u32s,
        last_seq=counts,
    ),
    p.Accept: st.builds(p.Accept, parent=names, depth=u32s, epoch=u32s),
    p.Ping: st.builds(p.Ping, nonce=counts, sent_ns=counts),
    p.Pong: st.builds(p.Pong, nonce=counts, echo_ns=counts),
    p.KeyframeRequest: st.builds(p.KeyframeRequest, epoch=u32s),
    p.Probe: st.builds(p.Probe, name=names, nonce=tokens.filter(bool)),
    p.ProbeReply: st.builds(p.ProbeReply, proofs=lists_up_to(tokens, p.limits.MAX_PROBE_PROOFS)),
    p.Reverse: st.builds(p.Reverse, parent=names, token=tokens),
    p.UplinkProbe: st.builds(
        p.UplinkProbe, padding_bytes=st.integers(0, p.limits.MAX_UPLINK_PROBE_CHUNK_BYTES)
    ),
    p.Reachability: st.builds(p.Reachability, reachable=st.booleans(), address=texts, detail=texts),
    p.CheckReachability: st.builds(p.CheckReachability, mapped_port=st.none() | ports),
    p.DialChild: st.builds(p.DialChild, child=names, host=hosts, port=ports, token=tokens),
    p.PunchChild: st.builds(
        p.PunchChild,
        child=names,
        host=hosts,
        port=ints_up_to(1, MAX_PORT),
        delay_ms=ints_up_to(0, p.limits.MAX_PUNCH_DELAY_MS),
    ),
    p.VideoFrame: video_frames,
}

any_message: st.SearchStrategy[p.Message] = st.one_of(*STRATEGIES.values())
