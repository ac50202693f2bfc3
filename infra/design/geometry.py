"""Floor geometry: where racks stand and how long a cable between two of them is."""

from __future__ import annotations

import math

from infra.spec import Cabling


def cable_length_m(
    a: tuple[float, float], b: tuple[float, float], same_rack: bool, cabling: Cabling
) -> float:
    """Cable run between two rack positions: up to the overhead tray at each end, along
    the aisles (Manhattan distance), plus slack; rounded up to the next 0.5 m because
    cables are bought in half-metre steps."""
    if same_rack:
        return cabling.in_rack_m
    run = abs(a[0] - b[0]) + abs(a[1] - b[1]) + 2 * cabling.tray_rise_m
    return math.ceil(run * (1 + cabling.slack_fraction) * 2) / 2
