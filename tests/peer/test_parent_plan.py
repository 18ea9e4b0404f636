"""The viewer's parent decisions, without a socket: follow the tracker, switch, report."""

from __future__ import annotations

import protocol as p
from peer.parent_plan import ParentPlan


def offer(name: str) -> p.ParentOffer:
    return p.ParentOffer(name=name, host="127.0.0.1", port=1000, token=f"tok-{name}")


def assign(parent: str, backup: str | None = None) -> p.Assign:
    return p.Assign(
        parent=offer(parent), depth=1, epoch=1, backup=offer(backup) if backup else None
    )


def test_a_viewer_follows_the_tracker_and_a_repeat_for_the_same_parent_changes_nothing() -> None:
    plan = ParentPlan()
    assert plan.follow(assign("a", backup="b")) == offer("a")
    assert plan.attached() is None, "a placement is no switch: nothing to report"
    assert plan.current == offer("a")
    assert plan.follow(assign("A", backup="c")) is None, "names are case-insensitive"
    assert plan.backup == offer("c"), "but the backup is refreshed"
    assert plan.follow(assign("d")) == offer("d"), "another parent always wins"
    assert plan.current is None, "not connected to d yet"


def test_a_lost_parent_is_replaced_by_the_backup_and_reported_only_once_attached() -> None:
    plan = ParentPlan()
    plan.follow(assign("a", backup="b"))
    plan.attached()
    after = plan.lost(p.LossReason.SILENT, "nothing for 1.5 s")
    assert after.next_offer == offer("b")
    assert after.report is None, "the tracker hears of the switch after it happened"
    assert (after.event.parent, after.event.backup) == ("a", "b")
    report = plan.attached()
    assert report == p.ParentLost(
        parent="a", reason=p.LossReason.SILENT, switched_to="b", detail="nothing for 1.5 s"
    )
    assert plan.switches == 1
    assert plan.attached() is None, "reported once"


def test_when_the_backup_fails_too_the_first_loss_is_reported_and_the_viewer_waits() -> None:
    plan = ParentPlan()
    plan.follow(assign("a", backup="b"))
    plan.attached()
    plan.lost(p.LossReason.RESET)
    after = plan.lost(p.LossReason.UNREACHABLE, "Connection refused")
    assert after.next_offer is None, "wait for the tracker's next Assign"
    assert after.report == p.ParentLost(
        parent="a", reason=p.LossReason.UNREACHABLE, detail="Connection refused"
    ), "the tracker hears of the parent it placed us under, not of the failed backup"
    assert plan.switches == 0
    assert plan.follow(assign("a")) == offer("a"), "the tracker may send us back to a"


def test_a_backup_that_is_the_lost_parent_itself_is_not_tried() -> None:
    plan = ParentPlan()
    plan.follow(assign("a"))
    plan.set_backup(offer("A"))
    after = plan.lost(p.LossReason.CLOSED)
    assert after.next_offer is None and after.report is not None
    assert after.report.parent == "a"


def test_with_no_backup_a_loss_is_reported_at_once() -> None:
    plan = ParentPlan()
    plan.follow(assign("a"))
    after = plan.lost(p.LossReason.REFUSED, "a has no free child slot")
    assert after.report == p.ParentLost(
        parent="a", reason=p.LossReason.REFUSED, detail="a has no free child slot"
    )
    assert after.event.backup is None


def test_a_new_assignment_during_a_switch_cancels_the_switch_report() -> None:
    plan = ParentPlan()
    plan.follow(assign("a", backup="b"))
    plan.attached()
    plan.lost(p.LossReason.SILENT)
    assert plan.follow(assign("c")) == offer("c"), "the tracker moved us before b answered"
    assert plan.attached() is None, "c is the tracker's choice, not a switch"
    assert plan.switches == 0
