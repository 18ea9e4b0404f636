"""Who may join this peer as a child: the admission decision, pure.

A child presents a token the tracker minted with this peer's admission key. The gate
checks it (name, expiry, MAC), refuses a nonce seen before, and refuses a child when
every slot is taken. Keys from earlier tracker sessions stay valid until their tokens
expire, so a tracker restart does not invalidate backups handed out before it.

The same keys and nonce memory check a parent that connects to us instead
(connection reversal, `admits_parent`).
"""

from __future__ import annotations

import attrs

import protocol as p
from protocol.admission import check_reverse_token, check_token, token_expiry_s
from protocol.names import name_key

MAX_REMEMBERED_KEYS = 4
MAX_REMEMBERED_NONCES = 10_000


@attrs.define
class AdmissionGate:
    """Checks Join requests against tokens and capacity."""

    name: str
    capacity: int
    keys: list[str] = attrs.field(factory=list)
    _nonces: dict[str, int] = attrs.field(factory=dict)

    def add_key(self, key: str) -> None:
        """Trust tokens minted with `key` (the newest Welcome's admission key)."""
        if key in self.keys:
            return
        self.keys.insert(0, key)
        del self.keys[MAX_REMEMBERED_KEYS:]

    def admit(self, join: p.Join, *, children_now: int, now_s: float) -> p.Reject | None:
        """None if `join` may become a child now, else the Reject to send."""
        if join.protocol_version != p.PROTOCOL_VERSION:
            return p.Reject(
                code=p.RejectCode.UNSUPPORTED_VERSION,
                message=f"this peer speaks protocol version {p.PROTOCOL_VERSION}",
            )
        if name_key(join.name) == name_key(self.name):
            return p.Reject(
                code=p.RejectCode.SELF,
                message=f"this is {self.name} itself: the address dialled is our own",
            )
        if self.capacity <= 0:
            return p.Reject(code=p.RejectCode.NO_CHILDREN, message=f"{self.name} takes no children")
        if children_now >= self.capacity:
            return p.Reject(code=p.RejectCode.FULL, message=f"{self.name} has no free child slot")
        return self._check(join.token, parent=self.name, child=join.name, now_s=now_s)

    def admits_parent(self, reverse: p.Reverse, *, now_s: float) -> p.Reject | None:
        """None if `reverse.parent` may open a link to us now, else the Reject to send."""
        if name_key(reverse.parent) == name_key(self.name):
            return p.Reject(
                code=p.RejectCode.SELF,
                message=f"this is {self.name} itself: the address dialled is our own",
            )
        return self._check(reverse.token, parent=reverse.parent, child=self.name, now_s=now_s)

    def _check(self, token: str, *, parent: str, child: str, now_s: float) -> p.Reject | None:
        """Check a token (a child's Join, or a parent's Reverse) and use its nonce up."""
        check = check_token if name_key(parent) == name_key(self.name) else check_reverse_token
        self._forget_expired(now_s)
        for key in self.keys:
            ok, nonce = check(key, token, parent=parent, child=child, now_s=now_s)
            if ok:
                if nonce in self._nonces:
                    return p.Reject(
                        code=p.RejectCode.TOKEN_USED, message="admission token already used"
                    )
                if len(self._nonces) < MAX_REMEMBERED_NONCES:
                    self._nonces[nonce] = token_expiry_s(token) or 0
                return None
        return p.Reject(
            code=p.RejectCode.BAD_TOKEN, message="no valid admission token from the tracker"
        )

    def _forget_expired(self, now_s: float) -> None:
        if len(self._nonces) > MAX_REMEMBERED_NONCES // 2:
            self._nonces = {n: t for n, t in self._nonces.items() if t >= now_s}
