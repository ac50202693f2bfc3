"""The inventory of a Spectrum-X design: routed NICs per node, the fabric's supernets, the
switches group; an InfiniBand design's inventory is the same with or without `design=`."""

from __future__ import annotations

import pytest
import yaml
from roceutil import PROJECT_DIR, spectrum_x_design, spectrum_x_spec

from infra.catalog import load_catalog
from infra.design import compile_design
from infra.nodes import inventory
from infra.spec import load_spec

MODELS = inventory.models_from_catalog(load_catalog())


def test_spectrum_x_nodes_get_their_routed_nics():
    design = spectrum_x_design()
    files = inventory.render("roce", list(design.nodes), MODELS, design=design)
    node = design.nodes[5]
    hv = yaml.safe_load(files[f"host_vars/{node.name}.yml"])
    assert hv["fabric_technology"] == "spectrum_x"
    assert "node_hcas" not in hv  # no IPoIB/HCA map on Ethernet
    nics = [n for n in design.nics_l3 if n.node == node.name]
    assert [r["rail"] for r in hv["node_rails"]] == list(range(8))
    assert hv["node_rails"][3] == {
        "rail": 3,
        "device": "mlx5_3",
        "address": nics[3].address,
        "gateway": nics[3].gateway,
        "leaf": nics[3].leaf,
        "leaf_port": nics[3].leaf_port,
    }
    # A /31 per NIC: the leaf side even, the NIC odd.
    for rail in hv["node_rails"]:
        host, prefix = rail["address"].split("/")
        assert prefix == "31"
        assert int(host.rsplit(".", 1)[1]) == int(rail["gateway"].rsplit(".", 1)[1]) + 1
    doc = yaml.safe_load(files["hosts.yml"])
    allv = doc["all"]["vars"]
    assert allv["fabric_rail_supernet"] == "127.74.0.0/23"  # 256 NICs x /31 = 512 addresses
    assert allv["fabric_loopback_supernet"].startswith("127.72.0.")
    assert "supercluster_sysfs_root" not in allv  # a real site reads /sys


def test_switches_group_lists_tier_asn_and_loopback():
    design = spectrum_x_design()
    files = inventory.render("roce", list(design.nodes), MODELS, design=design)
    children = yaml.safe_load(files["hosts.yml"])["all"]["children"]
    assert list(children["switches"]["hosts"]) == [s.name for s in design.switches]
    l3 = design.switches_l3[0]
    sv = yaml.safe_load(files[f"host_vars/{l3.name}.yml"])
    assert sv["switch_tier"] == "leaf"
    assert (sv["switch_asn"], sv["switch_loopback"]) == (l3.asn, l3.loopback)
    assert "ansible_host" not in sv  # the design has no switch management address


def test_sim_inventory_points_roles_at_the_fixture_sysfs():
    design = spectrum_x_design()
    conn = {"user": "root", "port": 22, "private_key": "/k", "known_hosts": "/kh"}
    files = inventory.render("roce", list(design.nodes[:2]), MODELS, conn, design=design)
    allv = yaml.safe_load(files["hosts.yml"])["all"]["vars"]
    assert allv["supercluster_sysfs_root"] == "/usr/share/supercluster-sim/sys"


def test_infiniband_inventory_is_unchanged_by_the_design_argument(project_dir):
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    before = inventory.render("dev", list(design.nodes), MODELS)
    assert inventory.render("dev", list(design.nodes), MODELS, design=design) == before
    assert "switches" not in yaml.safe_load(before["hosts.yml"])["all"]["children"]


def test_inventory_command_writes_the_routed_nics_of_a_spectrum_x_stack(tmp_path):
    """`supercluster inventory --stack S` (no --sim) on a Spectrum-X stack: the design's
    L3 plan reaches the files, as `ansible-playbook -i inventory/S` will read them."""
    from infra.cli import main

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    doc = {"config": {"supercluster:cluster": spectrum_x_spec()}}
    (tmp_path / "Pulumi.rx.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "inv"
    argv = ["inventory", "--stack", "rx", "--project-dir", str(tmp_path), "--out", str(out)]
    assert main(argv) == 0
    first = sorted((out / "host_vars").iterdir())[0]
    hv = yaml.safe_load(first.read_text())
    assert hv["fabric_technology"] == "spectrum_x"
    assert [r["rail"] for r in hv["node_rails"]] == list(range(8))
    assert "switches" in yaml.safe_load((out / "hosts.yml").read_text())["all"]["children"]


def test_switches_get_management_addresses_from_their_pool():
    """addressing.switch_mgmt_cidr: one out-of-band address per switch in design order,
    the switches playbook's ansible_host; a pool too small or overlapping is refused."""
    from infra.errors import InputError
    from infra.spec import parse_spec

    spec = spectrum_x_spec()
    spec["addressing"]["switch_mgmt_cidr"] = "127.73.0.0/29"
    design = compile_design(parse_spec(spec), stack="roce")
    assert [s.mgmt_ip for s in design.switches] == [f"127.73.0.{i}" for i in range(1, 7)]
    files = inventory.render("roce", list(design.nodes[:1]), MODELS, design=design)
    sw = design.switches[0]
    hv = yaml.safe_load(files[f"host_vars/{sw.name}.yml"])
    assert hv["ansible_host"] == "127.73.0.1"
    group = yaml.safe_load(files["hosts.yml"])["all"]["children"]["switches"]
    assert group["vars"] == {"ansible_user": "cumulus"}
    spec["addressing"]["switch_mgmt_cidr"] = "127.73.0.0/30"  # 2 hosts for 6 switches
    with pytest.raises(InputError, match=r"addressing.switch_mgmt_cidr.*6 switches"):
        compile_design(parse_spec(spec), stack="roce")
    spec["addressing"]["switch_mgmt_cidr"] = "127.72.0.0/28"  # inside the loopback pool
    with pytest.raises(InputError, match=r"switch_mgmt_cidr 127\.72\.0\.0/28 overlap"):
        parse_spec(spec)
