"""The acceptance role's judge: the same facts script, parsers and checks as
`supercluster health` (infra/fleet), fed with the catalogue Ansible resolved from the group
vars (inventory/group_vars/all/thresholds.yml and any stack override). One implementation of
each check, so the playbook and health cannot disagree about what a healthy node is.

The filters run on the controller, in the project's Python (the venv ansible-runner starts),
with the project root on the import path (this file's place in playbooks/roles/).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # imported outside Ansible (tests)
    AnsibleFilterError = ValueError


def _modules():
    try:
        from infra.fleet import catalogue, facts, health, probes, roce
    except ImportError as exc:
        raise AnsibleFilterError(
            f"acceptance needs the supercluster project on the controller ({ROOT}): {exc}"
        ) from exc
    return catalogue, facts, health, probes, roce


def _expectation(settings: dict):
    catalogue, _, health, _, roce = _modules()
    cat = catalogue.from_vars(settings.get("catalogue") or {})
    rails = tuple(sorted((int(h["rail"]), str(h["device"])) for h in settings.get("rails") or []))
    technology = str(settings.get("technology") or "infiniband_ndr")
    settings_roce = None
    if technology == health.SPECTRUM_X:
        r = settings.get("roce") or {}
        settings_roce = roce.RoceSettings(
            trust=str(r.get("trust", "dscp")),
            lossless_priority=int(r.get("lossless_priority", 3)),
            gid_index=int(r.get("gid_index", 3)),
            mtu=int(r.get("mtu", 9000)),
            dscp=int(r.get("dscp", 26)),
        )
    return health.expectation_from(
        gpus=int(settings.get("gpus") or 0),
        gpu_model=str(settings.get("gpu_model") or ""),
        rails=rails,
        driver_version=settings.get("driver_version") or None,
        technology=technology,
        catalogue=cat,
        roce=settings_roce,
    )


def acceptance_script(settings: dict, benchmarks: bool = False, dcgm_level=None) -> str:
    """The node's script: the facts sections, and the benchmarks when asked."""
    _, facts, _, probes, _ = _modules()
    exp = _expectation(settings)
    extra = {}
    if benchmarks:
        extra = probes.benchmark_sections(list(exp.rails), exp.gpus, exp.catalogue, dcgm_level)
    return facts.facts_command(extra)


def acceptance_failures(output: str, host: str, settings: dict) -> list[str]:
    """`<host>: <check>: ...` for each failed check of the node's output."""
    _, facts, health, _, _ = _modules()
    exp = _expectation(settings)
    checks = health.check_host(facts.parse_facts(output), exp)
    return health.acceptance_lines(host, checks)


def acceptance_checks(output: str, settings: dict) -> list[dict]:
    """Every check with its verdict (kept in the run's results for comparison)."""
    _, facts, health, _, _ = _modules()
    return health.check_host(facts.parse_facts(output), _expectation(settings))


def nccl_groups(hosts: list[str], hostvars, scope: str) -> list[list[str]]:
    """The groups of the cross-node all_reduce (probes.nccl_groups) from the inventory."""
    _, _, _, probes, _ = _modules()
    nodes = [
        (h, str(hostvars[h].get("node_su", "")), int(hostvars[h].get("node_index", 0)))
        for h in hosts
    ]
    try:
        return probes.nccl_groups(nodes, str(scope))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def nccl_mpirun(group: list[str], hostvars, gpus, settings: dict) -> list[str]:
    _, _, _, probes, _ = _modules()
    cat = _expectation(settings).catalogue
    addresses = [str(hostvars[h].get("ansible_host", h)) for h in group]
    return probes.mpirun_argv(addresses, int(gpus), sorted(cat.nccl_cross_busbw_gbps_min))


def nccl_cross_failures(result: dict, group: list[str], scope: str, settings: dict) -> list[str]:
    """`<first node>: nccl all_reduce <scope>: ...` when the group's run is below its bar."""
    _, _, health, _, _ = _modules()
    cat = _expectation(settings).catalogue
    check = health.cross_nccl_check(
        str(result.get("stdout", "")), int(result.get("rc", 1)), str(scope), cat
    )
    return health.acceptance_lines(f"{group[0]} (with {', '.join(group[1:])})", [check])


class FilterModule:
    def filters(self):
        return {
            "supercluster_nccl_groups": nccl_groups,
            "supercluster_nccl_mpirun": nccl_mpirun,
            "supercluster_nccl_cross_failures": nccl_cross_failures,
            "supercluster_acceptance_script": acceptance_script,
            "supercluster_acceptance_failures": acceptance_failures,
            "supercluster_acceptance_checks": acceptance_checks,
        }
