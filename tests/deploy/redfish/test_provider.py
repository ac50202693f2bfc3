"""BmcRackProvider's create/read/diff/update/delete, called directly against the running
sushy-emulator (the Pulumi CLI is not available here; the engine would call the same
methods)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import dill
import pytest
import sushy
from bmcsite import BIOS, Site, grep_tree
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from infra.deploy.providers import redfish_ops as ops
from infra.deploy.providers.redfish import BmcRackProvider


def rack_props(site: Site) -> dict:
    return {
        "rack": "r01",
        "nodes": [
            {"node": e.node, "address": e.address, "url": e.url, "system": e.system}
            for e in (site.endpoint(n) for n in site.nodes)
        ],
        "power": "On",
        "boot_target": "Pxe",
        "boot_mode": "Once",
        "bios": dict(BIOS),
        "verify_tls": True,
        "ca_bundle": site.emulator.ca_bundle,
        "power_wait_s": 30,
        "username": site.emulator.username,
        "password": site.password,
    }


def configured_provider(site: Site) -> BmcRackProvider:
    provider = BmcRackProvider()
    config = Config(
        {
            "supercluster:bmcUsername": site.emulator.username,
            "supercluster:bmcPassword": site.password,
        },
        project_name="supercluster",
    )
    provider.configure(ConfigureRequest(config))
    return provider


def system(site: Site, index: int):
    """The node's system through a separate sushy client: changes made behind the
    provider's back."""
    endpoint = site.endpoint(site.nodes[index])
    root = sushy.Sushy(
        endpoint.url,
        auth=sushy.auth.BasicAuth(site.emulator.username, site.password),
        verify=site.emulator.ca_bundle,
    )
    return root.get_system(f"/redfish/v1/Systems/{endpoint.system}")


def wait_power(sys_, want: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sys_.refresh(force=True)
        if sys_.power_state.value == want:
            return
        time.sleep(0.5)
    raise AssertionError(f"power never reached {want}")


@pytest.mark.integration
def test_lifecycle_converges_detects_drift_and_never_leaks_credentials(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = configured_provider(site)
    props = rack_props(site)
    written: dict[str, object] = {}

    assert provider.check({}, props).failures == []
    created = provider.create(props)
    written["create"] = created.outs
    assert created.id == "bmc-rack-r01"
    for node in site.nodes:
        state = created.outs["state"][node.name]
        assert state["power"] == "On"
        assert (state["boot_target"], state["boot_mode"]) == ("Pxe", "Once")
        assert state["bios"] == BIOS
    # The BMC itself (not the provider's word) says so.
    assert system(site, 0).power_state == sushy.PowerState.ON
    assert system(site, 0).bios.attributes["SriovEnable"] == "Enabled"

    assert provider.diff(created.id, created.outs, props).changes is False

    # Drift behind the provider's back: node 1's boot override and a BIOS value, node 2 off.
    sys1 = system(site, 1)
    sys1.set_system_boot_options(
        target=sushy.BootSource.HDD, enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS
    )
    sys1.bios.set_attributes({"SriovEnable": "Disabled"})
    sys2 = system(site, 2)
    sys2.reset_system(sushy.ResetType.FORCE_OFF)
    wait_power(sys2, "Off")

    read = provider.read(created.id, created.outs)
    written["read"] = read.outs
    assert read.outs["state"]["r01-n01"]["boot_target"] == "Hdd"
    assert read.outs["state"]["r01-n01"]["bios"]["SriovEnable"] == "Disabled"
    assert read.outs["state"]["r01-n02"]["power"] == "Off"
    assert read.outs["state"]["r01-n00"]["power"] == "On"

    diff = provider.diff(created.id, read.outs, props)
    assert diff.changes is True and diff.replaces == []
    drift = provider.drift(props)
    written["drift"] = drift
    assert set(drift) == {"r01-n01", "r01-n02"}
    assert drift["r01-n01"]["boot_target"] == ["Pxe", "Hdd"]
    assert drift["r01-n01"]["boot_mode"] == ["Once", "Continuous"]
    assert drift["r01-n01"]["bios.SriovEnable"] == ["Enabled", "Disabled"]
    assert drift["r01-n02"] == {"power": ["On", "Off"]}

    updated = provider.update(created.id, read.outs, props)
    written["update"] = updated.outs
    assert updated.outs["state"]["r01-n02"]["power"] == "On"
    assert provider.drift(props) == {}
    assert provider.diff(created.id, updated.outs, props).changes is False

    # Changing the desired state is an update that converges too.
    props_continuous = {**props, "boot_mode": "Continuous"}
    assert provider.diff(created.id, updated.outs, props_continuous).changes is True
    provider.update(created.id, updated.outs, props_continuous)
    assert system(site, 0).boot.enabled == sushy.BootSourceOverrideEnabled.CONTINUOUS

    # Delete stops managing; nothing physical changes.
    assert provider.delete(created.id, updated.outs) is None
    assert system(site, 0).power_state == sushy.PowerState.ON

    # Credentials never in outputs, the state we would persist, logs or the emulator's files.
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(written, indent=2, sort_keys=True))
    for outs in (created.outs, read.outs, updated.outs):
        assert "password" not in outs and "username" not in outs
    assert grep_tree(tmp_path, site.password) == []
    assert site.password not in caplog.text
    captured = capsys.readouterr()
    assert site.password not in captured.out + captured.err
    assert (site.state_dir / "bmc" / "credentials.json").stat().st_mode & 0o077 == 0


def test_check_rejects_bad_inputs() -> None:
    props = {
        "rack": "r01",
        "nodes": [{"node": "n1", "address": "127.0.31.9"}],
        "power": "Sleep",
        "boot_target": "Floppy",
        "boot_mode": "Sometimes",
        "username": "admin",
    }
    failures = {f.property: f.reason for f in BmcRackProvider().check({}, props).failures}
    assert set(failures) == {"power", "boot_target", "boot_mode", "nodes[0]", "password"}
    assert "url" in failures["nodes[0]"]


def test_serialized_provider_carries_no_credentials() -> None:
    """Pulumi pickles the provider (dill) into the state; configured credentials must not
    travel with it."""
    provider = BmcRackProvider()
    provider.configure(
        ConfigureRequest(
            Config(
                {"supercluster:bmcPassword": "s3cret-xyz", "supercluster:bmcUsername": "admin"},
                "supercluster",
            )
        )
    )
    blob = dill.dumps(provider)
    assert b"s3cret-xyz" not in blob
    assert isinstance(dill.loads(blob), BmcRackProvider)


def test_read_without_credentials_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPERCLUSTER_BMC_USERNAME", raising=False)
    monkeypatch.delenv("SUPERCLUSTER_BMC_PASSWORD", raising=False)
    outs = {"rack": "r01", "nodes": [{"node": "n", "address": "a", "url": "https://a"}]}
    with pytest.raises(Exception, match="no BMC credentials"):
        BmcRackProvider().read("bmc-rack-r01", outs)


def test_drift_ignores_a_once_override_that_was_used_up() -> None:
    want = ops.Desired(power="On", boot_target="Pxe", boot_mode="Once", bios={})
    used = ops.NodeState("n", "a", "On", "Pxe", "Disabled", {})
    assert ops.drift(want, used) == {}
    other = ops.NodeState("n", "a", "On", "Hdd", "Continuous", {})
    assert set(ops.drift(want, other)) == {"boot_target", "boot_mode"}
