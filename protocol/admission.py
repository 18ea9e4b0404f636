"""Admission tokens: the tracker's permission for one child to join one parent.

The tracker gives every peer a secret `admission_key` in its Welcome. When it places a
child under that peer (or names the peer as the child's backup), it mints a token
with the same key; the parent checks it without asking the tracker, so a child can
connect at once (a backup switch needs no round trip). A token names the child and
the parent, expires, and carries a nonce the parent remembers until expiry, so it
works once. Pure functions: the caller passes the time and remembers nonces.

    token = "<expires_unix_s>.<nonce hex>.<hmac-sha256 hex>"

Connection reversal turns it round: a parent that cannot be dialled connects to its
child, with a token minted with the *child's* key (`mint_reverse_token`), which the
child checks the same way.

The same key proves a peer's identity to the tracker's reachability probe: the peer
answers a probe's nonce with `probe_proof`, which only the holder of the key it was
given can compute, so a probe that reached some other program fails.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from protocol.limits import MAX_TOKEN_CHARS

ADMISSION_KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_LIFETIME_S = 600
_REVERSE = "reverse\n"  # the MAC purpose of a connection-reversal token


def new_admission_key() -> str:
    """A fresh random key, hex-encoded as it travels in Welcome."""
    return secrets.token_hex(ADMISSION_KEY_BYTES)


def _mac(key: str, parent: str, child: str, expires_s: int, nonce: str, purpose: str) -> str:
    text = f"{purpose}{parent.casefold()}\n{child.casefold()}\n{expires_s}\n{nonce}"
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def mint_token(key: str, *, parent: str, child: str, now_s: float, purpose: str = "") -> str:
    """A token letting `child` join `parent` once, valid for TOKEN_LIFETIME_S."""
    expires_s = int(now_s) + TOKEN_LIFETIME_S
    nonce = secrets.token_hex(NONCE_BYTES)
    return f"{expires_s}.{nonce}.{_mac(key, parent, child, expires_s, nonce, purpose)}"


def mint_reverse_token(child_key: str, *, parent: str, child: str, now_s: float) -> str:
    """A token letting `parent` open a link to `child` (connection reversal), minted with
    the child's key. Its MAC covers a purpose of its own, so it never passes as a Join
    token, nor a Join token as one of these."""
    return mint_token(child_key, parent=parent, child=child, now_s=now_s, purpose=_REVERSE)


def token_expiry_s(token: str) -> int | None:
    """When a well-formed token expires (Unix seconds), or None if it is malformed."""
    head, _, _ = token.partition(".")
    return int(head) if head.isdigit() and len(head) <= 12 else None


def check_token(
    key: str, token: str, *, parent: str, child: str, now_s: float, purpose: str = ""
) -> tuple[bool, str]:
    """(valid, nonce): whether `token` admits `child` to `parent` now.

    The caller must also refuse a nonce it has already accepted (one-time use) and may
    forget nonces once their token has expired.
    """
    if len(token) > MAX_TOKEN_CHARS:
        return False, ""
    parts = token.split(".")
    if len(parts) != 3:
        return False, ""
    expires_text, nonce, mac = parts
    expires_s = token_expiry_s(token)
    if expires_s is None or expires_s < now_s or not expires_text.isdigit():
        return False, ""
    good = _mac(key, parent, child, expires_s, nonce, purpose)
    return hmac.compare_digest(good.encode(), mac.encode()), nonce


def check_reverse_token(
    child_key: str, token: str, *, parent: str, child: str, now_s: float
) -> tuple[bool, str]:
    """(valid, nonce): whether `token` lets `parent` open a link to `child` now."""
    return check_token(child_key, token, parent=parent, child=child, now_s=now_s, purpose=_REVERSE)


def new_probe_nonce() -> str:
    """A fresh nonce for one reachability probe."""
    return secrets.token_hex(NONCE_BYTES)


def probe_proof(key: str, *, name: str, nonce: str) -> str:
    """The answer the peer named `name`, holding `key`, gives to a probe's `nonce`."""
    text = f"probe\n{name.casefold()}\n{nonce}"
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def probe_proof_matches(key: str, proofs: list[str], *, name: str, nonce: str) -> bool:
    """Whether one of `proofs` answers `nonce` for `name` with `key` (constant time)."""
    expected = probe_proof(key, name=name, nonce=nonce)
    return any(hmac.compare_digest(expected, proof) for proof in proofs)
