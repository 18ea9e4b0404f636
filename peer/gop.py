"""The group of pictures: what a relay keeps for a new child, what a viewer may decode,
and how often anyone asks for a keyframe. Pure objects: frames and times in, answers out.

An H.264 access unit decodes only after every unit since the last keyframe did. So:

- `GopCache`: every relay (and the source) holds the frames since the last keyframe,
  and a child that joins or switches to it gets them first and shows a picture at once.
  For JPEG (every frame a keyframe) that is the newest frame alone.
- `DecodeGate`: a viewer feeds its decoder a unit only if it follows the last one fed;
  after a gap it feeds nothing until the next keyframe (and counts what it skipped), so
  a loss shows as the last good picture held, never as a broken one.
- `KeyframeLimiter`: keyframe requests, merged and rate-limited on the way up the tree.
"""

from __future__ import annotations

import math

import attrs

import protocol as p

# A relay's cache of one GOP: 2 s at 8 Mb/s is 2 MB. Past this (a huge GOP), the cache
# is emptied and new children wait for the next keyframe.
MAX_GOP_CACHE_BYTES = 8 * 1024 * 1024
# A viewer waiting for a keyframe asks at most this often; a relay passes requests up
# and the source honours them at most this often.
KEYFRAME_REQUEST_INTERVAL_S = 1.0


def _follows(last: p.FrameHeader, header: p.FrameHeader) -> bool:
    return header.epoch == last.epoch and header.seq == last.seq + 1


@attrs.define
class GopCache:
    """The frames since the newest keyframe, in order, bounded by `max_bytes`."""

    max_bytes: int = MAX_GOP_CACHE_BYTES
    frames: list[p.VideoFrame] = attrs.field(factory=list)
    nbytes: int = 0
    # Frames held whose signature nobody checked yet (a relay with no child and no
    # display checks nothing); they are checked before they go to a child.
    unchecked: int = 0

    def add(self, frame: p.VideoFrame, *, checked: bool = True) -> None:
        """A frame this peer sent or received, in order."""
        header = frame.header
        size = frame.payload_bytes()
        if header.keyframe:  # the list is reused: this runs for every JPEG frame
            frames = self.frames
            frames.clear()
            frames.append(frame)
            self.nbytes, self.unchecked = size, 0
        elif self.frames and _follows(self.frames[-1].header, header):
            if self.nbytes + size > self.max_bytes:
                self.clear()  # too big to replay: wait for a keyframe
                return
            self.frames.append(frame)
            self.nbytes += size
        else:  # a gap, or nothing since a keyframe: what follows does not decode alone
            self.clear()
            return
        if not checked:
            self.unchecked += 1

    def clear(self) -> None:
        """Hold nothing until the next keyframe."""
        self.frames.clear()
        self.nbytes = self.unchecked = 0

    def after(self, epoch: int, seq: int) -> list[p.VideoFrame]:
        """What a child that has (epoch, seq) needs: the frames after it if we hold it,
        else all we hold (from the keyframe). seq 0: the child has nothing."""
        frames = self.frames
        if not frames:
            return []
        first, last = frames[0].header, frames[-1].header
        if seq and epoch == first.epoch and first.seq <= seq:
            return frames[seq - first.seq + 1 :] if seq < last.seq else []
        return list(frames)


@attrs.define
class DecodeGate:
    """Which frames may go to the decoder, so that a loss never shows as a broken picture."""

    undecodable: int = 0  # frames skipped because one before them was missing
    _last: p.FrameHeader | None = None
    waiting: bool = False  # holding frames back until a keyframe

    def admit(self, header: p.FrameHeader) -> bool:
        """Whether to decode this frame: a keyframe, or the one right after the last fed.

        A frame at or before the last one fed is a repeat (a new parent resending what it
        holds) and is skipped without being counted. A frame that resumes right after the
        last one fed is decodable again even after a gap: the decoder is exactly there.
        """
        last = self._last
        if last is not None and header.epoch == last.epoch and header.seq <= last.seq:
            return False
        if header.keyframe or (last is not None and _follows(last, header)):
            self._last = header
            self.waiting = False
            return True
        self.undecodable += 1
        self.waiting = True
        return False

    def failed(self) -> None:
        """The decoder rejected the frame last admitted: wait for the next keyframe."""
        self.undecodable += 1
        self._last = None
        self.waiting = True


@attrs.define
class KeyframeLimiter:
    """Lets a keyframe request through at most once per `interval_s`; the rest merge into it."""

    interval_s: float = KEYFRAME_REQUEST_INTERVAL_S
    merged: int = 0  # requests absorbed by one already let through
    _last_s: float = -math.inf

    def allow(self, now_s: float) -> bool:
        """Whether a request arriving now goes on (up the tree, or to the encoder)."""
        if now_s - self._last_s < self.interval_s:
            self.merged += 1
            return False
        self._last_s = now_s
        return True
