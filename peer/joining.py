"""The way in to a peer's listening port: who may become a child, and who else calls.

Every connection to the port opens with one message, read within JOIN_TIMEOUT_S:
- `Join`: a child the tracker sent, with a token the gate checks (peer/gate.py);
  admitted, it gets `Accept` and becomes the children hub's (peer/children.py).
- `Probe`: the tracker checking that it can reach us; answered with a proof, closed.
- `Reverse`: a parent that cannot be dialled has dialled us instead (connection
  reversal); its token is checked and the connection handed to our parent link.
A connection we opened ourselves to a child (reversal the other way) accepts only a
`Join`. Connections still joining cost a task each and are what a flood makes: they are
capped per address and in all (children are capped by the gate).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

import attrs
import trio

import protocol as p
from peer import events as ev
from peer.gate import AdmissionGate
from peer.wire import receive_message
from protocol.admission import probe_proof
from protocol.limits import MAX_PROBE_PROOFS

JOIN_TIMEOUT_S = 3.0
# A child may present a token minted with a key our own Welcome has not brought yet (the
# tracker assigns the child as it welcomes us): wait this long for a new key, then refuse.
NEW_KEY_WAIT_S = 2.0
# A child told to join while our slots are full waits this long for one to free up.
SLOT_WAIT_S = 1.0
MAX_JOINING = 64
MAX_JOINING_PER_ADDRESS = 8
FROM_CHILD = (
    p.Join,
    p.Probe,
    p.Reverse,
    p.Ping,
    p.Pong,
    p.KeyframeRequest,
    p.UplinkProbe,
    p.Goodbye,
)

Admitted = tuple[p.Join, p.MessageDecoder]
# Takes a connection a parent opened to us (peer/reversal.py); False if nobody wanted it.
TakeReversed = Callable[[str, trio.abc.Stream], Awaitable[bool]]


async def _no_taker(parent: str, stream: trio.abc.Stream) -> bool:
    return False


@attrs.define(eq=False)
class Doorway:
    """Reads the first message of every connection to our port and acts on it."""

    gate: AdmissionGate
    children_now: Callable[[], int]
    accept: Callable[[], p.Accept]  # what an admitted child is told
    on_event: Callable[[ev.PeerEvent], None] = lambda event: None
    take_reversed: TakeReversed = _no_taker
    _key_added: trio.Event = attrs.field(factory=trio.Event)
    _child_left: trio.Event = attrs.field(factory=trio.Event)
    _joining: int = 0
    _joining_by_address: dict[str, int] = attrs.field(factory=dict)

    @property
    def joining(self) -> int:
        """Connections that have not finished joining yet."""
        return self._joining

    def add_admission_key(self, key: str) -> None:
        """Trust tokens minted with `key` (from the tracker's Welcome)."""
        self.gate.add_key(key)
        self._key_added.set()
        self._key_added = trio.Event()

    def child_left(self) -> None:
        """A slot freed up: wake joins waiting for one."""
        self._child_left.set()
        self._child_left = trio.Event()

    async def enter(self, stream: trio.abc.Stream, address: str) -> Admitted | None:
        """Serve the opening of a connection from `address`: (Join, decoder) if it is an
        admitted child, else None (it was answered, handed over or closed)."""
        if (
            self._joining >= MAX_JOINING
            or self._joining_by_address.get(address, 0) >= MAX_JOINING_PER_ADDRESS
        ):
            with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError):
                busy = p.Reject(
                    code=p.RejectCode.BUSY, message=f"too many joins from {address}; retry"
                )
                await stream.send_all(p.encode(busy))
            await trio.aclose_forcefully(stream)
            return None
        self._count_joining(address, +1)
        try:
            return await self._open(stream, dialled=False)
        finally:
            self._count_joining(address, -1)

    async def enter_dialled(self, stream: trio.abc.Stream) -> Admitted | None:
        """The opening of a connection we made to a child (connection reversal), after
        our `Reverse`: its Join, admitted like any other, or None."""
        return await self._open(stream, dialled=True)

    def _count_joining(self, address: str, change: int) -> None:
        self._joining += change
        count = self._joining_by_address.get(address, 0) + change
        if count > 0:
            self._joining_by_address[address] = count
        else:
            self._joining_by_address.pop(address, None)

    async def _open(self, stream: trio.abc.Stream, *, dialled: bool) -> Admitted | None:
        decoder = p.MessageDecoder(accept=FROM_CHILD, max_frame_payload_bytes=0)
        try:
            with trio.fail_after(JOIN_TIMEOUT_S):
                first = await receive_message(stream, decoder)
            if isinstance(first, p.Join):
                if await self._admit(stream, first):
                    return first, decoder
            elif isinstance(first, p.Probe) and not dialled:
                await self._answer_probe(stream, first)
            elif isinstance(first, p.Reverse) and not dialled:
                await self._reversed(stream, first)
        except (trio.TooSlowError, trio.BrokenResourceError, p.ProtocolError):
            pass
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        await trio.aclose_forcefully(stream)  # a link handed over has its own descriptor
        return None

    async def _admit(self, stream: trio.abc.Stream, join: p.Join) -> bool:
        """Accept `join` (True) or send it the reason we refuse it (False)."""
        refusal = self.gate.admit(join, children_now=self.children_now(), now_s=time.time())
        if refusal is not None and refusal.code is p.RejectCode.BAD_TOKEN:
            with trio.move_on_after(NEW_KEY_WAIT_S):
                await self._key_added.wait()
                refusal = self.gate.admit(join, children_now=self.children_now(), now_s=time.time())
        if refusal is not None and refusal.code is p.RejectCode.FULL:
            # The tracker frees a slot by moving a child away (or declaring it gone) as
            # it sends the newcomer here: the two may cross.
            with trio.move_on_after(SLOT_WAIT_S):
                await self._child_left.wait()
                refusal = self.gate.admit(join, children_now=self.children_now(), now_s=time.time())
        answer = refusal or self.accept()
        with trio.fail_after(JOIN_TIMEOUT_S):
            await stream.send_all(p.encode(answer))
        if refusal is not None:
            self.on_event(
                ev.ChildRefused(child=join.name, code=refusal.code, message=refusal.message)
            )
        return refusal is None

    async def _answer_probe(self, stream: trio.abc.Stream, probe: p.Probe) -> None:
        """The tracker checks that it can reach us: prove we are us."""
        if not self.gate.keys:  # its Welcome and the probe may cross
            with trio.move_on_after(NEW_KEY_WAIT_S):
                await self._key_added.wait()
        proofs = [
            probe_proof(key, name=self.gate.name, nonce=probe.nonce) for key in self.gate.keys
        ]
        with trio.fail_after(JOIN_TIMEOUT_S):
            await stream.send_all(p.encode(p.ProbeReply(proofs=proofs[:MAX_PROBE_PROOFS])))

    async def _reversed(self, stream: trio.abc.Stream, reverse: p.Reverse) -> None:
        """A parent dialled us: check it came from the tracker, then hand the connection
        to our parent link."""
        refusal = self.gate.admits_parent(reverse, now_s=time.time())
        if refusal is None:
            await self.take_reversed(reverse.parent, stream)
            return
        with trio.fail_after(JOIN_TIMEOUT_S):
            await stream.send_all(p.encode(refusal))
        self.on_event(
            ev.ParentRefused(parent=reverse.parent, code=refusal.code, message=refusal.message)
        )
