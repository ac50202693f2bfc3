"""The Ansible inventory of a stack, generated from its design (never edited by hand).

inventory/<stack>/hosts.yml lists every node once under `gpu_nodes` (in design order, so
rolling batches follow scalable units and racks) and groups them by hall, scalable unit,
rack, catalog model and role (`nvswitch` for boards whose GPUs hang off NVSwitches).
inventory/<stack>/host_vars/<node>.yml carries the node's addresses, its HCA-to-rail map
and what acceptance expects of it (GPU count and model, rails). Site-wide pins,
thresholds and rolling settings live in inventory/group_vars/all/ (shared by every
stack); inventory/<stack>/defaults.yml carries them into the stack's inventory as the
`all` group's inventory-file vars, so `ansible-playbook -i inventory/<stack>` needs nothing
else, and a stack's own overrides in inventory/<stack>/group_vars/ (carried into each new
inventory) win over them: Ansible ranks inventory group_vars above inventory-file group
vars. (Playbook-adjacent playbooks/group_vars/all would outrank the site's
group_vars/all instead.) `configure` refuses an inventory whose defaults.yml no longer
matches inventory/group_vars/all/ (check_defaults).

For a simulated site, `connection` (the fleet's connection.json: user, key, known_hosts)
adds the SSH settings to the `all` group and marks the nodes as not live (they share the
host's kernel: roles write persistent configuration but load no modules and reboot nothing),
unless the fleet's nodes boot systemd (`"live": true`, infra.sim.live): then the roles
start units, run their handlers and reboot for real.

A Spectrum-X (RoCE v2) design (`design=` with technology spectrum_x) gives each GPU node
`fabric_technology: spectrum_x` and `node_rails`, its routed NICs from the design's L3 plan
(rail, device, address /31, gateway, leaf, leaf_port), in place of the InfiniBand HCA map
(`node_hcas`, and `node_rails` as a count); the `all` group carries the fabric's rail and
loopback supernets (the routes each rail's NIC gets), and a `switches` group lists every
switch with its tier, ASN and loopback, and its management address as ansible_host where
the stack declares addressing.switch_mgmt_cidr (otherwise its name must resolve, or the site sets
it in inventory/<stack>/host_vars). InfiniBand inventories are unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.design.model import Design, NicL3, Node, SmHost
from infra.errors import InputError
from infra.fabric.guids import ca_guid, hex_guid, port_guid
from infra.fsutil import REPO_ROOT, write_output_dir
from infra.sim.hardware import SYSFS_DIR

SPECTRUM_X = "spectrum_x"

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


def roce_host_vars(node: Node, model: NodeModelInfo, nics: Iterable[NicL3]) -> dict:
    """A Spectrum-X node: the InfiniBand host vars less the HCA map, plus its routed NICs."""
    own = host_vars(node, model)
    del own["node_hcas"]
    own["fabric_technology"] = SPECTRUM_X
    own["node_rails"] = [
        {
            "rail": n.rail,
            "device": n.device,
            "address": n.address,
            "gateway": n.gateway,
            "leaf": n.leaf,
            "leaf_port": n.leaf_port,
        }
        for n in sorted(nics, key=lambda n: n.rail)
    ]
    return own


def covering_network(addresses: Iterable[str]) -> str:
    """The smallest IPv4 network holding every address (prefix lengths ignored): the
    supernet a node routes towards the fabric, from the design alone (the spec's pool may be
    larger; routing the used part of it is enough and never reaches outside it)."""
    ints = [int(ipaddress.IPv4Interface(a).ip) for a in addresses]
    if not ints:
        return ""
    low, high = min(ints), max(ints)
    prefix = 32 - (low ^ high).bit_length()
    return str(ipaddress.IPv4Network((low, prefix), strict=False))


def switch_vars(design: Design) -> dict[str, dict]:
    """Switch name -> its inventory vars (tier, ASN, loopback), in design order."""
    l3 = {s.name: s for s in design.switches_l3}
    out = {}
    for sw in design.switches:
        own = l3.get(sw.name)
        out[sw.name] = {
            "switch_name": sw.name,
            "switch_tier": sw.tier,
            "switch_asn": own.asn if own else None,
            "switch_loopback": own.loopback if own else None,
            "node_rack": sw.rack,
        }
        if sw.mgmt_ip:  # addressing.switch_mgmt_cidr: where the switches playbook connects
            out[sw.name]["ansible_host"] = sw.mgmt_ip
    return out


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
    """SSH settings for the simulated site, from the fleet's connection.json; live only
    where the fleet says its nodes boot systemd (infra.sim.live)."""
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
        "supercluster_live_state": bool(connection.get("live", False)),
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


# The project's shared group_vars, relative to the project directory.
SHARED_VARS_DIR = Path("inventory") / "group_vars"
DEFAULTS_FILE = "defaults.yml"
# What Ansible reads from a group_vars directory (ansible.parsing.dataloader: sorted
# names, subdirectories recursed, hidden files and editor backups skipped).
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")


def shared_defaults(project_dir: Path = REPO_ROOT) -> dict:
    """The `all` group's variables from <project>/inventory/group_vars/, merged the way
    Ansible loads them (files in name order, a later file's top-level key replacing an
    earlier one's)."""
    base = Path(project_dir) / SHARED_VARS_DIR
    if not base.is_dir():
        return {}
    others = sorted(
        p.name for p in base.iterdir() if not p.name.startswith(".") and _group_of(p) != "all"
    )
    if others:
        # Only `all` is carried into the stacks' inventories: a group's own shared vars
        # would need a precedence of their own; say so instead of dropping them.
        raise InputError(
            [f"{base / name}: only group_vars/all/ is shared across stacks" for name in others]
        )
    merged: dict = {}
    for path in _vars_files(base):
        data = yaml.safe_load(path.read_text())
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InputError([f"{path}: expected a mapping of variables"])
        merged.update(data)
    return merged


def _group_of(path: Path) -> str:
    return path.name if path.is_dir() else path.name.rsplit(".", 1)[0]


def _vars_files(base: Path) -> list[Path]:
    """The files Ansible's host_group_vars plugin reads for group `all`: the directory
    all/ (recursively), else the first of all, all.yml, all.yaml, all.json."""
    for suffix in _VARS_SUFFIXES:
        path = base / f"all{suffix}"
        if path.is_dir():
            return list(_dir_files(path))
        if path.exists():
            return [path]
    return []


def _dir_files(path: Path) -> Iterable[Path]:
    for name in sorted(p.name for p in path.iterdir()):
        entry = path / name
        if name.startswith(".") or name.endswith("~"):
            continue
        if entry.is_dir():
            if not entry.suffix:
                yield from _dir_files(entry)
        elif entry.is_file() and entry.suffix in _VARS_SUFFIXES:
            yield entry


def render_defaults(stack: str, defaults: Mapping) -> str:
    """inventory/<stack>/defaults.yml: the shared defaults as the `all` group's vars of an
    inventory file of their own (parsed before hosts.yml: the generated file wins a clash)."""
    header = (
        f"# Generated by `supercluster inventory --stack {stack}` from the project's shared\n"
        "# defaults (inventory/group_vars/all/); do not edit: change those, or override them\n"
        f"# for this stack in inventory/{stack}/group_vars/ (which wins over these).\n"
    )
    # Wide lines: a Jinja expression stays on one line, as it was written.
    return header + _dump({"all": {"vars": dict(defaults)}}, width=1000)


def check_defaults(project_dir: Path, inventory_dir: Path) -> None:
    """Refuse an inventory whose defaults.yml is missing or differs from the project's
    shared group_vars now: its playbook runs would use other pins than the project says."""
    path = Path(inventory_dir) / DEFAULTS_FILE
    stack = Path(inventory_dir).name
    again = f"run `supercluster inventory --stack {stack}` again"
    if not path.is_file():
        raise InputError([f"{path}: missing (an inventory from an older supercluster); {again}"])
    doc = yaml.safe_load(path.read_text()) or {}
    carried = ((doc.get("all") or {}).get("vars") or {}) if isinstance(doc, dict) else None
    if carried != shared_defaults(project_dir):
        raise InputError(
            [
                f"{path}: differs from {Path(project_dir) / SHARED_VARS_DIR / 'all'} "
                f"(changed since the inventory was generated); {again}"
            ]
        )


def render(
    stack: str,
    nodes: list[Node],
    models: Mapping[str, NodeModelInfo],
    connection: Mapping | None = None,
    defaults: Mapping | None = None,
    sm_hosts: Iterable[SmHost] = (),
    design: Design | None = None,
) -> dict[str, str]:
    """Relative path -> file text of inventory/<stack>/. Deterministic for a given input.
    `defaults`: the shared group_vars to carry (default: this project's, shared_defaults).
    `sm_hosts`: the design's dedicated subnet managers, the `subnet_managers` group.
    `design`: the whole design `nodes` come from; a Spectrum-X design adds the nodes'
    routed NICs and the `switches` group (without it, or for InfiniBand, nothing changes)."""
    sm_hosts = list(sm_hosts)
    roce = design is not None and design.technology == SPECTRUM_X
    all_vars: dict = {"supercluster_stack": stack}
    if connection is not None:
        all_vars.update(connection_vars(connection))
    nics: dict[str, list[NicL3]] = {}
    switches: dict[str, dict] = {}
    if roce:
        for nic in design.nics_l3:
            nics.setdefault(nic.node, []).append(nic)
        switches = switch_vars(design)
        all_vars["fabric_rail_supernet"] = covering_network(n.address for n in design.nics_l3)
        all_vars["fabric_loopback_supernet"] = covering_network(
            s.loopback for s in design.switches_l3
        )
        if connection is not None:
            # Simulated nodes have no RDMA devices: their hardware fixtures stand a
            # sysfs-like tree here (infra/sim/hardware.py) that the roles read instead.
            all_vars["supercluster_sysfs_root"] = "/" + SYSFS_DIR
    by_group = groups(nodes, models)
    children = {"gpu_nodes": {"hosts": {n.name: None for n in nodes}}}
    for name in sorted(by_group):
        children[name] = {"hosts": dict.fromkeys(by_group[name])}
    if sm_hosts:
        children["subnet_managers"] = {"hosts": {h.name: None for h in sm_hosts}}
    if switches:
        # Cumulus Linux's administrative account; a site's group_vars/switches.yml outranks
        # an inventory file's group vars, so it can name its own.
        children["switches"] = {
            "hosts": dict.fromkeys(switches),
            "vars": {"ansible_user": "cumulus"},
        }
    doc = {"all": {"vars": all_vars, "children": children}}
    header = (
        f"# Generated by `supercluster inventory --stack {stack}` from the design; do not edit.\n"
    )
    files = {
        DEFAULTS_FILE: render_defaults(stack, shared_defaults() if defaults is None else defaults),
        "hosts.yml": header + _dump(doc),
    }
    for node in nodes:
        model = models[node.model]
        base = roce_host_vars(node, model, nics.get(node.name, ())) if roce else None
        own = {**(base or host_vars(node, model)), **mirror_vars(connection)}
        files[f"host_vars/{node.name}.yml"] = header + _dump(own)
    for name, own in switches.items():
        files[f"host_vars/{name}.yml"] = header + _dump(own)
    for host in sm_hosts:
        files[f"host_vars/{host.name}.yml"] = header + _dump(sm_host_vars(host))
    return files


def sm_host_vars(host: SmHost) -> dict:
    """A subnet manager host: its address, and per plane its SM port GUID (the GUID
    plan's; a real site renders its files with --guids-from) and sm_priority. The opensm
    role runs the first plane's SM (`opensm_plane`) from opensm-<host>.conf."""
    ports = [
        {
            "plane": h.plane,
            "device": h.device,
            "port_guid": hex_guid(port_guid(ca_guid(f"{host.name} {h.device}"), 1)),
            "sm_priority": host.sm_priority,
        }
        for h in host.hcas
    ]
    return {
        "ansible_host": host.mgmt_ip,
        "node_rack": host.rack,
        "opensm_plane": ports[0]["plane"] if ports else "",
        "opensm_sm_priority": host.sm_priority,
        "opensm_port_guid": ports[0]["port_guid"] if ports else "",
        "opensm_conf_file": f"opensm-{host.name}.conf",
        "opensm_ports": ports,
    }


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


def _dump(doc: object, width: int = 100) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=width)
