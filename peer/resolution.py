"""Display resolutions: what a viewer asks for, what size it gets, and how to decode it.

Pure decisions, no I/O (cv2 is imported only for its flag constants). The height rules:
360p, 480p, 720p and 1080p set the height, the width keeps the source's aspect ratio,
rounded to the nearest even number, so a 16:9 source gives 640x360, 854x480, 1280x720 and
1920x1080. A viewer never upscales: asking for more than the stream has shows the stream
as it is. A plan reduces while decoding (OpenCV IMREAD_REDUCED_COLOR_2/4/8, whose output
is ceil(source / factor)) by the largest factor that still leaves at least the target
size, and the caller then resizes with INTER_AREA to the exact target.
"""

from __future__ import annotations

import attrs
import cv2

RESOLUTIONS = ("360p", "480p", "720p", "1080p", "source")
SOURCE_RESOLUTION = "source"
RESOLUTION_HEIGHTS_PX: dict[str, int] = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080}

# Reduced JPEG decode factors OpenCV offers, largest first; 1 means a full decode.
REDUCE_FACTORS = (8, 4, 2)

_IMREAD_FLAGS: dict[int, int] = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class ResolutionError(ValueError):
    """A resolution name that is not one of RESOLUTIONS."""


def parse_resolution(text: str) -> str:
    """Return the canonical resolution name for user input like ' 720P '."""
    name = text.strip().lower()
    if name not in RESOLUTIONS:
        choices = ", ".join(RESOLUTIONS[:-1]) + f" or {RESOLUTIONS[-1]}"
        raise ResolutionError(f"unknown resolution {text.strip()!r}; choose {choices}")
    return name


def target_size(source_width: int, source_height: int, resolution: str) -> tuple[int, int]:
    """Return the (width, height) to display a source at `resolution`, never upscaling."""
    _check_source_size(source_width, source_height)
    name = parse_resolution(resolution)
    if name == SOURCE_RESOLUTION:
        return source_width, source_height
    height = RESOLUTION_HEIGHTS_PX[name]
    if height >= source_height:
        return source_width, source_height
    # Nearest even width to source_width * height / source_height, in integers (halves
    # round up), so 1920x1080 at 480p is 854 wide, not 853 or 852.
    width = (source_width * height + source_height) // (2 * source_height) * 2
    # A very tall, narrow source could round to 0; keep at least one (even if possible) column.
    width = min(max(width, 2), source_width)
    return width, height


@attrs.frozen
class DecodePlan:
    """How to decode one JPEG for display: reduce while decoding, then resize to width x height."""

    reduce_factor: int = attrs.field(validator=attrs.validators.in_((1, 2, 4, 8)))
    width: int
    height: int


def plan_decode(source_width: int, source_height: int, resolution: str) -> DecodePlan:
    """Choose the largest reduced-decode factor that still yields at least the target size."""
    width, height = target_size(source_width, source_height, resolution)
    for factor in REDUCE_FACTORS:
        if _ceil_div(source_width, factor) >= width and _ceil_div(source_height, factor) >= height:
            return DecodePlan(reduce_factor=factor, width=width, height=height)
    return DecodePlan(reduce_factor=1, width=width, height=height)


def imread_flag(factor: int) -> int:
    """Return the cv2.imdecode flag that decodes at 1/factor of the full size."""
    try:
        return _IMREAD_FLAGS[factor]
    except KeyError:
        raise ValueError(f"reduce factor must be 1, 2, 4 or 8, not {factor!r}") from None


def resolution_label(width: int, height: int) -> str:
    """Name a frame size the way users say it: 854x480 is '480p', 800x600 is '600p'."""
    # The label follows the height rule whatever the aspect ratio, so width is not needed.
    return f"{height}p"


def _check_source_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"source size must be at least 1x1, not {width}x{height}")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
