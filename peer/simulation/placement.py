"""Where a simulation runs each viewer, and whether it decodes. Pure."""

from __future__ import annotations

import attrs


@attrs.frozen
class Placement:
    """Where the simulation runs a viewer, and what it does with the frames."""

    worker: int
    decode: bool
    resolution: str


def place_viewer(index: int, workers: int, decode_share: float, resolution_mix: str) -> Placement:
    """The `index`-th viewer to join: round-robin over the workers, and every
    1/decode_share-th viewer *of each worker* decodes, so decoding (the dearest work a
    viewer does) is spread evenly; the decoders take the resolutions of the mix in turn."""
    every = max(1, round(1 / decode_share)) if decode_share > 0 else 0
    rank = index // workers  # among this worker's viewers
    decode = bool(every) and rank % every == 0
    mix = resolution_mix.split(",")
    turn = index // (workers * every) if decode else index
    return Placement(worker=index % workers, decode=decode, resolution=mix[turn % len(mix)])
