"""The churn plan of a simulation: who leaves, who is killed, who joins, and when. Pure."""

from __future__ import annotations

import random

import attrs

KINDS = ("leave", "kill", "join", "kill-relay")


@attrs.frozen
class ChurnEvent:
    """One planned event, `at_s` seconds after the start of the measured run."""

    at_s: float
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    name: str = ""  # empty for kill-relay: the victim is chosen from the live tree then


def plan_churn(
    *,
    viewers: list[str],
    duration_s: float,
    churn_per_min: float,
    kill_relays: int,
    seed: int,
    new_name: str = "late",
) -> list[ChurnEvent]:
    """Events for `churn_per_min` x viewers per minute leaving (half politely, half killed)
    and as many joining, plus `kill_relays` interior relays killed, spread over the run.

    Nothing happens in the first and last 15% of the run, so joins have settled and the
    last departures have recovered before the report.
    """
    rng = random.Random(seed)
    start_s, end_s = 0.15 * duration_s, 0.85 * duration_s
    count = round(churn_per_min * len(viewers) * duration_s / 60)
    alive = list(viewers)
    events: list[ChurnEvent] = []
    times = sorted(rng.uniform(start_s, end_s) for _ in range(count))
    for index, at_s in enumerate(times):
        if not alive:
            break
        victim = alive.pop(rng.randrange(len(alive)))
        events.append(ChurnEvent(at_s, "leave" if index % 2 == 0 else "kill", victim))
        newcomer = f"{new_name}{index:04d}"
        events.append(ChurnEvent(at_s + 0.01, "join", newcomer))
        alive.append(newcomer)
    for index in range(kill_relays):
        at_s = start_s + (end_s - start_s) * (index + 1) / (kill_relays + 1)
        events.append(ChurnEvent(at_s, "kill-relay"))
    return sorted(events, key=lambda e: e.at_s)
