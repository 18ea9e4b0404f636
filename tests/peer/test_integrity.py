"""A relay that tampers with frames: its child shows none of them, leaves it, reports it."""

from __future__ import annotations

import attrs
import trio

import protocol as p
from peer.children import ChildrenHub
from peer.integrity import FrameIntegrity, Verdict
from peer.node import Peer
from protocol.signing import FrameSigner, FrameVerifier
from tests.peer.conftest import PeerStarter, VideoMaker
from tests.polling import eventually
from tracker.service import Tracker


class TamperingHub(ChildrenHub):
    """A relay's hub that flips one JPEG byte of every frame it forwards."""

    __slots__ = ()

    def forward(self, frame: p.VideoFrame, arrival_ns: int, path_latency_us: int) -> None:
        """Forward a corrupted copy."""
        jpeg = bytearray(frame.data)
        jpeg[len(jpeg) // 2] ^= 0xFF
        super().forward(attrs.evolve(frame, data=bytes(jpeg)), arrival_ns, path_latency_us)


def tamper_when_forwarding(relay: Peer) -> None:
    """Turn `relay` malicious."""
    relay.hub.__class__ = TamperingHub


async def behind_a_tampering_relay(
    make_video: VideoMaker, start_peer: PeerStarter, name: str, **viewer: object
) -> tuple[FrameVerifier, Peer, Peer]:
    """A source (one slot), a tampering relay under it, and viewer `name` under that:
    (a check with the source's key, the relay, the viewer)."""
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    source = await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    relay = await start_peer("viewer", "relay", max_children=1)
    tamper_when_forwarding(relay)
    victim = await start_peer("viewer", name, **viewer)
    assert source.signer is not None
    return FrameVerifier(source.signer.public_key_hex), relay, victim


async def test_a_child_rejects_tampered_frames_leaves_the_relay_and_reports_it(
    make_video: VideoMaker, start_peer: PeerStarter, tracker: Tracker
) -> None:
    verifier, relay, victim = await behind_a_tampering_relay(
        make_video, start_peer, "victim", max_children=1
    )
    used: list[bool] = []
    victim.frame_sinks.append(lambda frame: used.append(verifier.verify(frame)))
    await eventually(lambda: relay.counters.loss.frames_received > 30, within_s=10, what="feed")
    await eventually(lambda: victim.integrity.rejected >= 3, within_s=10, what="rejections")
    await eventually(lambda: "relay" in tracker.room.tamper_reports, within_s=10, what="the report")
    assert all(used)  # nothing that failed the check was ever shown, recorded or served
    assert victim.stats()["frames_rejected"] == victim.integrity.rejected >= 3
    assert tracker.room.tree["victim"].parent != "relay"
    assert relay.integrity.rejected == 0  # the relay itself received good frames


async def test_a_leaf_that_uses_no_frame_checks_none_until_something_needs_them(
    make_video: VideoMaker, start_peer: PeerStarter, tracker: Tracker
) -> None:
    verifier, _, leaf = await behind_a_tampering_relay(
        make_video, start_peer, "leaf", max_children=0, decode=False
    )
    await eventually(lambda: leaf.counters.loss.frames_received > 30, within_s=10, what="feed")
    # Shown, recorded, served and relayed nowhere, so not checked (only counted).
    assert leaf.integrity.rejected == 0
    assert tracker.room.tree["leaf"].parent == "relay"
    # A sink (a recorder, say) appears: from the next frame on, every one is checked first.
    used: list[bool] = []
    leaf.frame_sinks.append(lambda frame: used.append(verifier.verify(frame)))
    await eventually(lambda: leaf.integrity.rejected >= 3, within_s=10, what="rejections")
    await eventually(lambda: "relay" in tracker.room.tamper_reports, within_s=10, what="the report")
    assert all(used)


async def test_every_frame_through_honest_relays_verifies(
    make_video: VideoMaker, start_peer: PeerStarter
) -> None:
    video = make_video("avi", width=320, height=240, fps=30, frames=60)
    source = await start_peer("source", "cam", source=str(video), loop=True, max_children=1)
    await start_peer("viewer", "a", max_children=1)
    leaf = await start_peer("viewer", "b", max_children=1)
    assert source.signer is not None
    verifier = FrameVerifier(source.signer.public_key_hex)
    results: list[bool] = []
    leaf.frame_sinks.append(lambda frame: results.append(verifier.verify(frame)))
    await eventually(lambda: len(results) >= 30, within_s=10, what="30 frames at depth 2")
    assert all(results) and leaf.integrity.rejected == 0
    assert leaf.counters.depth == 2
    await trio.lowlevel.checkpoint()


def test_a_new_epoch_of_the_same_source_is_trusted_a_new_source_is_held() -> None:
    source = FrameSigner()
    integrity = FrameIntegrity()
    integrity.set_key(1, source.public_key_hex)

    def frame(signer: FrameSigner, epoch: int) -> p.VideoFrame:
        header = p.FrameHeader(epoch=epoch, seq=1, capture_ns=1, width=2, height=2)
        return p.VideoFrame(header=header, data=b"x", signature=signer.sign(header, b"x"))

    assert integrity.check(frame(source, 1)) is Verdict.GOOD
    # After a tracker restart the source re-registers: same key, new epoch, no new Assign.
    assert integrity.check(frame(source, 2)) is Verdict.GOOD
    # A new source's first frames before its Assign arrives: held back, nobody blamed.
    assert integrity.check(frame(FrameSigner(), 3)) is Verdict.UNKNOWN
    assert integrity.rejected == 0
    # A bad signature for a known epoch is what counts against the parent.
    forged = attrs.evolve(frame(source, 2), data=b"y")
    assert integrity.check(forged) is Verdict.BAD and integrity.rejected == 1
