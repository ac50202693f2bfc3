"""The acceptance catalogue: the checks a node must pass and their bars, one file for both
`supercluster health` and the acceptance role (inventory/group_vars/all/thresholds.yml, then a
stack's inventory/<stack>/group_vars/all/*.yml winning, as Ansible reads group vars).

Ansible receives the same values as group vars and hands them to the role's filter
(playbooks/roles/acceptance/filter_plugins), which builds the same Catalogue from them with
`from_vars`: the two paths judge a node with one set of bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.errors import InputError
from infra.fsutil import REPO_ROOT

CATALOGUE_FILE = Path("inventory") / "group_vars" / "all" / "thresholds.yml"
RDMA_STACKS = ("distro", "doca")


@dataclass(frozen=True)
class GpuSpec:
    """What one catalog GPU model reports and is held to."""

    product_name: str | None = None
    power_limit_w: float | None = None
    nvlinks: int | None = None
    nvlink_gbps: float | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None
    fabric_manager: bool = False


@dataclass(frozen=True)
class Catalogue:
    checks: tuple[str, ...] = ()
    gpu_models: dict[str, GpuSpec] = field(default_factory=dict)
    rail_rate_gbps: dict[str, int] = field(default_factory=lambda: {"infiniband_ndr": 400})
    hca_pcie_gen: int | None = 5
    hca_pcie_width: int | None = 16
    ecc_volatile_uncorrectable_max: int = 0
    ecc_aggregate_uncorrectable_max: int = 0
    xid_max: int = 0
    xid_ignored: tuple[int, ...] = ()
    clock_events_failing: tuple[str, ...] = (
        "hw_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
        "sw_thermal_slowdown",
    )
    ib_write_bw_gbps_min: float = 375
    ib_write_bw_message_bytes: int = 8388608
    ib_write_bw_seconds: int = 5
    ib_write_bw_port_base: int = 18515
    nccl_busbw_gbps_min: dict[int, float] = field(default_factory=dict)
    nccl_cross_busbw_gbps_min: dict[int, float] = field(default_factory=dict)
    dcgm_diag_level: int = 1
    rdma_stack: str = "distro"

    def rail_rate(self, technology: str) -> int:
        return int(self.rail_rate_gbps.get(technology, 400))


def from_vars(values: dict) -> Catalogue:
    """A Catalogue from the variables (the file's names, `acceptance_` prefix, and
    `rdma_stack`): what Ansible hands the role's filter and what load() reads."""
    base = Catalogue()

    def get(name: str, default):
        value = values.get(f"acceptance_{name}", default)
        return default if value is None else value

    try:
        models = {
            str(name): GpuSpec(**(spec or {}))
            for name, spec in (get("gpu_models", {}) or {}).items()
        }
        pcie = get("hca_pcie", {}) or {}
        stack = str(values.get("rdma_stack", base.rdma_stack))
        if stack not in RDMA_STACKS:
            raise InputError([f"rdma_stack: must be one of {', '.join(RDMA_STACKS)}, not {stack}"])
        return Catalogue(
            checks=tuple(str(c["name"]) for c in get("checks", [])),
            gpu_models=models,
            rail_rate_gbps={str(k): int(v) for k, v in get("rail_rate_gbps", {}).items()}
            or base.rail_rate_gbps,
            hca_pcie_gen=pcie.get("gen"),
            hca_pcie_width=pcie.get("width"),
            ecc_volatile_uncorrectable_max=int(get("ecc_volatile_uncorrectable_max", 0)),
            ecc_aggregate_uncorrectable_max=int(get("ecc_aggregate_uncorrectable_max", 0)),
            xid_max=int(get("xid_max", 0)),
            xid_ignored=tuple(int(x) for x in get("xid_ignored", [])),
            clock_events_failing=tuple(
                str(r) for r in get("clock_events_failing", base.clock_events_failing)
            ),
            ib_write_bw_gbps_min=float(get("ib_write_bw_gbps_min", base.ib_write_bw_gbps_min)),
            ib_write_bw_message_bytes=int(
                get("ib_write_bw_message_bytes", base.ib_write_bw_message_bytes)
            ),
            ib_write_bw_seconds=int(get("ib_write_bw_seconds", base.ib_write_bw_seconds)),
            ib_write_bw_port_base=int(get("ib_write_bw_port_base", base.ib_write_bw_port_base)),
            nccl_busbw_gbps_min={
                int(k): float(v) for k, v in get("nccl_busbw_gbps_min", {}).items()
            },
            nccl_cross_busbw_gbps_min={
                int(k): float(v) for k, v in get("nccl_cross_busbw_gbps_min", {}).items()
            },
            dcgm_diag_level=int(get("dcgm_diag_level", 1)),
            rdma_stack=stack,
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InputError([f"acceptance catalogue: {exc}"]) from exc


def load(project_dir: Path = REPO_ROOT, stack: str | None = None) -> Catalogue:
    """The catalogue as Ansible sees it: every inventory/group_vars/all/*.yml, then the
    stack's inventory/<stack>/group_vars/all/*.yml (later files win, key by key)."""
    values: dict = {}
    bases = [Path(project_dir) / "inventory"]
    if stack:
        bases.append(Path(project_dir) / "inventory" / stack)
    for base in bases:
        for path in sorted((base / "group_vars" / "all").glob("*.yml")):
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise InputError([f"{path}: expected a mapping of variables"])
            values.update(
                {k: v for k, v in data.items() if k.startswith("acceptance_") or k == "rdma_stack"}
            )
    return from_vars(values)
