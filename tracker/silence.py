"""When children's reports of a silent parent are evidence enough that it is gone. Pure.

A relay that freezes (a stopped process, a dead machine whose TCP connections linger)
keeps its tracker session open until it misses MISSED_HEARTBEATS heartbeats: seconds in
which its children are dark and its slots look taken. Its children notice much sooner
(no frame and no pong for 1.5 s) and say so in `ParentLost(reason=silent)`. The Room
declares the relay gone at once when either
- REPORTS_TO_DECLARE different children reported it silent within REPORT_WINDOW_S, or
- one child did, and the relay has also missed a heartbeat of its own (nothing from it
  for MISSED_HEARTBEAT_FACTOR heartbeat intervals),
so one child with a broken link of its own cannot take a healthy relay down.
"""

from __future__ import annotations

import attrs

REPORTS_TO_DECLARE = 2
REPORT_WINDOW_S = 5.0
MISSED_HEARTBEAT_FACTOR = 1.5


@attrs.define
class SilenceReports:
    """Recent reports of silent parents (parent -> reporter -> when)."""

    _reports: dict[str, dict[str, float]] = attrs.field(factory=dict)

    def report(
        self,
        reporter: str,
        parent: str,
        now_s: float,
        *,
        parent_last_seen_s: float,
        heartbeat_interval_s: float,
    ) -> bool:
        """Count `reporter`'s report against `parent`; True if `parent` is gone now."""
        horizon = now_s - REPORT_WINDOW_S
        recent = {r: at for r, at in self._reports.get(parent, {}).items() if at > horizon}
        recent[reporter] = now_s
        self._reports[parent] = recent
        if len(recent) >= REPORTS_TO_DECLARE:
            return True
        return now_s - parent_last_seen_s > heartbeat_interval_s * MISSED_HEARTBEAT_FACTOR

    def forget(self, parent: str) -> None:
        """`parent` is gone: its reports no longer matter."""
        self._reports.pop(parent, None)

    def forget_old(self, now_s: float) -> None:
        """Drop reports older than the window (bounds memory under churn)."""
        horizon = now_s - REPORT_WINDOW_S
        for parent in [k for k, v in self._reports.items() if max(v.values()) <= horizon]:
            del self._reports[parent]
