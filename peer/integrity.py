"""Which received frames to trust: the source's signature, checked per stream epoch.

Pure bookkeeping around protocol/signing.py. The tracker gives the stream's public key
with every Assign; a frame of an epoch whose key we know must carry a valid signature
or it is rejected (never shown, recorded, served or relayed). A stream whose source
gave no key is unsigned and its frames pass.

An epoch we have no word on yet is either the same source re-registered after a tracker
restart (new epoch, same key: peers whose parent link survived get no new Assign), or a
new stream whose Assign is still on its way. So such a frame passes if the newest key
we know verifies it (the signature covers the epoch, so nobody else can make one), and
is otherwise held back without blame.
"""

from __future__ import annotations

import enum

from protocol.frames import VideoFrame
from protocol.signing import FrameVerifier

KEPT_EPOCHS = 4
# Bad frames from one parent before we leave it and report it to the tracker.
STRIKES_TO_LEAVE = 3


class Verdict(enum.Enum):
    """What to do with a received frame."""

    GOOD = "good"  # signed by the source (or the stream is unsigned)
    BAD = "bad"  # fails verification: count it and blame the parent
    UNKNOWN = "unknown"  # no key for its epoch yet: drop it quietly


class FrameIntegrity:
    """Stream keys by epoch, and the count of frames that failed."""

    def __init__(self) -> None:
        self._keys: dict[int, FrameVerifier | None] = {}
        self._newest: FrameVerifier | None = None
        self.rejected = 0
        self.strikes = 0  # bad frames from the current parent

    def set_key(self, epoch: int, public_key_hex: str | None) -> None:
        """The tracker's word on an epoch: its key, or None for an unsigned stream."""
        if epoch in self._keys and public_key_hex is None:
            return  # an Assign without a key never downgrades a signed stream
        verifier = FrameVerifier(public_key_hex) if public_key_hex else None
        self._keys[epoch] = verifier
        if verifier is not None and epoch >= max(self._keys):
            self._newest = verifier
        while len(self._keys) > KEPT_EPOCHS:
            del self._keys[min(self._keys)]

    def check(self, frame: VideoFrame) -> Verdict:
        """Judge one frame; BAD ones are counted."""
        epoch = frame.header.epoch
        if epoch not in self._keys:
            newest = self._newest
            if newest is None or not newest.verify(frame):
                return Verdict.UNKNOWN
            self._keys[epoch] = newest  # the same source under a new epoch
            return Verdict.GOOD
        verifier = self._keys[epoch]
        if verifier is None or verifier.verify(frame):
            return Verdict.GOOD
        self.rejected += 1
        self.strikes += 1
        return Verdict.BAD

    def parent_changed(self) -> None:
        """A new parent starts with a clean record."""
        self.strikes = 0

    @property
    def parent_is_tampering(self) -> bool:
        """Enough bad frames from the current parent to leave it."""
        return self.strikes >= STRIKES_TO_LEAVE
