"""Fixtures for the desktop app: settings kept in the test's own directory, app
controllers in the test's nursery, and a private X display (Xvfb) for real windows."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from peer.gui.controller import AppController
from peer.gui.viewmodel import AppModel

XVFB_SCREEN = "1280x800x24"
XVFB_START_S = 10.0

WindowOpener = Callable[[str], Awaitable[AppController]]


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app remembers its settings under the test's directory, not the user's."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def open_window(nursery: trio.Nursery, tmp_path: Path) -> WindowOpener:
    """A factory: the trio side of a new app window (no display), running in the test."""

    async def open_window(label: str) -> AppController:
        controller = AppController(
            AppModel(), settings_file=tmp_path / f"{label}.json", port_mapping=False
        )
        await nursery.start(controller.run)
        return controller

    return open_window


async def log_in(window: AppController, name: str, address: tuple[str, int], role: str) -> None:
    """Type a name and the tracker on the login screen and press a button."""
    window.model.login.username = name
    window.model.login.tracker = f"{address[0]}:{address[1]}"
    await window.login(role)


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """A private Xvfb display (1280x800) for the whole session; DISPLAY points to it.

    Xvfb picks a free display number itself and writes it to us once it is ready to
    take clients (-displayfd), so there is nothing to guess and nothing to poll.
    """
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb); no real windows")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", XVFB_SCREEN, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = _read_display_number(read_end)
        previous = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = f":{number}"
        try:
            yield f":{number}"
        finally:
            if previous is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = previous
    finally:
        server.terminate()
        try:
            server.wait(timeout=XVFB_START_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _read_display_number(fd: int) -> str:
    """The display number Xvfb writes when ready; fail after XVFB_START_S."""
    import select

    with os.fdopen(fd) as pipe:
        ready, _, _ = select.select([pipe], [], [], XVFB_START_S)
        number = pipe.readline().strip() if ready else ""
    if not number.isdigit():
        pytest.fail(f"Xvfb did not report a display within {XVFB_START_S} s")
    return number
