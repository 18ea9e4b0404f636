"""Backup parents: the spare slot each viewer may switch to without asking the tracker.

Scope: choosing a viewer's backup (placement rules in `Tree.choose_backup`), checking
that it is still usable after the tree changed, minting the admission token that lets
the viewer in there, and renewing that token before it expires. Pure, like the Room:
the caller passes the time, and gets back the `BackupUpdate`s to send.

Tokens carry Unix time (`wall_s`); they live TOKEN_LIFETIME_S and are renewed once
they are past half their life, checked every TOKEN_CHECK_INTERVAL_S, so a viewer
always holds one with at least a quarter of its life left (300 s of 600, minus 10).
Checking every viewer is O(members): `refresh` does it only when the tree's shape
changed since the last check (a large swarm's churn made it quadratic otherwise).
"""

from __future__ import annotations

import attrs

import protocol as p
from protocol.admission import TOKEN_LIFETIME_S, mint_token
from tracker.actions import Action, Send
from tracker.members import Member
from tracker.tree import Node, Tree

TOKEN_CHECK_INTERVAL_S = 10.0  # how often backup tokens are checked for renewal


def parent_offer(parent: Member, child: Member, wall_s: float) -> p.ParentOffer:
    """Where `child` reaches `parent`, with a fresh token admitting it there once."""
    token = mint_token(parent.admission_key, parent=parent.name, child=child.name, now_s=wall_s)
    host, port, link = parent.route_for(child)
    return p.ParentOffer(name=parent.name, host=host, port=port, token=token, link=link)


@attrs.define
class Backups:
    """Every viewer's backup: chosen, kept usable, and renewed (state lives on Member)."""

    tree: Tree
    members: dict[str, Member]
    checked_at: int = -1  # tree version when backups were last checked
    next_token_check_s: float = 0.0  # monotonic time of the next renewal check

    def choose(self, member: Member, wall_s: float, candidates: list[Node] | None = None) -> bool:
        """Pick a backup for `member` (and mint its token); True if it changed."""
        choice = self.tree.choose_backup(member.key, candidates)
        if choice == member.backup and member.backup_offer is not None:
            return False
        if choice is None and member.backup is None and member.backup_offer is None:
            return False
        member.backup = choice
        member.backup_offer = (
            parent_offer(self.members[choice], member, wall_s) if choice is not None else None
        )
        member.backup_minted_s = wall_s
        return True

    def is_usable(self, member: Member) -> bool:
        """Whether the member's backup could take it now (None is right for the unplaced)."""
        node = self.tree.nodes.get(member.key)
        backup = member.backup
        if node is None or node.parent is None or node.depth is None:
            return backup is None
        if backup is None or backup not in self.tree:
            return False
        candidate = self.tree[backup]
        return (
            candidate.depth is not None
            and candidate.spare > 0
            and not candidate.dark
            and backup != node.parent
            and self.tree.dials_directly(backup, member.key)
            and not self.tree.in_subtree(backup, node.parent)
            and self.tree.fits(member.key, backup)
        )

    def refresh(self, wall_s: float) -> list[Action]:
        """Name a new backup for every viewer whose backup is gone or no longer usable."""
        actions: list[Action] = []
        if self.checked_at == self.tree.version:
            return actions
        self.checked_at = self.tree.version
        candidates = None
        for member in self.members.values():
            if member.role != "viewer" or self.is_usable(member):
                continue
            if candidates is None:
                candidates = self.tree.open_slots()
            if self.choose(member, wall_s, candidates):
                actions.append(Send(member.key, p.BackupUpdate(backup=member.backup_offer)))
        return actions

    def expire_old_tokens(self, now_s: float, wall_s: float) -> None:
        """Every TOKEN_CHECK_INTERVAL_S: forget backups whose token is past half its life.

        The next `refresh` names them again, with a fresh token.
        """
        if now_s < self.next_token_check_s:
            return
        self.next_token_check_s = now_s + TOKEN_CHECK_INTERVAL_S
        for member in self.members.values():
            if (
                member.backup_offer is not None
                and wall_s - member.backup_minted_s > TOKEN_LIFETIME_S / 2
            ):
                member.backup = None
                self.checked_at = -1

    def withdraw(self, parent: str) -> None:
        """No viewer may keep `parent` as its backup (it is distrusted)."""
        for member in self.members.values():
            if member.backup == parent:
                member.backup = None
                member.backup_offer = None
