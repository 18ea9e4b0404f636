"""A child behind a small socket buffer gets every byte of every frame, whole and in order.

When a socket takes only part of a head and its JPEG, the parent must send the rest, and
only the rest, before anything else goes on that link. Here the parent's send buffer is
as small as the kernel allows, the child's receive buffer is small and the child reads a
little at a time, so many writes stop short: a large frame always does (it cannot fit),
and a run of small ones fills the buffer until one is cut, sometimes inside its head.
The child decodes what arrives and compares it, byte for byte, with what the parent
was given.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable

import trio

import protocol as p
from peer.child_link import send_frame
from peer.children import ChildrenHub
from peer.gate import AdmissionGate
from peer.wire import receive_message
from protocol.admission import mint_token, new_admission_key
from protocol.limits import SIGNATURE_BYTES
from tests.polling import eventually

SEND_BUFFER_BYTES = 1024  # the kernel rounds this up to its minimum (4.5 KiB on Linux)
# Small, so a large frame never fits in one write; much smaller and loopback TCP crawls
# on its window probes.
RECEIVE_BUFFER_BYTES = 4096
READ_CHUNK_BYTES = 700  # the child takes this much per read, then lets others run
SMALL_FRAME_BYTES = (1, 300)  # with its 104-byte head, about 50 of these fill both buffers
LARGE_FRAME_BYTES = (20_000, 250_000)
EDGE_SIZES = [1, 2, 39, 40, 41, 103, 104, 105, 4095, 4096, 4097]
BURSTS = 12
# About 4 MB through a few KiB of buffer: well under a second on an idle machine.
DELIVERY_DEADLINE_S = 30.0


def bursts_of_frames(seed: int) -> list[list[p.VideoFrame]]:
    """Signed frames (a 104-byte head) in bursts: edge sizes, runs of small ones, mixes."""
    rng = random.Random(seed)
    sizes = [EDGE_SIZES]
    for index in range(BURSTS):
        if index % 2 == 0:
            sizes.append([rng.randint(*SMALL_FRAME_BYTES) for _ in range(80)])
        else:
            sizes.append(
                [
                    rng.randint(*rng.choice([SMALL_FRAME_BYTES, LARGE_FRAME_BYTES]))
                    for _ in range(30)
                ]
            )
    seqs = iter(range(1, 10_000))
    return [[frame(next(seqs), size, rng) for size in burst] for burst in sizes]


def frame(seq: int, size: int, rng: random.Random) -> p.VideoFrame:
    header = p.FrameHeader(
        epoch=7, seq=seq, capture_ns=time.time_ns(), width=640, height=360, hops=seq % 3
    )
    return p.VideoFrame(
        header=header, data=rng.randbytes(size), signature=rng.randbytes(SIGNATURE_BYTES)
    )


def same_frame_one_hop_further(got: p.VideoFrame, sent: p.VideoFrame) -> bool:
    """Whether `got` is `sent` relayed once: the same bytes but the hops and path latency."""
    return (
        where_in_the_stream(got.header) == where_in_the_stream(sent.header)
        and got.header.hops == sent.header.hops + 1
        and bytes(got.data) == bytes(sent.data)
        and got.signature == sent.signature
    )


def where_in_the_stream(header: p.FrameHeader) -> tuple[int, ...]:
    return (header.epoch, header.seq, header.capture_ns, header.width, header.height)


def shrink_send_buffer(sock: trio.socket.SocketType) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def small_receive_socket() -> trio.socket.SocketType:
    """A TCP socket with a small receive buffer (set before connecting, as it must be)."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    return sock


class SlowChild:
    """Reads its link a little at a time and keeps every frame it decodes."""

    def __init__(self, stream: trio.SocketStream, decoder: p.MessageDecoder) -> None:
        self.stream = stream
        self.decoder = decoder
        self.frames: list[p.VideoFrame] = []
        self.pongs: list[p.Pong] = []

    async def read_until_closed(self) -> None:
        """Read until the other side closes (or the test ends)."""
        while data := await self.stream.receive_some(READ_CHUNK_BYTES):
            self.decoder.receive_data(data)
            for message in self.decoder:
                if isinstance(message, p.Pong):
                    self.pongs.append(message)
                else:
                    assert isinstance(message, p.VideoFrame), f"not a frame: {message!r}"
                    self.frames.append(message)

    @property
    def holds_part_of_a_message(self) -> bool:
        """Bytes received that do not (yet) make a whole message."""
        return self.decoder.buffered_bytes > 0


async def test_send_frame_delivers_every_frame_whole_through_a_tiny_buffer(
    nursery: trio.Nursery,
) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    receiving = small_receive_socket()
    await receiving.connect(("127.0.0.1", port))
    sending = await listeners[0].accept()
    shrink_send_buffer(sending.socket)
    child = SlowChild(trio.SocketStream(receiving), p.MessageDecoder())
    nursery.start_soon(child.read_until_closed)

    frames = [f for burst in bursts_of_frames(seed=1) for f in burst]
    for sent in frames:
        head, jpeg = p.relay_parts(sent, hops=sent.header.hops + 1, path_latency_us=0)
        await send_frame(sending, head, jpeg)
    await eventually(
        lambda: len(child.frames) == len(frames),
        within_s=DELIVERY_DEADLINE_S,
        what="the child decoding every frame sent",
    )
    for index, (got, sent) in enumerate(zip(child.frames, frames, strict=True)):
        assert same_frame_one_hop_further(got, sent), f"frame {index + 1} arrived changed"
    assert not child.holds_part_of_a_message, "bytes after the last frame"
    await sending.aclose()
    await listeners[0].aclose()


async def test_a_relay_forwards_whole_frames_in_order_to_a_child_behind_a_tiny_buffer(
    nursery: trio.Nursery,
) -> None:
    key = new_admission_key()
    hub = ChildrenHub(
        gate=AdmissionGate(name="relay", capacity=1), depth=lambda: 1, epoch=lambda: 7
    )
    hub.add_admission_key(key)
    address = await nursery.start(hub.serve, "127.0.0.1", 0)

    receiving = small_receive_socket()
    await receiving.connect(address)
    link = trio.SocketStream(receiving)
    token = mint_token(key, parent="relay", child="kid", now_s=time.time())
    await link.send_all(
        p.encode(p.Join(protocol_version=p.PROTOCOL_VERSION, name="kid", token=token))
    )
    decoder = p.MessageDecoder()
    with trio.fail_after(10):
        accepted = await receive_message(link, decoder)
    assert isinstance(accepted, p.Accept), accepted
    await eventually(lambda: "kid" in hub.links, within_s=10, what="the child admitted")
    relay_end = hub.links["kid"].stream
    assert isinstance(relay_end, trio.SocketStream), "a real socket: the fast path"
    shrink_send_buffer(relay_end.socket)
    child = SlowChild(link, decoder)
    nursery.start_soon(child.read_until_closed)

    # Forwarded as a relay forwards, from its receiving task: written at once while the
    # link is idle (what the socket does not take waits at the front of the child's
    # queue), queued while it is busy, and the oldest queued frame dropped when full.
    # Each burst comes back to back; before each, the child has caught up, and pings (its
    # pongs go ahead of queued frames, never into the middle of one).
    bursts = bursts_of_frames(seed=2)
    by_seq = {f.header.seq: f for burst in bursts for f in burst}
    forwarded = 0

    def accounted_for(count: int) -> Callable[[], bool]:
        """Whether the child got, or the relay dropped, each of the first `count` frames."""
        return lambda: len(child.frames) + hub.frames_dropped == count

    for burst in bursts:
        await eventually(
            accounted_for(forwarded),
            within_s=DELIVERY_DEADLINE_S,
            what=f"the child catching up after {forwarded} frames",
        )
        await link.send_all(p.encode(p.Ping(nonce=forwarded, sent_ns=time.time_ns())))
        for sent in burst:
            hub.forward(sent, arrival_ns=time.time_ns(), path_latency_us=0)
        forwarded += len(burst)
    await eventually(
        accounted_for(len(by_seq)),
        within_s=DELIVERY_DEADLINE_S,
        what="every frame delivered or counted as dropped",
    )

    seqs = [got.header.seq for got in child.frames]
    assert seqs == sorted(set(seqs)), "frames arrived out of order or twice"
    for got in child.frames:
        assert same_frame_one_hop_further(got, by_seq[got.header.seq]), got.header.seq
    assert seqs[-1] == max(by_seq), "the newest frame is never the one dropped"
    await eventually(
        lambda: len(child.pongs) == len(bursts), within_s=10, what="a pong for every ping"
    )
    assert not child.holds_part_of_a_message, "bytes after the last message"
    print(f"\n{len(seqs)} of {len(by_seq)} frames whole, {hub.frames_dropped} dropped (oldest)")
