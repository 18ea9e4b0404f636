"""Home uplinks for simulated viewers (`--upload-mix`), and what the tree made of them. Pure.

`--upload-mix 5:0.3,20:0.4,100:0.3` gives 30% of the viewers a 5 Mb/s uplink, 40% one of
20 Mb/s and 30% one of 100 Mb/s. Each viewer's cap is enforced in its own send path
(peer/upload_limit.py, the same code as `--upload-limit`), so a viewer given more
children than its uplink carries starves them exactly as a real one would. The shares
are dealt in blocks of MIX_BLOCK viewers, shuffled with the run's seed: every block
holds the mix's proportions, and the same seed gives every viewer the same uplink in
every run (so two placements compare on the same swarm).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import attrs

MIX_BLOCK = 20


class MixError(ValueError):
    """An --upload-mix that does not parse; the message says why."""


@attrs.frozen
class Uplink:
    """One class of uplink in the mix."""

    mbps: float
    share: float

    @property
    def kbps(self) -> float:
        """The cap in kb/s."""
        return self.mbps * 1000


def parse_mix(text: str) -> list[Uplink]:
    """`MBPS:SHARE,...` into uplinks; shares must add up to 1 (within 1%)."""
    mix: list[Uplink] = []
    for item in text.split(","):
        mbps_text, colon, share_text = item.partition(":")
        try:
            mbps, share = float(mbps_text), float(share_text)
        except ValueError:
            raise MixError(f"{item!r} is not MBPS:SHARE") from None
        if not colon or not (0.1 <= mbps <= 100_000) or not (0 < share <= 1):
            raise MixError(f"{item!r}: MBPS from 0.1, SHARE in (0, 1]")
        mix.append(Uplink(mbps=mbps, share=share))
    if abs(sum(u.share for u in mix) - 1) > 0.01:
        raise MixError(f"the shares add up to {sum(u.share for u in mix):g}, not 1")
    return mix


def deal(mix: Sequence[Uplink], seed: int) -> list[Uplink]:
    """One block of MIX_BLOCK uplinks in the mix's proportions, shuffled with `seed`."""
    counts = [round(u.share * MIX_BLOCK) for u in mix]
    counts[counts.index(max(counts))] += MIX_BLOCK - sum(counts)  # rounding goes to the largest
    block = [u for u, count in zip(mix, counts, strict=True) for _ in range(count)]
    random.Random(seed).shuffle(block)
    return block


def uplink_for(index: int, block: Sequence[Uplink]) -> Uplink:
    """The uplink of the `index`-th viewer to join."""
    return block[index % len(block)]


def by_uplink(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per uplink class of the viewers present at the end: how many, their mean depth,
    and the child slots they offered and filled."""
    classes: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("uplink_kbps") is not None and row["how_left"] is None:
            classes.setdefault(row["uplink_kbps"], []).append(row)
    summary = []
    for kbps, members in sorted(classes.items()):
        depths = [r["depth"] for r in members if r["depth"] is not None and r["parent"]]
        summary.append(
            {
                "uplink_kbps": kbps,
                "viewers": len(members),
                "mean_depth": round(sum(depths) / len(depths), 2) if depths else None,
                "slots": sum(int(r["slots"] or 0) for r in members),
                "children": sum(int(r["children"] or 0) for r in members),
            }
        )
    return summary
