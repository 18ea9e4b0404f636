"""Whether each peer can be dialled: the tracker checks for itself before it trusts it.

A peer says which port it listens on; whether anyone can reach it there is another
matter (behind a home router, nobody can). So before a peer gets child slots, the
tracker dials it the way a child would and runs a short probe (tracker/probe.py): a
fresh nonce the peer must answer with a proof keyed by its admission key
(protocol/admission.py). It only ever dials the address the peer's own connection
came from, with the port the peer named, so a peer cannot make the tracker dial
anybody else.

Pure, like the Room: `due` says when a probe should start (the peer's first
heartbeat, so the admission key it proves with has reached it; an ask; a port its
router newly maps; a child that could not connect; once a minute while unreachable),
and `finished` records the answer. A peer whose router maps a port for it (UPnP) is
dialled on that port: the tracker still only dials the address the connection came
from. The trio side carries the `Probe` actions out and reports back.
"""

from __future__ import annotations

import math

import attrs

from protocol.addresses import format_address
from protocol.admission import new_probe_nonce, probe_proof_matches
from tracker.members import Member

PROBE_TIMEOUT_S = 3.0  # dial, send the nonce, read the proof: all within this
RECHECK_MIN_INTERVAL_S = 5.0  # asks (the peer's, its children's) at most this often
RECHECK_UNREACHABLE_S = 60.0  # an unreachable peer is dialled again this often anyway
NOT_LISTENING = "it listens on no port"
WRONG_PROOF = "another program answered there (no valid proof)"


@attrs.frozen
class Probe:
    """An action: dial host:port and check that the member `to` answers as `name`."""

    to: str
    host: str
    port: int
    name: str
    nonce: str


@attrs.frozen
class ProbeAnswer:
    """What a probe brought back: the peer's proofs, or why there are none."""

    proofs: list[str] = attrs.field(factory=list)
    failure: str | None = None


@attrs.define
class PeerCheck:
    """What the tracker knows about one member's reachability."""

    host: str
    port: int
    dialable: bool = True  # False: no address to dial (not a socket), taken at its word
    reachable: bool | None = None  # None: not checked yet
    probing: str | None = None  # the nonce of the probe in flight
    checked_s: float = -math.inf  # when the last probe started
    detail: str = ""  # why the last probe failed

    @property
    def address(self) -> str:
        """Where the tracker dials, as people read it."""
        return format_address(self.host, self.port)


@attrs.define
class Reachability:
    """Every member's check, and when to run the next one (off: everyone is trusted)."""

    enabled: bool = False
    checks: dict[str, PeerCheck] = attrs.field(factory=dict)

    def joined(self, key: str, host: str, port: int, *, seen: bool = True) -> None:
        """A member registered from `host`, listening on `port` (0: nowhere).

        `seen` False: its connection is not a socket (a memory stream in a test), so
        there is no address to dial, and it is taken at its word.
        """
        check = PeerCheck(host=host, port=port, dialable=seen and port != 0)
        if self.enabled and port == 0:
            check.reachable, check.detail = False, NOT_LISTENING
        elif not seen:
            check.reachable = True
        self.checks[key] = check

    def moved(self, key: str, port: int) -> None:
        """The member now listens (as seen from outside) on `port`: check it afresh,
        ignoring the answer of a probe still in flight to the old one."""
        check = self.checks.get(key)
        if check is None or port == check.port:
            return
        check.port = port
        check.probing = None
        if check.dialable:
            check.reachable, check.detail = None, ""
            check.checked_s = -math.inf

    def left(self, key: str) -> None:
        """A member is gone: forget its check (an answer still in flight is ignored)."""
        self.checks.pop(key, None)

    def allows_children(self, key: str) -> bool:
        """Whether children may be sent to `key`: checking is off, or a probe succeeded."""
        if not self.enabled:
            return True
        check = self.checks.get(key)
        return check is not None and check.reachable is True

    def reachable(self, key: str) -> bool | None:
        """What the last probe found (None: not checked, or checking is off)."""
        check = self.checks.get(key)
        return check.reachable if self.enabled and check is not None else None

    def due(self, key: str, name: str, now_s: float, *, asked: bool = False) -> Probe | None:
        """The probe to start for `key` now, if one is due.

        A first check at once; after that, on an ask (`asked`: the peer's own, or a
        child that could not connect) at most every RECHECK_MIN_INTERVAL_S, and every
        RECHECK_UNREACHABLE_S while unreachable. Never two at a time.
        """
        check = self.checks.get(key)
        if check is None or check.probing is not None or not check.dialable:
            return None
        if not self.enabled or (check.reachable and not asked):
            return None
        since = now_s - check.checked_s
        if check.reachable is None:
            wanted = True
        elif asked:
            wanted = since >= RECHECK_MIN_INTERVAL_S
        else:
            wanted = check.reachable is False and since >= RECHECK_UNREACHABLE_S
        if not wanted:
            return None
        check.probing = new_probe_nonce()
        check.checked_s = now_s
        return Probe(to=key, host=check.host, port=check.port, name=name, nonce=check.probing)

    def finished(
        self, key: str, nonce: str, answer: ProbeAnswer, member: Member | None
    ) -> PeerCheck | None:
        """Record a probe's answer, checking its proof against `member`'s admission key.

        The updated check, or None if the member is gone or this probe is not the one
        in flight.
        """
        check = self.checks.get(key)
        if member is None or check is None or check.probing != nonce:
            return None
        failure = answer.failure
        if failure is None and not probe_proof_matches(
            member.admission_key, answer.proofs, name=member.name, nonce=nonce
        ):
            failure = WRONG_PROOF
        check.probing = None
        check.reachable = failure is None
        check.detail = failure or ""
        return check

    def skipped(self, key: str, nonce: str) -> None:
        """The probe with `nonce` never started: the next heartbeat may start another."""
        check = self.checks.get(key)
        if check is not None and check.probing == nonce:
            check.probing = None
            check.checked_s = -math.inf
