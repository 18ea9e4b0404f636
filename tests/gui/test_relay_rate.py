"""A viewer watching in the desktop app relays to its children as fast as a headless one.

The app runs the peer's trio tasks on the Tk thread (guest mode), so whatever the window
does there per frame is time the relay waits. Here a real app window on a private X
display watches a 1080p30 test pattern at 1080p, while the tracker, the source and the
child the window relays to are processes of their own, as on other computers. Over at
least MEASURED_FRAMES frames of the stream, the child must get nearly every frame the
source sent: the child counts what it received and, by sequence number, what it missed,
so the window closes only when a frame after them has arrived.
"""

from __future__ import annotations

import tkinter as tk
from pathlib import Path

import attrs
import trio

from peer.gui.config import Settings, save_settings
from peer.gui.guest import run_in_tk
from peer.gui.viewer import ViewerScreen
from peer.gui.window import App
from tests.faults.programs import Program, Programs, Stats
from tests.gui.test_windows import log_in
from tests.polling import eventually

PATTERN = "testsrc:1920x1080@30"
WINDOW_NAME = "alice"
WARMUP_FRAMES = 30  # received by the child before the count starts
MEASURED_FRAMES = 150  # 5 s of the stream
FULL_RATE_SHARE = 0.9
# Deadlines: several times what each step takes on a quiet machine.
STEP_S = 20.0
MEASURED_DEADLINE_S = 4 * MEASURED_FRAMES / 30
SCENARIO_S = 120.0
CLOSE_S = 5.0


@attrs.frozen
class RelayCount:
    """What the child got of what the source sent, and what the window drew meanwhile."""

    sent: int  # frames the source sent in the child's sequence range
    got: int
    seconds: float
    drawn: int
    shown_size: tuple[int, int] | None

    def summary(self) -> str:
        """One line for the test's output."""
        return (
            f"the source sent {self.sent} frames in {self.seconds:.2f} s "
            f"({self.sent / self.seconds:.1f} fps); the child got {self.got} "
            f"({100 * self.got / self.sent:.0f}%); the window drew {self.drawn} meanwhile"
        )


def frames_drawn(window: App) -> int:
    """How many frames the window's viewer screen has drawn so far."""
    screen = window.screen
    return screen.video.frames_drawn if isinstance(screen, ViewerScreen) else 0


def seen_so_far(stats: Stats) -> int:
    """Frames the source sent as far as the child knows: received, or missing by number."""
    return int(stats["frames_received"]) + int(stats["frames_lost"])


def test_a_viewer_in_the_app_relaying_1080p30_keeps_its_child_at_full_rate(
    x_display: str, tmp_path: Path
) -> None:
    settings = tmp_path / f"{WINDOW_NAME}.json"
    save_settings(Settings(resolution="1080p"), settings)
    counts: list[RelayCount] = []

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            programs = Programs(nursery)
            try:
                with trio.fail_after(SCENARIO_S):
                    counts.append(await watch_relay_and_count(programs, settings))
            finally:
                with trio.CancelScope(shield=True):
                    await programs.stop_all()
                nursery.cancel_scope.cancel()

    run_in_tk(scenario)
    count = counts[0]
    print("\n" + count.summary())
    assert count.got >= FULL_RATE_SHARE * count.sent, count.summary()
    assert count.drawn > 0, "the window drew frames while relaying"
    assert count.shown_size == (1920, 1080), "drawn at the stream's 1080p"


async def watch_relay_and_count(programs: Programs, settings: Path) -> RelayCount:
    """Watch in a window, have a child join under it, count what reaches the child."""
    _, address = await programs.tracker()
    source = await programs.source(address, "cam", spec=PATTERN, fanout=1)
    async with trio.open_nursery() as nursery:
        window = App(tk.Tk(), settings_file=settings, port_mapping=False)
        await nursery.start(window.run)
        try:
            log_in(window, WINDOW_NAME, address, "join")
            await eventually(
                lambda: frames_drawn(window) > 0, within_s=STEP_S, what="the window drawing"
            )
            # The source's one slot is the window's: the tracker places the child under it.
            child = await programs.viewer(address, "bob", max_children=0, decode=False)
            await eventually(
                lambda: (child.latest() or {}).get("frames_received", 0) >= WARMUP_FRAMES,
                within_s=STEP_S,
                what="the child receiving the stream",
            )
            first = newest(child)
            assert first["parent"] == WINDOW_NAME, "the child is relayed by the window"
            drawn_before = frames_drawn(window)
            await eventually(
                lambda: seen_so_far(newest(child)) - seen_so_far(first) >= MEASURED_FRAMES,
                within_s=MEASURED_DEADLINE_S,
                what=f"the child hearing of {MEASURED_FRAMES} more frames",
            )
            last = newest(child)
            assert last["parent"] == WINDOW_NAME, "still relayed by the window"
            drawn = frames_drawn(window) - drawn_before
            screen = window.screen
            assert isinstance(screen, ViewerScreen)
            shown_size = screen.video.shown_size()
        finally:
            window.close()
            with trio.move_on_after(CLOSE_S):
                await window.controller.finished.wait()
            window.destroy()
            nursery.cancel_scope.cancel()
    assert source.running(), source.tail()
    return RelayCount(
        sent=seen_so_far(last) - seen_so_far(first),
        got=int(last["frames_received"]) - int(first["frames_received"]),
        seconds=float(last["t"]) - float(first["t"]),
        drawn=drawn,
        shown_size=shown_size,
    )


def newest(program: Program) -> Stats:
    """The program's newest statistics line."""
    latest = program.latest()
    assert latest is not None, program.tail()
    return latest
