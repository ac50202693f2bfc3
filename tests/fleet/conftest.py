"""Fleets for the fan-out tests, in their own loopback range (127.0.20.128/25)."""

from __future__ import annotations

import pytest
from fleetutil import running_fleet

from infra.sim.hardware import Hardware

NCCL_CONF = "NCCL_IB_HCA=mlx5_0,mlx5_1,mlx5_2,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7\n"

# node01: a healthy configured node; node02: faults everywhere; node03: plain host.
HARDWARE = {
    "node01": Hardware(nccl_conf=NCCL_CONF),
    "node02": Hardware(
        gpus=7,
        driver_version="535.161.08",
        persistence_mode=False,
        rails_down=(3,),
        rail_rates={5: 200},
        nvlinks_down=((1, 4),),
        modules=("nvidia", "mlx5_core", "mlx5_ib"),
        nccl_conf="NCCL_IB_HCA=mlx5_0,mlx5_1\n",
    ),
}


@pytest.fixture(scope="module")
def fanout_fleet(tmp_path_factory):
    state = tmp_path_factory.mktemp("fleet") / "state"
    with running_fleet(state, 4, network="127.0.20.128/27", hardware=HARDWARE) as fleet:
        yield fleet
