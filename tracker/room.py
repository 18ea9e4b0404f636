"""The tracker's state and decisions: members, the streamer lock, placement, liveness.

Pure: every method takes the time as an argument and returns the actions to take
(`Send`, `Broadcast`, `Close`); the trio layer in tracker/service.py only reads
sockets, calls these, and carries the actions out. The Room is the one entry point:
it reacts to events here, and places viewers and tells them so in tracker/placing.py,
which it builds on. It delegates to the pieces that hold one idea each: the tree and
its placement rules (tracker/tree.py), backup parents and their tokens (tracker/backups.py), which
parents a child must not get (tracker/trust.py), and the status snapshot
(tracker/status.py). Chat lives in tracker/chat.py.
"""

from __future__ import annotations

import attrs

import protocol as p
from protocol.names import name_key
from tracker.actions import Action, Broadcast, Close, Send
from tracker.members import Member, hello_refusal
from tracker.placing import Placing
from tracker.reachability import ProbeAnswer
from tracker.silence import SilenceReports
from tracker.status import status_reply
from tracker.tree import Placement

HEARTBEAT_INTERVAL_S = 1.0
MISSED_HEARTBEATS = 3
# Why the Room declares a member dead (the reasons its Close actions carry).
MISSED_HEARTBEATS_REASON = "missed heartbeats"
SILENT_REASON = "silent to its children"


@attrs.define
class Room(Placing):
    """Everything the tracker knows and decides, without a single socket: the events,
    here; where viewers go and what they are told, in `Placing`."""

    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S
    missed_heartbeats: int = MISSED_HEARTBEATS
    silence: SilenceReports = attrs.field(factory=SilenceReports)
    _settled_version: int = -1  # tree version when tick() last placed waiting viewers
    _recovery_over: bool = False

    @property
    def backups_checked_at(self) -> int:
        """Tree version when backups were last checked (-1: check at the next tick)."""
        return self.backups.checked_at

    @property
    def tamper_reports(self) -> dict[str, set[str]]:
        """Who reported tampered frames from whom (offender -> reporters)."""
        return self.trust.tamper_reports

    @property
    def distrusted(self) -> set[str]:
        """Peers trusted with no children (caught tampering by enough reporters)."""
        return self.trust.distrusted

    # -- events ------------------------------------------------------------------------

    def hello(
        self,
        hello: p.Hello,
        now_s: float,
        seen_host: str | None = None,
        seen_port: int | None = None,
    ) -> tuple[p.Reject | None, list[Action]]:
        """Register a peer whose connection came from `seen_host` and `seen_port` (None:
        cannot tell).

        Returns a Reject (send it, then close), or the actions.
        """
        refusal = hello_refusal(hello, taken=self.members, live_source=self.source_name())
        if refusal is not None:
            return refusal, []
        member = Member.from_hello(hello, seen_host, now_s, seen_port)
        key = member.key
        self.members[key] = member
        self.reachability.joined(key, member.host, member.checked_port, seen=seen_host is not None)
        if hello.role == "source":
            self.epoch = (self.epoch + 1) % 2**32  # the source's Welcome carries its epoch
        actions: list[Action] = [
            Send(key, self._welcome(member, member.host if seen_host else None))
        ]
        if hello.role in p.STREAMING_ROLES:
            self.tree.add(
                key,
                hello.name,
                is_source=hello.role == "source",
                capacity=self._capacity(member),
                dialable=self.reachability.allows_children(key),
                household=member.household,
                punchable=member.punchable,
            )
        if hello.role == "source":
            self.stream_key = hello.stream_key
            actions.append(Broadcast(p.StreamStarted(source=hello.name, epoch=self.epoch)))
        elif hello.role == "viewer" and hello.parent is not None and self._recovering(now_s):
            member.claimed_parent = name_key(hello.parent)
        if hello.role != "observer":
            actions += self._resolve_claims(key, now_s)
        actions += self._settle(now_s)
        if (
            hello.role == "viewer"
            and self.tree[key].depth is None
            and member.claimed_parent is None
        ):
            reason = p.WaitReason.NO_STREAM if self.tree.source is None else self.wait_reason(key)
            actions.append(Send(key, p.Waiting(reason=reason)))
        return None, actions

    def leave(
        self, key: str, now_s: float, reason: str = "left", *, declared: bool = False
    ) -> list[Action]:
        """A member is gone (goodbye, closed connection, or `declared` dead by us).

        A member declared dead may still hold its TCP link to its parent (a frozen
        process does), so the parent is told to let it go and free the slot at once.
        """
        member = self.members.pop(key, None)
        if member is None:
            return []
        self.silence.forget(key)
        self.reachability.left(key)
        actions: list[Action] = []
        parent = self.tree[key].parent if key in self.tree else None
        if declared and parent is not None and parent in self.members:
            gone = p.ChildDropped(child=member.name, reason=p.DropReason.GONE, detail=reason)
            actions.append(Send(parent, gone))
        for other in self.members.values():
            if other.claimed_parent == key:
                other.claimed_parent = None
        if key not in self.tree:
            return actions
        was_source = self.tree.source == key
        orphans = self.tree.remove(key)
        if was_source:
            self.stream_key = None
            ended = p.StreamEnded(source=member.name, epoch=self.epoch, reason=reason)
            actions.append(Broadcast(ended))
            for orphan in orphans:
                actions.append(Send(orphan, p.Waiting(reason=p.WaitReason.STREAM_ENDED)))
        else:
            actions += self._rescue(orphans, now_s)
        actions += self._settle(now_s)
        return actions

    def heartbeat(self, key: str, beat: p.Heartbeat, now_s: float) -> list[Action]:
        """A member is alive and reports its statistics.

        A heartbeat may still arrive from a session the Room already declared dead (its
        Close is being carried out): it is ignored, and the peer registers again.
        """
        member = self.members.get(key)
        if member is None:
            return []
        member.last_seen_s = now_s
        member.stats = beat.stats
        if beat.stats.recv_fps > 0:
            member.video_s = now_s
        member.resolution = beat.stats.resolution
        actions: list[Action] = []
        if key in self.tree:
            self.tree[key].latency_ms = beat.stats.latency_ms
            self._set_slots(key, beat.stats.slots)
            actions += self._watch_video(key, now_s)
        server_ns = int((now_s + self.wall_offset_s) * 1e9)
        ack = Send(key, p.HeartbeatAck(seq=beat.seq, server_time_ns=max(0, server_ns)))
        # The first heartbeat comes after the peer took in its Welcome: it holds the
        # admission key a probe asks it to prove, so the first check starts here.
        probe = self.reachability.due(key, member.name, now_s)
        return [ack, *actions] if probe is None else [ack, probe, *actions]

    def _watch_video(self, key: str, now_s: float) -> list[Action]:
        """No new children for a viewer that shows no video; those waiting are placed
        once it has video again."""
        node = self.tree[key]
        if node.is_source:
            return []
        was_dark = node.dark
        self.tree.set_dark(key, node.depth is not None and self.members[key].shows_no_video(now_s))
        return self._settle(now_s) if was_dark and not node.dark else []

    def _set_slots(self, key: str, slots: int | None) -> None:
        """A peer measured the child slots its upload serves (peer/capacity.py): use them."""
        if slots is None or key in self.trust.distrusted:
            return
        node = self.tree[key]
        self.tree.set_measured(key)
        member = self.members[key]
        member.max_children = slots
        capacity = self._capacity(member)
        if capacity != node.capacity:
            self.tree.set_capacity(key, capacity)  # a new version: waiting viewers are placed

    def check_requested(
        self, key: str, now_s: float, *, mapped_port: int | None = None
    ) -> list[Action]:
        """The peer asks to be dialled again: a port was opened, or its router now maps
        `mapped_port` to it (0: no longer maps one), which is then checked at once."""
        member = self.members.get(key)
        if member is None:
            return []
        if mapped_port is not None and (mapped_port or None) != member.mapped_port:
            member.mapped_port = mapped_port or None
            self.reachability.moved(key, member.checked_port)
        probe = self.reachability.due(key, member.name, now_s, asked=True)
        return [probe] if probe is not None else []

    def probed(self, key: str, nonce: str, answer: ProbeAnswer, now_s: float) -> list[Action]:
        """A probe of `key` ended: record it, tell the peer, and give or take its slots."""
        member = self.members.get(key)
        check = self.reachability.finished(key, nonce, answer, member)
        if member is None or check is None:
            return []
        told = p.Reachability(
            reachable=bool(check.reachable), address=check.address, detail=check.detail
        )
        actions: list[Action] = [Send(key, told)]
        if key in self.tree:
            version = self.tree.version
            self.tree.set_dialable(key, self.reachability.allows_children(key))
            capacity = self._capacity(member)
            if self.tree[key].capacity != capacity:
                self.tree.set_capacity(key, capacity)
            if self.tree.version != version:
                actions += self._settle(now_s)
        return actions

    def probe_skipped(self, key: str, nonce: str) -> None:
        """A probe could not be started (the tracker is busy): the next heartbeat retries."""
        self.reachability.skipped(key, nonce)

    def seen(self, key: str, now_s: float) -> None:
        """Any message from a member counts as a sign of life."""
        member = self.members.get(key)
        if member is not None:
            member.last_seen_s = now_s

    def parent_lost(self, key: str, lost: p.ParentLost, now_s: float) -> list[Action]:
        """A viewer lost its parent; it may already have switched to its backup."""
        if key not in self.tree or self.tree[key].is_source:
            return []
        actions = self._tamper_report(key, lost, now_s)
        if actions:
            return actions
        node = self.tree[key]
        switched = name_key(lost.switched_to) if lost.switched_to is not None else None
        if switched is not None and node.parent == switched:
            return self._settle(now_s)  # we had moved it to that backup already
        if node.parent is not None and node.parent != name_key(lost.parent):
            if node.depth is None:
                return self._settle(now_s)  # its subtree waits for a place as a whole
            # We already placed it elsewhere (and told it): say so again; it follows us.
            return [*self._assign(key, now_s), *self._settle(now_s)]
        if (
            switched is not None
            and self._can_adopt(switched, key)
            and self.tree.fits(key, switched)
        ):
            self.tree.detach(key)
            self.tree.attach(key, switched)
            return self._settle(now_s)
        lost_key = name_key(lost.parent)
        if lost.reason is p.LossReason.SILENT and self._declares_gone(key, lost_key, now_s):
            reason = SILENT_REASON
            gone = self.leave(lost_key, now_s, reason=reason, declared=True)
            return [Close(lost_key, reason), *gone]
        punched = (
            node.parent == lost_key and self.tree.indirect_link(lost_key, key) is p.LinkKind.PUNCHED
        )
        self.tree.detach(key)
        recheck: list[Action] = []
        if punched and lost.reason is p.LossReason.UNREACHABLE:
            self.tree.punch_failed(lost_key, key)  # their routers do not let it through
        elif lost_key in self.tree:  # alive to us, but not to the viewer: keep them apart
            self.trust.avoid(key, lost_key, now_s)
            parent = self.members.get(lost_key)
            if lost.reason is p.LossReason.UNREACHABLE and parent is not None:
                probe = self.reachability.due(lost_key, parent.name, now_s, asked=True)
                recheck = [probe] if probe is not None else []
        return recheck + self._place([key], now_s) + self._settle(now_s)

    def _declares_gone(self, reporter: str, parent: str, now_s: float) -> bool:
        """Whether `reporter`'s word that `parent` went silent settles it (tracker/silence.py)."""
        member = self.members.get(parent)
        if member is None or parent not in self.tree or self.tree[parent].is_source:
            return False  # a stalled source would end the stream: the heartbeat rule decides
        interval_s = self.heartbeat_interval_s
        last_seen_s = member.last_seen_s
        return self.silence.report(
            reporter, parent, now_s, parent_last_seen_s=last_seen_s, heartbeat_interval_s=interval_s
        )

    def _tamper_report(self, key: str, lost: p.ParentLost, now_s: float) -> list[Action]:
        """Count a report of tampered frames; distrust the parent once enough peers agree.

        Returns the actions of distrusting it (its children, the reporter among them,
        re-placed), or [] when the report changes nothing yet.
        """
        offender = name_key(lost.parent)
        if lost.reason is not p.LossReason.TAMPERED or offender not in self.tree:
            return []
        if self.tree[offender].is_source:
            return []  # the source signs its own frames; a bad one means a broken link
        if not self.trust.report_tamper(key, offender, now_s):
            return []
        orphans = list(self.tree[offender].children)
        for child in orphans:
            self.tree.detach(child)
            self.trust.avoid(child, offender, now_s)
        self.tree.set_capacity(offender, 0)
        self.members[offender].max_children = 0
        self.backups.withdraw(offender)
        return self._place(orphans, now_s) + self.refresh_backups(now_s) + self._settle(now_s)

    def child_dropped(self, key: str, dropped: p.ChildDropped, now_s: float) -> list[Action]:
        """A parent cut a child off (stalled, misbehaving, overloaded); place it elsewhere."""
        child = name_key(dropped.child)
        # A parent whose measured upload cannot carry all its children: its capacity
        # drops to the children it keeps.
        if dropped.reason is p.DropReason.OVERLOADED and key in self.tree:
            self._shrink_capacity(key, child)
        if child not in self.tree or self.tree[child].parent != key:
            return []
        self.tree.detach(child)
        self.trust.avoid(child, key, now_s)
        return self._place([child], now_s) + self._settle(now_s)

    def _shrink_capacity(self, key: str, dropped_child: str) -> None:
        """Lower a parent's capacity to the children it keeps (not below what it has)."""
        node = self.tree[key]
        kept = sum(1 for child in node.children if child != dropped_child)
        if kept < node.capacity:
            self.tree.set_capacity(key, kept)
            self.members[key].max_children = kept

    def tick(self, now_s: float) -> list[Action]:
        """Periodic duties: declare silent members dead, end recovery, renew backups."""
        deadline = now_s - self.heartbeat_interval_s * self.missed_heartbeats
        actions: list[Action] = []
        for key in [k for k, m in self.members.items() if m.last_seen_s < deadline]:
            actions.append(Close(key, MISSED_HEARTBEATS_REASON))
            actions += self.leave(key, now_s, reason=MISSED_HEARTBEATS_REASON, declared=True)
        settle = self.tree.version != self._settled_version or self.trust.avoiding()
        if not self._recovery_over and not self._recovering(now_s):
            self._recovery_over = settle = True
            for member in self.members.values():
                member.claimed_parent = None
        self.backups.expire_old_tokens(now_s, self._wall_s(now_s))  # renewed just below
        self.silence.forget_old(now_s)
        if settle:  # scanning for waiting viewers is O(N): only when something changed
            actions += self._settle(now_s)
            self._settled_version = self.tree.version
            # After a restart the tree is put back as the peers say it was: reshaping
            # it before all are back would hand their slots to others (and move them).
            if self.tree.placement is Placement.CAPACITY and self._recovery_over:
                # One lift a tick; it changes the tree, so the next tick looks again.
                avoid = self.avoided(now_s)
                lifted = self.tree.promote(avoid=avoid) or self.tree.raise_deep(avoid=avoid)
                if lifted:  # a move may free a slot for somebody waiting
                    actions += self._assign_all(lifted, now_s)
                    actions += self._settle(now_s)
        actions += self.refresh_backups(now_s)
        return actions

    # -- queries -----------------------------------------------------------------------

    def status(self) -> p.StatusReply:
        """A snapshot of the swarm for `streamnest-peer status`."""
        return status_reply(self.members, self.tree, self.epoch, self.reachability)

    def _welcome(self, member: Member, observed_host: str | None) -> p.Welcome:
        source = member.name if member.role == "source" else self.source_name()
        return p.Welcome(
            protocol_version=p.PROTOCOL_VERSION,
            name=member.name,
            heartbeat_interval_ms=round(self.heartbeat_interval_s * 1000),
            admission_key=member.admission_key,
            source=source,
            epoch=self.epoch,
            observed_host=observed_host,
        )
