"""Which parents a child must not get: for a while after trouble, or never (tampering).

Two rules, both about a (child, parent) pair and both pure (the caller passes time):

- *Avoidance.* A child dropped by its parent, or whose link to a live parent broke,
  is not put back under that parent for AVOID_PARENT_S.
- *Distrust.* Viewers report frames from a parent that fail the source's signature
  (`ParentLost` with `LossReason.TAMPERED`). After TAMPER_REPORTS_TO_DISTRUST different
  reporters the parent is distrusted: the Room takes its children away and gives it no
  more, also when it registers again under the same name (see docs/security.md).
  Reports against the source are the Room's to ignore (it signs its own frames; a bad
  frame from it means a broken link, not a forger).
"""

from __future__ import annotations

from collections.abc import Container

import attrs

AVOID_PARENT_S = 10.0
TAMPER_REPORTS_TO_DISTRUST = 2


@attrs.define
class Trust:
    """Recent trouble between children and parents, and the tamper reports so far."""

    # Who reported tampered frames from whom (offender -> reporters).
    tamper_reports: dict[str, set[str]] = attrs.field(factory=dict)
    distrusted: set[str] = attrs.field(factory=set)  # peers trusted with no children
    _avoid: dict[str, dict[str, float]] = attrs.field(factory=dict)  # child -> parent -> until

    def avoid(self, child: str, parent: str, now_s: float) -> None:
        """Keep `child` away from `parent` for AVOID_PARENT_S from now."""
        self._avoid.setdefault(child, {})[parent] = now_s + AVOID_PARENT_S

    def avoiding(self) -> bool:
        """Whether any avoidance may still be in force (placement may change as it ends)."""
        return bool(self._avoid)

    def avoided(self, now_s: float, members: Container[str]) -> dict[str, set[str]]:
        """Parents each child must not get now; expired entries and gone children are forgotten."""
        result: dict[str, set[str]] = {}
        for child, parents in list(self._avoid.items()):
            live = {key: until for key, until in parents.items() if until > now_s}
            if live and child in members:
                self._avoid[child] = live
                result[child] = set(live)
            else:
                del self._avoid[child]
        return result

    def report_tamper(self, reporter: str, offender: str, now_s: float) -> bool:
        """Count `reporter`'s report against `offender`; True if it distrusts it now.

        The reporter avoids the offender from now on, whatever the count.
        """
        self.avoid(reporter, offender, now_s)
        reporters = self.tamper_reports.setdefault(offender, set())
        reporters.add(reporter)
        if len(reporters) < TAMPER_REPORTS_TO_DISTRUST or offender in self.distrusted:
            return False
        self.distrusted.add(offender)
        return True
