"""The simulation says where viewers' missed frames were lost: last hop or above it."""

from __future__ import annotations

from typing import Any

from peer.simulation.losses import describe, where_lost


def viewer(name: str, uplink_kbps: float | None, gaps: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "uplink_kbps": uplink_kbps, "gaps": gaps}


def test_a_frame_the_parent_had_was_lost_on_the_last_hop_one_it_missed_was_passed_down() -> None:
    peers = [
        viewer("relay", 5000.0, [[2.0, 100, 3, "source"]]),  # 100-102 lost below the source
        # The relay's child misses 100-104: three passed down, two lost on its last hop.
        viewer("leaf", None, [[2.1, 100, 5, "relay"], [30.0, 900, 1, "relay"]]),
    ]
    losses = where_lost(peers)
    assert losses == {
        "missed": 9,
        "last_hop": 6,
        "passed_down": 3,
        "last_hop_while_forming": 5,
        "last_hop_by_parent_uplink_kbps": {"5000": 3, "source": 3},
    }
    line = describe(losses)
    assert "frames missed: 9, 6 lost on the last hop" in line
    assert "5 Mb/s 3, source 3" in line and "3 passed down" in line


def test_a_parent_the_run_does_not_know_is_blamed_for_what_it_did_not_pass_on() -> None:
    losses = where_lost([viewer("leaf", None, [[12.0, 5, 2, "stranger"]])])
    assert losses["last_hop"] == 2 and losses["last_hop_by_parent_uplink_kbps"] == {"unknown": 2}
    assert "unknown 2" in describe(losses)
