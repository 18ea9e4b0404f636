"""Entry point of `streamnest-peer gui`: a Tk window hosting one trio run (guest mode).

Tkinter is imported only here, when the app opens, so a Python without it (or a
machine without a display) gets one plain line from the command line, not a traceback.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import trio

from peer.errors import PeerError

if TYPE_CHECKING:
    from peer.gui.window import App

EXIT_INTERRUPTED = 130


async def serve_window(app: App) -> None:
    """Run the window's trio side; Ctrl-C or SIGTERM closes it as its close button does."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def close_on_signal() -> None:
                async for _ in signals:
                    app.close()

            nursery.start_soon(close_on_signal)
            await app.run()
            nursery.cancel_scope.cancel()


def run_app(*, port_mapping: bool = True) -> int:
    """Open the desktop app and return the exit status when its window closes;
    `port_mapping`: its peers ask the home router to forward a port to them."""
    try:
        import tkinter as tk

        from peer.gui.guest import TkGuestHost
        from peer.gui.window import App
    except ImportError as exc:
        raise PeerError(
            f"the desktop app needs Tkinter ({exc}); on Debian or Ubuntu: apt install python3-tk"
        ) from None
    try:
        root = tk.Tk(className="StreamNest")
    except tk.TclError as exc:
        raise PeerError(f"cannot open a window: {exc}") from None
    app = App(root, port_mapping=port_mapping)
    host = TkGuestHost(root)
    host.start(serve_window, app, done=lambda _outcome: app.destroy())
    root.mainloop()
    if host.outcome is None:
        return 1
    try:
        host.outcome.unwrap()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0
