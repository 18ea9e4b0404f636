"""Screenshots of the desktop app: a streamer and a viewer window, live, under Xvfb.

    python scripts/screenshot_gui.py [--out docs] [--source testsrc] [--seconds 4]

Starts Xvfb at 1280x800 (unless --display names a running X server), a tracker
(`python -m tracker --port 0`), and two app windows in this process, driven through
their real widgets: the streamer logs in and starts the source, the viewer joins and
says hello in the chat. After --seconds of live video it saves gui-streamer.png and
gui-viewer.png (ImageMagick `import`), closes both windows (each leaves the tracker)
and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tkinter as tk
from collections.abc import Callable, Iterator
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peer.gui.guest import run_in_tk  # noqa: E402
from peer.gui.streamer import StreamerScreen  # noqa: E402
from peer.gui.viewer import ViewerScreen  # noqa: E402
from peer.gui.window import App  # noqa: E402

SCREEN = "1280x800x24"
MAX_WINDOW_PX = (1280, 800)
STARTUP_TIMEOUT_S = 10.0
POLL_S = 0.05


@contextlib.contextmanager
def xvfb(screen: str) -> Iterator[str]:
    """A private Xvfb on a free display number (it picks one and tells us: -displayfd)."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed (Debian: apt-get install xvfb)")
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp"]
    server = subprocess.Popen(command, pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise SystemExit("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def tracker() -> Iterator[str]:
    """A tracker on a free loopback port; yields HOST:PORT."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("tracker listening on "):
            raise SystemExit(f"the tracker did not start: {line!r}")
        yield line.removeprefix("tracker listening on ")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


async def until(condition: Callable[[], bool], what: str, within_s: float = 15.0) -> None:
    """Wait for `condition`, or fail saying what did not happen."""
    with trio.move_on_after(within_s):
        while not condition():  # noqa: ASYNC110 (window state, no event to wait on)
            await trio.sleep(POLL_S)
        return
    raise SystemExit(f"{what} did not happen within {within_s} s")


async def capture(app: App, path: Path) -> None:
    """Save the window as a PNG, with only this window shown."""
    app.root.deiconify()
    app.root.geometry("+0+0")
    app.root.lift()
    await trio.sleep(0.5)  # let the window map and draw a few frames
    width, height = app.root.winfo_width(), app.root.winfo_height()
    if width > MAX_WINDOW_PX[0] or height > MAX_WINDOW_PX[1]:
        print(f"warning: {path.name} is {width}x{height}, larger than 1280x800", file=sys.stderr)
    await trio.run_process(["import", "-window", app.root.wm_frame(), str(path)])
    size_kib = (await trio.Path(path).stat()).st_size // 1024
    print(f"{path}: {width}x{height}, {size_kib} KiB", file=sys.stderr)


async def scenario(address: str, source: str, seconds: float, out: Path, config: Path) -> None:
    """Log in a streamer and a viewer, let the video run, and take both screenshots."""
    async with trio.open_nursery() as nursery:
        streamer = App(tk.Tk(), settings_file=config / "streamer.json", port_mapping=False)
        viewer = App(tk.Tk(), settings_file=config / "viewer.json", port_mapping=False)
        for app in (streamer, viewer):
            await nursery.start(app.run)

        login = streamer.login
        login.username.set("cam")
        login.tracker.set(address)
        login.stream_button.invoke()
        await until(lambda: isinstance(streamer.screen, StreamerScreen), "the streamer screen")
        screen = streamer.screen
        assert isinstance(screen, StreamerScreen)
        if source == "testsrc":
            screen.pattern_choice.invoke()
        else:
            screen.path.set(source)
        screen.start_button.invoke()
        await until(lambda: screen.preview.shown_size() is not None, "the streamer preview")

        viewer.root.withdraw()
        login = viewer.login
        login.username.set("alice")
        login.tracker.set(address)
        login.join_button.invoke()
        await until(lambda: isinstance(viewer.screen, ViewerScreen), "the viewer screen")
        watching = viewer.screen
        assert isinstance(watching, ViewerScreen)
        await until(lambda: watching.video.shown_size() is not None, "video in the viewer")
        watching.chat.entry.insert(0, "hello from alice")
        watching.chat.send_line()
        screen.chat.entry.insert(0, "welcome, alice!")
        await until(lambda: "hello from alice" in screen.chat.shown_text(), "the chat line")
        screen.chat.send_line()
        await trio.sleep(seconds)  # live statistics settle (1 s rate windows)

        streamer.root.withdraw()
        await capture(viewer, out / "gui-viewer.png")
        viewer.root.withdraw()
        await capture(streamer, out / "gui-streamer.png")

        for app in (streamer, viewer):
            app.close()
        with trio.fail_after(10):
            for app in (streamer, viewer):
                await app.controller.finished.wait()
        for app in (streamer, viewer):
            app.destroy()


def main(argv: list[str] | None = None) -> int:
    """Parse the options and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go")
    parser.add_argument("--source", default="testsrc", help="testsrc or a video file")
    parser.add_argument("--seconds", type=float, default=4.0, help="live video before the shot")
    parser.add_argument("--display", help="use this running X display instead of Xvfb")
    args = parser.parse_args(argv)
    if shutil.which("import") is None:
        raise SystemExit("ImageMagick's `import` is not installed (apt-get install imagemagick)")
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        display = args.display or stack.enter_context(xvfb(SCREEN))
        os.environ["DISPLAY"] = display
        address = stack.enter_context(tracker())
        config = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        run_in_tk(scenario, address, args.source, args.seconds, args.out.resolve(), config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
