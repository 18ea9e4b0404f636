"""Addresses as typed and printed, and which of a parent's addresses a child is handed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.addresses import (
    choose_candidate,
    format_address,
    is_local_only,
    parse_address,
    plain_host,
    usable_candidates,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("9000", ("127.0.0.1", 9000)),
        ("[::1]:80", ("::1", 80)),
        ("[::1]", ("::1", 9000)),
        ("::1", ("::1", 9000)),
        ("fd00:77::1", ("fd00:77::1", 9000)),
        ("tracker.example.org", ("tracker.example.org", 9000)),
        ("tracker.example.org:7000", ("tracker.example.org", 7000)),
        (":7000", ("127.0.0.1", 7000)),
    ],
)
def test_tracker_addresses_as_users_type_them(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text, default_port=9000) == expected


@pytest.mark.parametrize("text", ["host:port", "[::1", "[::1]x", "[]:80", "h:70000", "h:-1"])
def test_malformed_addresses_are_refused_readably(text: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        parse_address(text, default_port=9000)


def test_a_bare_host_needs_a_default_port() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("example.org")


@given(st.ip_addresses(), st.integers(0, 65535))
def test_printed_addresses_read_back(host: object, port: int) -> None:
    text = format_address(str(host), port)
    assert parse_address(text) == (str(host), port)
    if ":" in str(host):
        assert text.startswith("[")


def test_local_only_addresses_are_never_candidates() -> None:
    reported = ["127.0.0.1", "::1", "0.0.0.0", "::", "fe80::1%eth0", "10.1.0.2", "10.1.0.2"]
    assert usable_candidates([*reported, "not-an-ip", "fd00::2"], 8) == ["10.1.0.2", "fd00::2"]
    assert is_local_only("::ffff:127.0.0.1")
    assert plain_host("::ffff:10.77.0.2") == "10.77.0.2"


def test_behind_one_public_address_the_child_gets_the_lan_address() -> None:
    host = choose_candidate(
        parent_seen="203.0.113.5",
        parent_lan=["172.17.0.1", "192.168.1.10"],
        child_seen="203.0.113.5",
        child_lan=["192.168.1.11"],
    )
    assert host == "192.168.1.10"


def test_across_public_addresses_the_child_gets_what_the_tracker_saw() -> None:
    host = choose_candidate(
        parent_seen="203.0.113.5",
        parent_lan=["192.168.1.10"],
        child_seen="198.51.100.7",
        child_lan=["192.168.1.11"],
    )
    assert host == "203.0.113.5"


def test_a_parent_on_the_trackers_host_is_dialled_at_its_lan_address() -> None:
    host = choose_candidate(
        parent_seen="127.0.0.1",
        parent_lan=["fd00::5", "10.77.0.1"],
        child_seen="10.77.0.2",
        child_lan=["10.77.0.2"],
    )
    assert host == "10.77.0.1"


def test_a_child_that_came_over_ipv6_gets_the_parents_ipv6_address() -> None:
    host = choose_candidate(
        parent_seen="10.77.0.2",
        parent_lan=["10.77.0.2", "fd77::2"],
        child_seen="fd77::3",
        child_lan=["fd77::3"],
    )
    assert host == "fd77::2"
    # With no address of the child's family, the seen one is still the best guess.
    assert (
        choose_candidate(parent_seen="10.77.0.2", parent_lan=[], child_seen="fd77::3", child_lan=[])
        == "10.77.0.2"
    )


def test_peers_on_one_host_with_the_tracker_use_loopback() -> None:
    assert (
        choose_candidate(
            parent_seen="127.0.0.1", parent_lan=["10.0.0.1"], child_seen="127.0.0.1", child_lan=[]
        )
        == "127.0.0.1"
    )


def test_advertise_overrides_everything() -> None:
    host = choose_candidate(
        parent_seen="203.0.113.5",
        parent_lan=[],
        child_seen="198.51.100.7",
        child_lan=[],
        advertised="stream.example.org",
    )
    assert host == "stream.example.org"
