"""The Room's state and its placement decisions: where each viewer hangs, and telling it.

Pure, like the Room (tracker/room.py), which reacts to events and calls these: every
method takes the time and returns the actions. Waiting viewers are placed after any
change (`_settle`); orphans go to their backups when those can take them (`_rescue`);
each placement is told to the viewer in an Assign, and, when the parent cannot be
dialled, to the parent too: a `DialChild` when it can dial the child (connection
reversal), a `PunchChild` when neither can dial the other (hole punching, timed by
tracker/punching.py from the RTTs `rtt_s` reports).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

import protocol as p
from protocol.admission import mint_reverse_token
from protocol.names import name_key
from tracker.actions import Action, Send
from tracker.backups import Backups, parent_offer
from tracker.members import Member
from tracker.punching import punch_timing
from tracker.reachability import Reachability
from tracker.tree import Tree
from tracker.trust import Trust

# After a (re)start, peers that say they are still attached to a parent keep that link
# if the parent re-registers within this window.
RECOVERY_WINDOW_S = 5.0


@attrs.define
class Placing:
    """Members, the tree and the rules around it, and the decisions that place viewers."""

    recovery_window_s: float = RECOVERY_WINDOW_S
    started_s: float = 0.0
    wall_offset_s: float = 0.0  # Unix time = monotonic now + this (tokens carry Unix time)
    epoch: int = 0
    members: dict[str, Member] = attrs.field(factory=dict)
    tree: Tree = attrs.field(factory=Tree)
    trust: Trust = attrs.field(factory=Trust)
    backups: Backups = attrs.field(init=False)  # shares members and tree
    stream_key: str | None = None  # the live source's public key, handed out in every Assign
    # Who can be dialled (tracker/reachability.py); off unless the tracker checks.
    reachability: Reachability = attrs.field(factory=Reachability)
    # The RTT of a member's connection to us (the service reads the kernel's figure),
    # or None where nobody can tell; it times hole punches.
    rtt_s: Callable[[str], float | None] = lambda key: None

    def __attrs_post_init__(self) -> None:
        """Give the backup rules the same members and tree."""
        self.backups = Backups(self.tree, self.members)

    def _capacity(self, member: Member) -> int:
        """The child slots the tree may give `member`: none while it is distrusted or
        its reachability is not checked yet, else what it offers (a member nobody can
        dial uses them through connection reversal, tracker/tree.py)."""
        if member.key in self.trust.distrusted or self._unchecked(member.key):
            return 0
        return member.max_children

    def _unchecked(self, key: str) -> bool:
        return self.reachability.enabled and self.reachability.reachable(key) is None

    def source_name(self) -> str | None:
        """Name of the live streamer, if any."""
        source = self.tree.source
        return self.members[source].name if source is not None else None

    def _recovering(self, now_s: float) -> bool:
        return now_s < self.started_s + self.recovery_window_s

    def _resolve_claims(self, key: str, now_s: float) -> list[Action]:
        """Restore links that peers re-registering after a restart say they still have."""
        actions: list[Action] = []
        member = self.members[key]
        claims = [m for m in self.members.values() if m.claimed_parent == key]
        if member.claimed_parent is not None and member.claimed_parent in self.tree:
            claims.append(member)
        for child in claims:
            parent = child.claimed_parent
            assert parent is not None
            child.claimed_parent = None
            node = self.tree[child.key]
            if node.parent is None and self._can_adopt(
                parent, child.key, attached_only=False, live_link=True
            ):
                self.tree.attach(child.key, parent)
                if self.tree[child.key].depth is not None:
                    actions += self._assign(child.key, now_s)
        return actions

    def _can_adopt(
        self, parent: str, child: str, *, attached_only: bool = True, live_link: bool = False
    ) -> bool:
        """Whether `child` may hang under `parent`. A `live_link` (a claim after a
        restart) already carries video, which proves the two can connect: it counts
        against the slots the parent offers even before its probe is done."""
        if parent not in self.tree or parent == child:
            return False
        node = self.tree[parent]
        if attached_only and node.depth is None:
            return False
        spare = node.spare
        if live_link and self._unchecked(parent) and parent not in self.trust.distrusted:
            spare = self.members[parent].max_children - len(node.children)
        elif not self.tree.can_feed(parent, child):
            return False
        return spare > 0 and not self.tree.in_subtree(parent, child)

    def _rescue(self, orphans: list[str], now_s: float) -> list[Action]:
        """Move each orphan to the backup it was told about, or place it anew."""
        actions: list[Action] = []
        homeless = []
        for orphan in orphans:
            backup = self.members[orphan].backup
            if (
                backup is not None
                and self._can_adopt(backup, orphan)
                and self.tree.fits(orphan, backup)
            ):
                self.tree.attach(orphan, backup)
                actions += self._assign(orphan, now_s, reuse_backup_token=True)
            else:
                homeless.append(orphan)
        return actions + self._place(homeless, now_s)

    def avoided(self, now_s: float) -> dict[str, set[str]]:
        """Parents each child must not get now (expired entries are forgotten)."""
        return self.trust.avoided(now_s, self.members)

    def _place(self, roots: list[str], now_s: float) -> list[Action]:
        moved = self.tree.place(roots, avoid=self.avoided(now_s))
        actions = self._assign_all(moved, now_s)
        for key in roots:
            if key not in moved and self.tree[key].depth is None and self.tree.source:
                actions.append(Send(key, p.Waiting(reason=self.wait_reason(key))))
        return actions

    def wait_reason(self, key: str) -> p.WaitReason:
        """Why `key`, with a stream live, has no place: no slot at all, or only slots it
        may take once the tracker has dialled it back."""
        if self._unchecked(key) and self.tree.open_slots():
            return p.WaitReason.CHECKING
        return p.WaitReason.NO_FREE_SLOT

    def _settle(self, now_s: float) -> list[Action]:
        """After any change: place whoever waits, where possible.

        Backups are not re-checked here but in `tick` (a few times a second): checking
        every member after every join or leave made a large swarm's churn quadratic.
        """
        actions: list[Action] = []
        if self.tree.source is not None:
            waiting = [
                k
                for k in self.tree.detached_roots()
                if self.members[k].claimed_parent is None or not self._recovering(now_s)
            ]
            if waiting:
                moved = self.tree.place(waiting, avoid=self.avoided(now_s))
                actions += self._assign_all(moved, now_s)
        return actions

    def _wall_s(self, now_s: float) -> float:
        """Unix time at monotonic `now_s` (tokens carry Unix time)."""
        return now_s + self.wall_offset_s

    def _assign_all(self, keys: list[str], now_s: float) -> list[Action]:
        return [action for key in keys for action in self._assign(key, now_s)]

    def _assign(self, key: str, now_s: float, *, reuse_backup_token: bool = False) -> list[Action]:
        """Tell `key` where it now hangs; when it cannot dial its parent, also tell the
        parent to dial it (connection reversal) or to punch to it (hole punching)."""
        node = self.tree[key]
        member = self.members[key]
        assert node.parent is not None and node.depth is not None
        member.attached_s = now_s
        self.tree.set_dark(key, False)  # a new parent: video in a moment
        parent = self.members[node.parent]
        wall_s = self._wall_s(now_s)
        offer = member.backup_offer if reuse_backup_token else None
        if offer is None or name_key(offer.name) != node.parent:
            offer = parent_offer(parent, member, wall_s)
        actions: list[Action] = []
        link = self.tree.indirect_link(node.parent, key)
        if link is p.LinkKind.PUNCHED:
            offer, punch = self._punch(parent, member, offer)
            actions.append(Send(parent.key, punch))
        elif link is p.LinkKind.REVERSED:
            offer = attrs.evolve(offer, link=p.LinkKind.REVERSED)
            host, port, _ = member.route_for(parent)
            dial = p.DialChild(
                child=member.name,
                host=host,
                port=port,
                token=mint_reverse_token(
                    member.admission_key, parent=parent.name, child=member.name, now_s=wall_s
                ),
            )
            actions.append(Send(parent.key, dial))
        self.backups.choose(member, wall_s)
        assign = p.Assign(
            parent=offer,
            depth=node.depth,
            epoch=self.epoch,
            backup=member.backup_offer,
            stream_key=self.stream_key,
        )
        return [Send(key, assign), *actions]

    def _punch(
        self, parent: Member, child: Member, offer: p.ParentOffer
    ) -> tuple[p.ParentOffer, p.PunchChild]:
        """The child's offer and the parent's order for a hole punch: each dials the
        other's router at the port the tracker saw its listen port mapped to."""
        assert parent.punch_port is not None and child.punch_port is not None
        timing = punch_timing(self.rtt_s(parent.key), self.rtt_s(child.key))
        offer = attrs.evolve(
            offer,
            host=parent.host,
            port=parent.punch_port,
            link=p.LinkKind.PUNCHED,
            punch_delay_ms=timing.child_delay_ms,
        )
        punch = p.PunchChild(
            child=child.name,
            host=child.host,
            port=child.punch_port,
            delay_ms=timing.parent_delay_ms,
        )
        return offer, punch

    def refresh_backups(self, now_s: float) -> list[Action]:
        """Name a new backup for every viewer whose backup is gone or no longer usable."""
        return self.backups.refresh(self._wall_s(now_s))
