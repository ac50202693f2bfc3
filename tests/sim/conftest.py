"""A small fleet shared by the tests of one module (127.0.20.0/27: the sim tests' range)."""

from __future__ import annotations

import pytest
from fleetutil import running_fleet

from infra.sim.hardware import Hardware


@pytest.fixture(scope="module")
def sim_fleet(tmp_path_factory):
    hardware = {"node02": Hardware(gpus=7, rails_down=(3,))}
    state = tmp_path_factory.mktemp("sim") / "state"
    with running_fleet(state, 4, network="127.0.20.0/27", hardware=hardware) as fleet:
        yield fleet
