"""Which parent a viewer follows next: the tracker's word, its backup, or nobody. Pure.

The rules, all in one place so they are tested without a socket:
- An Assign for a parent other than the one we follow (or try) always wins: the
  tracker's word is final. One for the same parent only refreshes the backup.
- When the link to a parent ends, we switch to the backup the tracker named in advance
  without asking anyone, unless that backup is the parent we just lost or we were
  already trying a backup; we tell the tracker only once attached (`ParentLost` with
  `switched_to`), so it learns of the switch after it happened.
- When there is no usable backup, or the backup failed too, we report the loss (naming
  the parent we lost first, not the failed backup) and wait for the next Assign.
"""

from __future__ import annotations

import attrs

import protocol as p
from peer import events as ev
from protocol.names import name_key

MAX_REPORT_DETAIL_CHARS = 200  # the tracker logs it; it needs the code, not an essay


@attrs.frozen
class AfterLoss:
    """What to do once a parent link ended: what to tell the user and the tracker, and
    which parent to try next (None: wait for the tracker's next Assign)."""

    event: ev.ParentLost
    report: p.ParentLost | None
    next_offer: p.ParentOffer | None


@attrs.define
class ParentPlan:
    """A viewer's parent decisions: follow, switch to the backup, or ask the tracker."""

    backup: p.ParentOffer | None = None
    target: p.ParentOffer | None = None  # the parent we are connected to or trying
    connected: bool = False
    switches: int = 0  # times we moved to a backup on our own
    _switched_from: str | None = None  # set while the target is a backup we moved to
    _switch_reason: p.LossReason = p.LossReason.CLOSED
    _switch_detail: str = ""

    @property
    def current(self) -> p.ParentOffer | None:
        """The parent we receive from now, if connected."""
        return self.target if self.connected else None

    def follow(self, assign: p.Assign) -> p.ParentOffer | None:
        """The tracker placed us: the parent to connect to now, or None to stay put."""
        self.backup = assign.backup
        if self.target is not None and name_key(assign.parent.name) == name_key(self.target.name):
            return None
        self.target = assign.parent
        self.connected = False
        self._switched_from = None
        return assign.parent

    def set_backup(self, backup: p.ParentOffer | None) -> None:
        """The tracker named a new backup parent (or none)."""
        self.backup = backup

    def attached(self) -> p.ParentLost | None:
        """The target accepted us; the report owed to the tracker if this was a switch."""
        assert self.target is not None
        self.connected = True
        if self._switched_from is None:
            return None
        self.switches += 1
        report = p.ParentLost(
            parent=self._switched_from,
            reason=self._switch_reason,
            switched_to=self.target.name,
            detail=self._switch_detail[:MAX_REPORT_DETAIL_CHARS],
        )
        self._switched_from = None
        return report

    def lost(self, reason: p.LossReason, detail: str = "") -> AfterLoss:
        """The link to the target ended (or never came up): decide what follows."""
        assert self.target is not None
        lost = self.target.name
        first_lost = self._switched_from or lost
        self.connected = False
        backup = self.backup
        if (
            self._switched_from is None
            and backup is not None
            and name_key(backup.name) != name_key(lost)
        ):
            self.target, self.backup = backup, None
            self._switched_from = lost
            self._switch_reason, self._switch_detail = reason, detail
            event = ev.ParentLost(parent=lost, reason=reason, detail=detail, backup=backup.name)
            return AfterLoss(event=event, report=None, next_offer=backup)
        self.target = None
        self._switched_from = None
        report = p.ParentLost(
            parent=first_lost, reason=reason, detail=detail[:MAX_REPORT_DETAIL_CHARS]
        )
        return AfterLoss(
            event=ev.ParentLost(parent=lost, reason=reason, detail=detail),
            report=report,
            next_offer=None,
        )
