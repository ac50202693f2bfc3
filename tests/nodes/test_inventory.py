"""The inventory generator and the rolling-batch plan, on the dev stack's real design."""

from __future__ import annotations

import yaml

from infra.catalog import load_catalog
from infra.cli import main
from infra.commands.configure import parse_extra_vars
from infra.design import compile_design
from infra.nodes import configure, inventory
from infra.spec import load_spec


def _render(project_dir):
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    models = inventory.models_from_catalog(load_catalog())
    return design, inventory.render("dev", list(design.nodes), models)


def test_groups_and_host_vars_come_from_the_design(project_dir):
    design, files = _render(project_dir)
    doc = yaml.safe_load(files["hosts.yml"])
    children = doc["all"]["children"]
    names = [n.name for n in design.nodes]
    assert list(children["gpu_nodes"]["hosts"]) == names  # design order: batches follow SUs
    assert list(children["su_su001"]["hosts"]) == names
    assert list(children["nvswitch"]["hosts"]) == names  # HGX H100 8-GPU SXM boards
    racks = {g for g in children if g.startswith("rack_")}
    assert racks == {inventory.group_name("rack", n.rack) for n in design.nodes}
    assert "hall_hall1" in children and "model_hgx_h100_lc_4u" in children
    node = design.nodes[9]
    hv = yaml.safe_load(files[f"host_vars/{node.name}.yml"])
    assert hv["ansible_host"] == node.mgmt_ip and hv["node_bmc_ip"] == node.bmc_ip
    assert hv["node_index"] == 9 and hv["node_gpus"] == 8
    assert [(h["rail"], h["device"], h["leaf"]) for h in hv["node_hcas"]] == [
        (h.rail, h.device, h.leaf) for h in node.hcas
    ]
    # No connection settings and nothing marked not-live for a real site.
    assert doc["all"]["vars"] == {"supercluster_stack": "dev"}


def test_rendering_is_deterministic(project_dir):
    assert _render(project_dir)[1] == _render(project_dir)[1]


def test_sim_connection_marks_nodes_not_live():
    conn = {"user": "root", "port": 22, "private_key": "/k", "known_hosts": "/kh"}
    v = inventory.connection_vars(conn)
    assert v["ansible_ssh_private_key_file"] == "/k"
    assert "UserKnownHostsFile=/kh" in v["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in v["ansible_ssh_common_args"]
    assert v["supercluster_live_state"] is False


def test_write_replaces_the_directory_and_keeps_site_group_vars(tmp_path):
    out = tmp_path / "inv"
    inventory.write(out, {"hosts.yml": "a\n", "host_vars/old.yml": "x\n"})
    (out / "group_vars" / "all").mkdir(parents=True)
    (out / "group_vars" / "all" / "site.yml").write_text("k: v\n")
    inventory.write(out, {"hosts.yml": "b\n", "host_vars/new.yml": "y\n"})
    assert (out / "hosts.yml").read_text() == "b\n"
    assert not (out / "host_vars" / "old.yml").exists()
    assert (out / "group_vars" / "all" / "site.yml").read_text() == "k: v\n"
    # No temp dirs left behind; the lock file stays (see infra/fsutil.py).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".inv.lock", "inv"]


def test_inventory_command_writes_the_stack(project_dir, tmp_path, capsys):
    rc = main(["inventory", "--stack", "dev", "--project-dir", str(project_dir),
               "--out", str(tmp_path / "dev")])  # fmt: skip
    assert rc == 0
    assert len(list((tmp_path / "dev" / "host_vars").iterdir())) == 32
    assert "32 hosts" in capsys.readouterr().out


def test_batches_canary_then_one_per_unit():
    hosts = [f"n{i}" for i in range(7)]
    unit = {h: ("su1" if i < 4 else "su2") for i, h in enumerate(hosts)}
    assert configure.batch_sizes(hosts, unit, canary=1) == [1, 3, 3]
    assert configure.batch_sizes(hosts, unit, canary=0) == [4, 3]
    assert configure.batch_sizes(hosts[:1], unit, canary=1) == [1]


def test_batch_plan_follows_the_limit(project_dir, tmp_path):
    _, files = _render(project_dir)
    inventory.write(tmp_path / "dev", files)
    sources = [tmp_path / "dev"]  # the generated inventory alone, as configure passes it
    settings = {"by": "su", "canary": 1, "max_fail_percentage": 10}
    assert configure.plan_batches(sources, None, settings) == (32, [1, 31])
    assert configure.plan_batches(sources, "rack_hall1_r01_02", settings) == (8, [1, 7])
    rack = {**settings, "by": "rack"}
    assert configure.plan_batches(sources, None, rack) == (32, [1, 7, 8, 8, 8])


def test_rolling_settings_from_group_vars(project_dir):
    assert configure.rolling_settings(project_dir) == {
        "by": "su",
        "canary": 1,
        "max_fail_percentage": 10,
    }


def test_extra_vars_parsing():
    assert parse_extra_vars(["a=1", '{"b": [1, 2]}']) == {"a": "1", "b": [1, 2]}
