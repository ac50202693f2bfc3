"""The Ansible inventory of a stack, generated from its design (never edited by hand).

inventory/<stack>/hosts.yml lists every node once under `gpu_nodes` (in design order, so
rolling batches follow scalable units and racks) and groups them by hall, scalable unit,
rack, catalog model and role (`nvswitch` for boards whose GPUs hang off NVSwitches).
inventory/<stack>/host_vars/<node>.yml carries the node's addresses, its HCA-to-rail map
and what acceptance expects of it (GPU count and model, rails). Site-wide pins,
thresholds and rolling settings live in inventory/group_vars/ (shared by every stack);
a stack's own overrides in inventory/<stack>/group_vars/, carried into each new inventory.

For a simulated site, `connection` (the fleet's connection.json: user, key, known_hosts)
adds the SSH settings to the `all` group and marks the nodes as not live (they share the
host's kernel: roles write persistent configuration but load no modules and reboot nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.design.model import Node
from infra.fsutil import write_output_dir

# Boards whose GPUs talk over NVSwitch need NVIDIA's fabric manager: the 8-GPU SXM
# baseboards (HGX/DGX H100). PCIe cards and 4-GPU boards use direct NVLink or none.
NVSWITCH_MIN_GPUS = 8


@dataclass(frozen=True)
class NodeModelInfo:
    """What the inventory needs from the catalog about a node model."""

    gpus: int
    gpu_model: str
    rails: int


def group_name(kind: str, value: str) -> str:
    """A valid Ansible group name: `su_su001`, `rack_hall1_r01_01`, `model_hgx_h100_lc_4u`."""
    return f"{kind}_" + re.sub(r"[^a-z0-9_]", "_", value.lower())


def is_nvswitch(model: NodeModelInfo) -> bool:
    return model.gpus >= NVSWITCH_MIN_GPUS and "SXM" in model.gpu_model.upper()


def host_vars(node: Node, model: NodeModelInfo) -> dict:
    return {
        "ansible_host": node.mgmt_ip,
        "node_index": node.index,
        "node_hall": node.hall,
        "node_su": node.su,
        "node_rack": node.rack,
        "node_slot": node.slot,
        "node_model": node.model,
        "node_mgmt_ip": node.mgmt_ip,
        "node_bmc_ip": node.bmc_ip,
        "node_gpus": model.gpus,
        "node_gpu_model": model.gpu_model,
        "node_rails": model.rails,
        "node_hcas": [
            {
                "rail": h.rail,
                "device": h.device,
                "plane": h.plane,
                "leaf": h.leaf,
                "leaf_port": h.leaf_port,
            }
            for h in sorted(node.hcas, key=lambda h: h.rail)
        ],
    }


def groups(nodes: Iterable[Node], models: Mapping[str, NodeModelInfo]) -> dict[str, list[str]]:
    """Group name -> host names, hosts in design order within each group."""
    out: dict[str, list[str]] = {}
    for node in nodes:
        model = models[node.model]
        names = [
            group_name("hall", node.hall),
            group_name("su", node.su),
            group_name("rack", node.rack),
            group_name("model", node.model),
        ]
        if is_nvswitch(model):
            names.append("nvswitch")
        for name in names:
            out.setdefault(name, []).append(node.name)
    return out


def connection_vars(connection: Mapping) -> dict:
    """SSH settings for the simulated site, from the fleet's connection.json."""
    ssh_args = (
        f"-o UserKnownHostsFile={connection['known_hosts']} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes"
    )
    return {
        # Also as an inventory variable, which outranks the environment: ansible-runner
        # exports ANSIBLE_HOST_KEY_CHECKING=False unless told otherwise, and with it Mitogen
        # would put `StrictHostKeyChecking no` ahead of the options below.
        "ansible_host_key_checking": True,
        "ansible_user": connection.get("user", "root"),
        "ansible_port": int(connection.get("port", 22)),
        "ansible_ssh_private_key_file": connection["private_key"],
        "ansible_ssh_common_args": ssh_args,
        "supercluster_live_state": False,
    }


def mirror_vars(connection: Mapping | None) -> dict:
    """The simulated site's vendor mirror, as host vars: inventory group_vars/all (the
    site's mirror.yml) would outrank the generated file's `all` vars."""
    mirror = (connection or {}).get("mirror")
    if not mirror:
        return {}
    # Unsigned stand-in packages: no keyring, so the role marks the source trusted.
    return {
        "vendor_repo_url": mirror["url"],
        "vendor_repo_suite": mirror["suite"],
        "vendor_repo_keyring": "",
    }


def render(
    stack: str,
    nodes: list[Node],
    models: Mapping[str, NodeModelInfo],
    connection: Mapping | None = None,
) -> dict[str, str]:
    """Relative path -> file text of inventory/<stack>/. Deterministic for a given input."""
    all_vars: dict = {"supercluster_stack": stack}
    if connection is not None:
        all_vars.update(connection_vars(connection))
    by_group = groups(nodes, models)
    children = {"gpu_nodes": {"hosts": {n.name: None for n in nodes}}}
    for name in sorted(by_group):
        children[name] = {"hosts": dict.fromkeys(by_group[name])}
    doc = {"all": {"vars": all_vars, "children": children}}
    header = (
        f"# Generated by `supercluster inventory --stack {stack}` from the design; do not edit.\n"
    )
    files = {"hosts.yml": header + _dump(doc)}
    for node in nodes:
        own = {**host_vars(node, models[node.model]), **mirror_vars(connection)}
        files[f"host_vars/{node.name}.yml"] = header + _dump(own)
    return files


def models_from_catalog(catalog) -> dict[str, NodeModelInfo]:
    return {
        name: NodeModelInfo(gpus=m.gpus, gpu_model=m.gpu_model, rails=m.rails)
        for name, m in catalog.nodes.items()
    }


# What the site adds to a generated inventory and keeps across runs: per-stack group_vars.
SITE_OWNED = ("group_vars",)


def write(
    out_dir: Path,
    files: Mapping[str, str],
    stack: str | None = None,
    protect: tuple[Path, ...] = (),
) -> Path:
    """Replace inventory/<stack>/ as a whole (infra/fsutil.write_output_dir): a failure
    or a kill leaves the old inventory whole, no stale host_vars survive, and the site's
    group_vars are carried over into the new one (a file generated there wins)."""
    command = f"inventory --stack {stack}" if stack else "inventory"
    return write_output_dir(out_dir, files, command=command, keep=SITE_OWNED, protect=protect)


def _dump(doc: object) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)
