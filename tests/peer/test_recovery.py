"""Viewers keep watching when a relay above them vanishes, and their children never notice."""

from __future__ import annotations

import trio

from peer.node import Peer
from tests.peer.conftest import PeerStarter, ReceivedFrames
from tests.polling import eventually
from tracker.service import Tracker

RECOVERY_TARGET_S = 1.0
# What a busy machine may add; the measurement also includes the 3 frames (0.1 s at
# 30 fps) that show an orphan receiving again.
RESUME_SLACK_S = 0.5
DEADLINE_TARGETS = 5


async def build_tree(
    start_peer: PeerStarter, viewers: int, logs: dict[str, ReceivedFrames] | None = None
) -> tuple[Peer, list[Peer]]:
    """A source with fanout 2 and `viewers` relays of 2 children each, all receiving.

    With `logs`, each viewer's received frames are noted there under its name.
    """
    source = await start_peer("source", "cam", source="testsrc:320x240@30", max_children=2)
    peers = []
    for i in range(viewers):
        hooks = None
        if logs is not None:
            hooks = logs.setdefault(f"v{i}", ReceivedFrames()).hooks()
        peers.append(await start_peer("viewer", f"v{i}", hooks, max_children=2, decode=False))
    await eventually(
        lambda: all(p.counters.loss.frames_received > 5 for p in peers),
        within_s=15,
        what="every viewer receiving",
    )
    return source, peers


def one_gap(seqs: list[int]) -> bool:
    """Whether `seqs` (sorted) is empty or one unbroken run of numbers."""
    return not seqs or seqs == list(range(seqs[0], seqs[-1] + 1))


def children_of(peers: list[Peer], parent: Peer) -> list[Peer]:
    return [p for p in peers if p.counters.parent == parent.config.name]


async def test_children_of_a_crashed_relay_resume_within_a_second(
    start_peer: PeerStarter,
) -> None:
    logs: dict[str, ReceivedFrames] = {}
    _, peers = await build_tree(start_peer, 8, logs)
    # A relay at depth 1 whose children have children of their own.
    victim = next(
        p
        for p in peers
        if p.counters.depth == 1 and any(children_of(peers, c) for c in children_of(peers, p))
    )
    orphans = children_of(peers, victim)
    grandchildren = [g for c in orphans for g in children_of(peers, c)]
    assert orphans and grandchildren
    before = {g.config.name: (g.counters.parent, g.follower.switches) for g in grandchildren}
    received = {p.config.name: p.counters.loss.frames_received for p in orphans}
    lost = {p.config.name: p.counters.loss.frames_lost for p in orphans}

    victim.kill()  # no goodbye: its sockets just close
    newest_at_kill = {p.config.name: logs[p.config.name].newest for p in orphans}
    took = await eventually(
        lambda: all(p.counters.loss.frames_received > received[p.config.name] + 3 for p in orphans),
        within_s=DEADLINE_TARGETS * RECOVERY_TARGET_S,
        what="the orphans receiving again",
    )
    print(f"orphans of a killed relay resumed after {took * 1000:.0f} ms")
    assert took <= RECOVERY_TARGET_S + RESUME_SLACK_S, f"resumed after {took:.2f} s"
    for grandchild in grandchildren:
        parent, switches = before[grandchild.config.name]
        assert grandchild.counters.parent == parent, "a grandchild lost its parent"
        assert grandchild.follower.switches == switches
    # Frames missed during the switch count as loss, nothing more: one gap, counted.
    for orphan in orphans:
        name = orphan.config.name
        log = logs[name]
        missing = log.missing(newest_at_kill[name] + 1, log.newest)
        assert one_gap(missing), f"{name} missed {missing}"
        assert orphan.counters.loss.frames_lost - lost[name] == len(missing), name


def backups_settled(tracker: Tracker, peers: list[Peer]) -> bool:
    """The tracker has re-checked backups since the tree last changed, and told everyone."""
    room = tracker.room
    if room.backups_checked_at != room.tree.version:
        return False
    for peer in peers:
        offer = room.members[peer.config.name].backup_offer
        if peer.follower.plan.backup != offer:
            return False
    return True


async def test_an_orphan_lands_on_the_backup_it_was_given_in_advance(
    start_peer: PeerStarter, tracker: Tracker
) -> None:
    _, peers = await build_tree(start_peer, 6)
    # Backups are re-checked a few times a second; let the last joins settle.
    await eventually(lambda: backups_settled(tracker, peers), within_s=5, what="backups")
    victim = next(p for p in peers if p.counters.depth == 1 and children_of(peers, p))
    orphans = children_of(peers, victim)
    backups = {o.config.name: o.follower.plan.backup for o in orphans}
    assert all(b is not None for b in backups.values()), "the tracker named backups in advance"
    victim.kill()
    # Whether the orphan noticed first (and switched on its own) or the tracker did (and
    # pushed the same backup), each ends up under the backup it already held a token for.
    await eventually(
        lambda: all(
            o.counters.parent == backups[o.config.name].name  # type: ignore[union-attr]
            for o in orphans
        ),
        within_s=DEADLINE_TARGETS * RECOVERY_TARGET_S,
        what="orphans attached to their backups",
    )


async def test_a_relay_that_leaves_politely_hands_its_children_over(
    start_peer: PeerStarter,
) -> None:
    _, peers = await build_tree(start_peer, 4)
    victim = next(p for p in peers if p.counters.depth == 1 and children_of(peers, p))
    orphans = children_of(peers, victim)
    received = {p.config.name: p.counters.loss.frames_received for p in orphans}
    with trio.fail_after(5):
        await victim.leave("bye")
    await eventually(
        lambda: all(p.counters.loss.frames_received > received[p.config.name] + 3 for p in orphans),
        within_s=DEADLINE_TARGETS * RECOVERY_TARGET_S,
        what="the children of a departed relay receiving again",
    )
