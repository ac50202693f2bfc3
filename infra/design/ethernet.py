"""The Spectrum-X (RoCE v2 Ethernet) fabric: a rail-optimized Clos of SN5600 switches.

Port naming is the contract every consumer (NVUE rendering, the FRR simulation, LLDP
validation, the node inventory) shares, so it lives here beside the planner.
"""

from __future__ import annotations

# A leaf's 32 NIC-facing cages are each split into 2 x 400G (logical ports 1-64); its
# other 32 cages are 800G uplinks (logical ports 65-96). Spines and cores use all 64
# cages at 800G.
LEAF_DOWN_CAGES = 32
LEAF_DOWN_PORTS = 2 * LEAF_DOWN_CAGES  # 64 x 400G
LEAF_UP_PORTS = 32  # 32 x 800G
LEAF_PORTS = LEAF_DOWN_PORTS + LEAF_UP_PORTS  # 96 logical ports


def port_name(tier: str, port: int) -> str:
    """Cumulus Linux interface name of a 1-based logical port: leaf ports 1-64 are the
    breakout lanes swp1s0, swp1s1, ... swp32s1; leaf ports 65-96 are swp33..swp64; spine
    and core ports 1-64 are swp1..swp64."""
    if tier == "leaf":
        if 1 <= port <= LEAF_DOWN_PORTS:
            return f"swp{(port - 1) // 2 + 1}s{(port - 1) % 2}"
        if LEAF_DOWN_PORTS < port <= LEAF_PORTS:
            return f"swp{port - LEAF_DOWN_PORTS + LEAF_DOWN_CAGES}"
    elif tier in ("spine", "core") and 1 <= port <= 64:
        return f"swp{port}"
    raise ValueError(f"no port {port} on a Spectrum-X {tier}")
