"""Stack presets for `supercluster init`.

superpod: a DGX SuperPOD H100-style cluster (NVIDIA RA-11333-001): SUs of 32 DGX H100
(4 per rack, 8 racks per SU, air-cooled), one rail-optimized NDR plane. In the 1-4 SU
designs the UFM appliance takes one node slot (31, 63, 95, 127 nodes), as in the RA's
Table 4; larger PODs follow the RA's scaling tables (2 tiers to 8 SUs, 3 tiers beyond)
and carry no UFM slot in the compute fabric. Halls hold 16 SUs (one row each).
"""

from __future__ import annotations

import math

import yaml

from infra.errors import InputError

SUS_PER_HALL = 16
ROW_PITCH_M = 2.4  # rack depth plus aisle: one hot/cold aisle pair per row


def _hall(index: int, sus: int) -> dict:
    rows = [
        {
            "name": f"su{index * SUS_PER_HALL + r + 1:02d}",
            "x_m": 0.0,
            "y_m": round(r * ROW_PITCH_M, 3),
            "racks": 8,
            "rack_type": "dgx-h100",
            "network_racks": 1,
        }
        for r in range(sus)
    ]
    return {
        "name": f"hall{index + 1}",
        "x_m": index * 30.0,
        "y_m": 0.0,
        "spine_area": {"x_m": 0.0, "y_m": round(sus * ROW_PITCH_M + 2.0, 3)},
        "rows": rows,
    }


def superpod(sus: int, stack: str) -> str:
    if not 1 <= sus <= 64:
        raise InputError([f"--sus: {sus} is outside 1-64 scalable units"])
    halls = [
        _hall(i, min(SUS_PER_HALL, sus - i * SUS_PER_HALL))
        for i in range(math.ceil(sus / SUS_PER_HALL))
    ]
    # Air-cooled DGX H100 halls run at a higher PUE than liquid-cooled ones.
    it_mw = sus * 0.32  # 32 x 8.7 kW expected plus switches, per SU
    fabric = {
        "technology": "infiniband_ndr",
        "su_nodes": 32,
        "tiers": "auto",
        "planes": "single",
        "switch": "QM9700",
        "split_mode": "ndr400",
    }
    if sus <= 4:
        fabric["ufm"] = {"ports": 4}
    if sus > 8:
        fabric["core_area"] = {
            "hall": "hall1",
            "x_m": 15.0,
            "y_m": round(min(sus, SUS_PER_HALL) * ROW_PITCH_M + 8.0, 3),
        }
    spec = {
        "site": {"name": stack, "location": f"DGX SuperPOD H100, {sus} SU"},
        "power": {
            "utility_contract_mw": round(math.ceil(it_mw * 1.35 * 1.25 * 10) / 10, 1),
            "target_pue": 1.35,
        },
        "cooling": {
            "water_class": "W17",
            "supply_temp_c": 15,
            "capacity_mw": round(math.ceil(it_mw * 1.25 * 10) / 10, 1),
        },
        "rack_types": [
            {
                "name": "dgx-h100",
                "node": "DGX-H100",
                "nodes": 4,
                "first_node_u": 3,
                "cdu": "none",
                "pdu_model": "PDU-415V-60A-3P",
                "pdus_per_feed": 2,
            }
        ],
        "halls": halls,
        "fabric": fabric,
        "addressing": {"mgmt_cidr": "127.32.0.0/16", "bmc_cidr": "127.33.0.0/16"},
    }
    header = (
        f"# DGX SuperPOD H100-style stack, {sus} scalable unit(s), written by "
        f"`supercluster init --preset superpod --sus {sus}`.\n"
    )
    return header + yaml.safe_dump({"config": {"supercluster:cluster": spec}}, sort_keys=False)


PRESETS = {"superpod": superpod}
