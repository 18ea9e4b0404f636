"""A relay process that is killed or frozen: the viewers below it keep watching."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from peer.node import Peer
from tests.peer.conftest import PeerStarter
from tests.polling import eventually
from tracker.service import Tracker
from tracker.tree import Placement

# A killed relay's sockets close at once: its children switch to their backups.
KILL_TARGET_S = 1.0
# A frozen one says nothing: its children notice after 1.25-1.5 s of silence
# (peer/parent.py), then switch.
FREEZE_TARGET_S = 3.0
# What a busy machine may add to either; the measurement also includes the 3 frames
# (0.1 s at 30 fps) that show the children receiving again.
RESUME_SLACK_S = 0.5
DEADLINE_TARGETS = 5  # how many targets to wait before calling it a failure


@pytest.fixture
def relay_process(address: tuple[str, int]) -> Iterator[subprocess.Popen[bytes]]:
    """A real `streamnest-peer view` process named relay, relaying to up to 4 children."""
    host, port = address
    process = subprocess.Popen(
        [
            sys.executable, "-m", "peer", "view", "--no-port-mapping",
            "--tracker", f"{host}:{port}",
            "--name", "relay", "--max-children", "4", "--no-decode",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait(timeout=10)


async def tree_under_relay(start_peer: PeerStarter, tracker: Tracker) -> list[Peer]:
    """Source (fanout 2) -> relay process + a spare relay; two viewers under the process.

    The relay starts with two slots (peer/capacity.py) and the spare takes one, so both
    viewers go to the relay, the older of the two with the most room.
    """
    await start_peer("source", "cam", source="testsrc:320x240@30", max_children=2)
    await eventually(
        lambda: "relay" in tracker.room.members and tracker.room.tree["relay"].depth == 1,
        within_s=20,
        what="the relay process attached under the source",
    )
    await start_peer("viewer", "spare", max_children=1, decode=False)
    children = [await start_peer("viewer", f"c{i}", max_children=0, decode=False) for i in range(2)]
    await receiving_through_relay(children)
    return children


async def receiving_through_relay(children: list[Peer]) -> None:
    """Wait until every one of `children` receives through the relay process."""
    await eventually(
        lambda: all(c.counters.parent == "relay" and c.counters.loss.frames_received > 5
                    for c in children),
        within_s=15,
        what="the children receiving through the relay process",
    )  # fmt: skip


async def resumed_after(children: list[Peer], within_s: float) -> float:
    """How long until every child receives again, from a parent other than the relay."""
    received = {c.config.name: c.counters.loss.frames_received for c in children}
    return await eventually(
        lambda: all(c.counters.loss.frames_received > received[c.config.name] + 3
                    and c.counters.parent != "relay" for c in children),
        within_s=within_s,
        what="the children receiving again from another parent",
    )  # fmt: skip


async def test_viewers_keep_watching_when_their_relay_process_is_killed(
    start_peer: PeerStarter, tracker: Tracker, relay_process: subprocess.Popen[bytes]
) -> None:
    children = await tree_under_relay(start_peer, tracker)
    relay_process.kill()
    took = await resumed_after(children, within_s=DEADLINE_TARGETS * KILL_TARGET_S)
    print(f"children of a kill -9'd relay resumed after {took * 1000:.0f} ms")
    assert took <= KILL_TARGET_S + RESUME_SLACK_S, f"resumed after {took:.2f} s"


async def test_viewers_keep_watching_when_their_relay_process_freezes(
    start_peer: PeerStarter, tracker: Tracker, relay_process: subprocess.Popen[bytes]
) -> None:
    children = await tree_under_relay(start_peer, tracker)
    os.kill(relay_process.pid, signal.SIGSTOP)  # no FIN, no RST: just silence
    took = await resumed_after(children, within_s=DEADLINE_TARGETS * FREEZE_TARGET_S)
    print(f"children of a frozen relay resumed after {took * 1000:.0f} ms")
    assert took <= FREEZE_TARGET_S + RESUME_SLACK_S, f"resumed after {took:.2f} s"


@pytest.mark.parametrize("leaf_beside", [False, True], ids=["fanout 1", "fanout 2 with a leaf"])
async def test_a_frozen_relay_with_no_backup_is_declared_gone_by_its_childrens_reports(
    start_peer: PeerStarter,
    tracker: Tracker,
    relay_process: subprocess.Popen[bytes],
    leaf_beside: bool,
) -> None:
    # The source holds the relay process (and, with fanout 2, a leaf); under the relay,
    # a leaf and a spare that could relay. Nobody has a backup: the source is full, the
    # leaf takes none, and the spare sits inside the relay's own subtree. With fanout 1
    # nobody can yield a slot either: only declaring the relay gone frees one.
    fanout = 2 if leaf_beside else 1
    if leaf_beside:
        # Capacity placement would put the spare in the leaf's shallow slot (it offers
        # more): the shallowest-slot baseline keeps this tree, whose repair is the test.
        tracker.room.tree.placement = Placement.SHALLOWEST
    await start_peer("source", "cam", source="testsrc:320x240@30", max_children=fanout)
    await eventually(
        lambda: "relay" in tracker.room.members and tracker.room.tree["relay"].depth == 1,
        within_s=20,
        what="the relay process attached under the source",
    )
    if leaf_beside:
        await start_peer("viewer", "leaf", max_children=0, decode=False)
    spare = await start_peer("viewer", "spare", max_children=2, decode=False)
    child = await start_peer("viewer", "c0", max_children=0, decode=False)
    children = [spare, child]
    await receiving_through_relay(children)
    assert all(tracker.room.members[c.config.name].backup is None for c in children)
    os.kill(relay_process.pid, signal.SIGSTOP)
    took = await resumed_after(children, within_s=DEADLINE_TARGETS * FREEZE_TARGET_S)
    print(f"children of a frozen relay with no backup resumed after {took * 1000:.0f} ms")
    assert took <= FREEZE_TARGET_S + RESUME_SLACK_S, f"resumed after {took:.2f} s"
    assert "relay" not in tracker.room.tree  # declared gone, not waited out
