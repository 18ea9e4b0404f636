"""Admission tokens (protocol/admission.py): a Join token admits one child to one parent,
a reversal token lets one parent open a link to one child, and neither passes as the
other."""

from __future__ import annotations

import pytest

from protocol.admission import (
    TOKEN_LIFETIME_S,
    check_reverse_token,
    check_token,
    mint_reverse_token,
    mint_token,
    new_admission_key,
    token_expiry_s,
)

NOW_S = 1_700_000_000.0


@pytest.fixture
def key() -> str:
    """A fresh admission key, as a Welcome carries."""
    return new_admission_key()


def test_a_join_token_admits_its_child_to_its_parent(key: str) -> None:
    token = mint_token(key, parent="relay", child="kid", now_s=NOW_S)
    ok, nonce = check_token(key, token, parent="relay", child="kid", now_s=NOW_S)
    assert ok
    assert nonce == token.split(".")[1]
    assert token_expiry_s(token) == int(NOW_S) + TOKEN_LIFETIME_S


def test_a_reverse_token_admits_its_parent_to_its_child(key: str) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    ok, nonce = check_reverse_token(key, token, parent="relay", child="kid", now_s=NOW_S)
    assert ok
    assert nonce == token.split(".")[1]
    assert token_expiry_s(token) == int(NOW_S) + TOKEN_LIFETIME_S


def test_reverse_token_names_compare_case_insensitively(key: str) -> None:
    token = mint_reverse_token(key, parent="Relay", child="Kid", now_s=NOW_S)
    assert check_reverse_token(key, token, parent="rELAY", child="kID", now_s=NOW_S)[0]


@pytest.mark.parametrize(
    ("parent", "child"),
    [("kid", "relay"), ("relay", "other"), ("other", "kid"), ("relay", "relay")],
    ids=["swapped", "other-child", "other-parent", "parent-twice"],
)
def test_a_reverse_token_is_for_its_own_parent_and_child_only(
    key: str, parent: str, child: str
) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    assert not check_reverse_token(key, token, parent=parent, child=child, now_s=NOW_S)[0]


def test_a_reverse_token_is_for_the_key_it_was_minted_with(key: str) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    other = new_admission_key()
    assert not check_reverse_token(other, token, parent="relay", child="kid", now_s=NOW_S)[0]


def test_a_reverse_token_lasts_its_lifetime_and_not_a_second_more(key: str) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    last_s = NOW_S + TOKEN_LIFETIME_S
    assert check_reverse_token(key, token, parent="relay", child="kid", now_s=last_s)[0]
    assert not check_reverse_token(key, token, parent="relay", child="kid", now_s=last_s + 1)[0]


def test_a_tampered_reverse_token_is_refused(key: str) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    expires, nonce, mac = token.split(".")
    flipped = ("1" if mac[0] == "0" else "0") + mac[1:]
    for forged in (
        f"{int(expires) + 60}.{nonce}.{mac}",
        f"{expires}.{nonce[::-1]}.{mac}",
        f"{expires}.{nonce}.{flipped}",
        f"{expires}.{nonce}",
        "",
    ):
        assert not check_reverse_token(key, forged, parent="relay", child="kid", now_s=NOW_S)[0]


@pytest.mark.parametrize(
    ("parent", "child"), [("relay", "kid"), ("kid", "relay")], ids=["same-names", "swapped"]
)
def test_a_reverse_token_never_admits_a_join(key: str, parent: str, child: str) -> None:
    token = mint_reverse_token(key, parent="relay", child="kid", now_s=NOW_S)
    assert not check_token(key, token, parent=parent, child=child, now_s=NOW_S)[0]


@pytest.mark.parametrize(
    ("parent", "child"), [("relay", "kid"), ("kid", "relay")], ids=["same-names", "swapped"]
)
def test_a_join_token_never_admits_a_reversal(key: str, parent: str, child: str) -> None:
    token = mint_token(key, parent="relay", child="kid", now_s=NOW_S)
    assert not check_reverse_token(key, token, parent=parent, child=child, now_s=NOW_S)[0]
