"""Small, hand-checkable specs for the design tests."""

from __future__ import annotations

import copy

BASE = {
    "site": {"name": "t", "location": "test"},
    "power": {"utility_contract_mw": 1.0, "target_pue": 1.2},
    "cooling": {"water_class": "W32", "supply_temp_c": 30, "capacity_mw": 1.0},
    "rack_types": [
        {
            "name": "lc",
            "node": "HGX-H100-LC-4U",
            "nodes": 8,
            "first_node_u": 5,
            "cdu": "in_rack",
            "cdu_model": "IRCDU-100",
            "pdu_model": "PDU-415V-60A-3P",
            "pdus_per_feed": 3,
        }
    ],
    "halls": [
        {
            "name": "hall1",
            "spine_area": {"x_m": 0.0, "y_m": 6.0},
            "rows": [
                {
                    "name": "r01",
                    "x_m": 0.0,
                    "y_m": 0.0,
                    "racks": 4,
                    "rack_type": "lc",
                    "network_racks": 1,
                }
            ],
        }
    ],
    "fabric": {"su_nodes": 32},
    "addressing": {"mgmt_cidr": "127.0.1.0/24", "bmc_cidr": "127.0.2.0/24"},
}


def spec_dict(**changes) -> dict:
    """BASE with top-level sections replaced or merged (dicts merge one level deep)."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def rows(n_rows: int, racks: int, network_racks: int = 1, rack_type: str = "lc") -> list[dict]:
    return [
        {
            "name": f"r{i + 1:02d}",
            "x_m": 0.0,
            "y_m": round(2.4 * i, 3),
            "racks": racks,
            "rack_type": rack_type,
            "network_racks": network_racks,
        }
        for i in range(n_rows)
    ]


def hall(name: str, n_rows: int, racks: int, **extra) -> dict:
    return {
        "name": name,
        "spine_area": {"x_m": 0.0, "y_m": round(2.4 * n_rows + 2, 3)},
        "rows": rows(n_rows, racks, extra.pop("network_racks", 1)),
        **extra,
    }
