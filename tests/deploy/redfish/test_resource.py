"""BmcRack under Pulumi's mocks (no CLI here): the provider serializes, and the credentials
are registered as secrets."""

from __future__ import annotations

import pulumi
import pytest


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append(args)
        outs = {k: v for k, v in args.inputs.items() if k not in ("username", "password")}
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture
def mocks() -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="supercluster", stack="dev", preview=False)
    return m


@pulumi.runtime.test
def test_bmc_rack_registers_with_secret_credentials(mocks: Mocks):
    from infra.deploy.providers.redfish import BmcRack

    rack = BmcRack(
        "hall1-r01-01-bmcs",
        rack="hall1-r01-01",
        nodes=[{"node": "n1", "address": "127.0.2.1", "url": "https://127.0.2.1", "system": None}],
        username="admin",
        password="pw-mock-0c4f",
        bios={"SriovEnable": "Enabled"},
    )

    def check(args):
        username_secret, password_secret, rack_name = args
        assert username_secret and password_secret
        assert rack_name == "hall1-r01-01"
        (registered,) = mocks.registered
        assert registered.typ == "pulumi-python:dynamic/bmc:BmcRack"
        assert "__provider" in registered.inputs
        assert "pw-mock-0c4f" not in str(registered.inputs["__provider"])

    return pulumi.Output.all(
        pulumi.Output.from_input(rack.username).is_secret(),
        pulumi.Output.from_input(rack.password).is_secret(),
        rack.rack,
    ).apply(check)
