"""What the desktop app remembers between runs: the last user name, tracker, resolution
and codec.

One small JSON file, $XDG_CONFIG_HOME/streamnest/gui.json (or ~/.config/streamnest/...).
A missing or damaged file means the defaults; a file that cannot be written is not an
error the user has to see (the app just forgets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

import protocol as p
from peer.gui.viewmodel import (
    CODEC_CHOICES,
    DEFAULT_CODEC,
    DEFAULT_RESOLUTION,
    DEFAULT_TRACKER,
    VIEWER_RESOLUTIONS,
)

SETTINGS_FILE = "gui.json"
MAX_SETTINGS_BYTES = 64 * 1024
MAX_FIELD_CHARS = 256


@attrs.frozen
class Settings:
    """The remembered fields of the login, streamer and viewer screens."""

    username: str = ""
    tracker: str = DEFAULT_TRACKER
    resolution: str = DEFAULT_RESOLUTION
    codec: str = DEFAULT_CODEC.label  # the label, as JSON keeps it: "jpeg" or "h264"

    @property
    def chosen_codec(self) -> p.Codec:
        """The codec the streamer screen offers first: the one last streamed with."""
        return p.CODECS_BY_LABEL.get(self.codec, DEFAULT_CODEC)


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the settings live: under $XDG_CONFIG_HOME, else ~/.config."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "streamnest" / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """The remembered settings, or the defaults when there are none (or they are damaged)."""
    path = path or settings_path()
    try:
        with path.open("rb") as file:
            data = json.loads(file.read(MAX_SETTINGS_BYTES))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    defaults = Settings()

    def text(key: str, default: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) and len(value) <= MAX_FIELD_CHARS else default

    resolution = text("resolution", defaults.resolution)
    codec = text("codec", defaults.codec)
    return Settings(
        username=text("username", defaults.username),
        tracker=text("tracker", defaults.tracker) or defaults.tracker,
        resolution=resolution if resolution in VIEWER_RESOLUTIONS else defaults.resolution,
        codec=codec if p.CODECS_BY_LABEL.get(codec) in CODEC_CHOICES else defaults.codec,
    )


def save_settings(settings: Settings, path: Path | None = None) -> bool:
    """Remember `settings` (atomically); False if the file could not be written."""
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(attrs.asdict(settings), indent=2) + "\n")
        partial.replace(path)
    except OSError:
        return False
    return True
