"""Health: a node's facts against what the design and the pins say it must be.

Per host, each check is {"check", "ok", "expected", "actual"}; a host fails when any check
fails. What is expected comes from the design node (its catalog model's GPU count and GPU
model, its HCAs and the rail each serves) and from the pins (driver version).

On a Spectrum-X (RoCE v2) fabric each rail's NIC must also run the Ethernet link layer, carry
a RoCE v2 GID at the configured index, its netdev the configured MTU, and hold the lossless
profile (`mlnx_qos`: trust dscp, PFC on the lossless priority only); nccl.conf must mark
RoCE with that GID index and traffic class. The values are the roce role's
(inventory/group_vars/all/roce.yml, infra/fleet/roce.py). InfiniBand checks are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import load_catalog
from infra.fleet.roce import RoceSettings, load_settings

# nvidia-smi's product_name for each catalog GPU model (as NVML reports it). A model not
# listed here has its GPU count checked but not its name.
GPU_PRODUCT_NAMES = {"H100-SXM5-80GB": "NVIDIA H100 80GB HBM3"}
# NDR: each rail's ConnectX-7 port runs 4 lanes x 100 Gb/s = 400 Gb/s. Source: NVIDIA
# ConnectX-7 InfiniBand adapter cards user manual, "Introduction" (NDR 400Gb/s InfiniBand),
# https://docs.nvidia.com/networking/display/connectx7vpi
DESIGN_RATE_GBPS = 400
PEERMEM = "nvidia_peermem"
SPECTRUM_X = "spectrum_x"


@dataclass(frozen=True)
class Expectation:
    gpus: int
    gpu_name: str | None  # nvidia-smi product_name; None: not checked
    rails: tuple[tuple[int, str], ...]  # (rail, HCA device)
    driver_version: str | None
    rate_gbps: int = DESIGN_RATE_GBPS
    roce: RoceSettings | None = None  # set on a Spectrum-X fabric: the RoCE checks run


def expectation_for(
    node,
    driver_version: str | None,
    technology: str = "infiniband_ndr",
    nics: tuple[tuple[int, str], ...] | None = None,
    roce: RoceSettings | None = None,
) -> Expectation:
    """From a design Node (infra.design.model.Node), the driver pin and the design's fabric
    technology. On spectrum_x the rails are the design's NICs (`nics`: (rail, device) from
    Design.nics_l3; default the node's HCAs) and `roce` the lossless profile (default:
    the project's roce.yml)."""
    model = load_catalog().nodes[node.model]
    rails = tuple((h.rail, h.device) for h in node.hcas)
    if technology == SPECTRUM_X:
        return Expectation(
            gpus=model.gpus,
            gpu_name=GPU_PRODUCT_NAMES.get(model.gpu_model),
            rails=tuple(sorted(nics)) if nics is not None else rails,
            driver_version=driver_version,
            roce=roce or load_settings(),
        )
    return Expectation(
        gpus=model.gpus,
        gpu_name=GPU_PRODUCT_NAMES.get(model.gpu_model),
        rails=rails,
        driver_version=driver_version,
    )


def _check(name: str, ok: bool, expected: object, actual: object) -> dict:
    return {"check": name, "ok": bool(ok), "expected": expected, "actual": actual}


def check_host(facts: dict, exp: Expectation) -> list[dict]:
    checks = _gpu_checks(facts.get("gpu"), facts.get("errors", {}), exp)
    checks += _rail_checks(facts.get("hcas", []), exp)
    if exp.roce is not None:
        checks += _roce_checks(facts.get("roce") or {}, exp)
    modules = facts.get("modules", [])
    checks.append(
        _check("peermem", PEERMEM in modules, f"{PEERMEM} loaded", _loaded(PEERMEM, modules))
    )
    checks.append(_nccl_check(facts.get("nccl_conf"), exp))
    if exp.roce is not None:
        checks.append(_nccl_roce_check(facts.get("nccl_conf"), exp.roce))
    return checks


def _loaded(name: str, modules: list[str]) -> str:
    return "loaded" if name in modules else "not loaded"


def _gpu_checks(gpu: dict | None, errors: dict, exp: Expectation) -> list[dict]:
    if not gpu:
        why = errors.get("nvidia_smi", "no nvidia-smi output")
        return [_check("gpu count", exp.gpus == 0, exp.gpus, f"nvidia-smi failed: {why}")]
    gpus = gpu["gpus"]
    checks = [_check("gpu count", gpu["count"] == exp.gpus, exp.gpus, gpu["count"])]
    if exp.gpu_name:
        names = sorted({g["name"] for g in gpus})
        checks.append(_check("gpu model", names == [exp.gpu_name], exp.gpu_name, names))
    if exp.driver_version:
        checks.append(
            _check(
                "driver version",
                gpu["driver_version"] == exp.driver_version,
                exp.driver_version,
                gpu["driver_version"],
            )
        )
    off = [g["index"] for g in gpus if not g["persistence_mode"]]
    checks.append(_check("persistence mode", not off, "Enabled on all GPUs", _gpus_off(off)))
    no_ecc = [g["index"] for g in gpus if not g["ecc_current"]]
    checks.append(_check("ecc", not no_ecc, "Enabled on all GPUs", _gpus_off(no_ecc)))
    down = [
        f"GPU {g['index']}: {g.get('nvlinks_active', 0)}/{g.get('nvlinks_total', 0)} active"
        for g in gpus
        if not g.get("nvlinks_total") or g["nvlinks_active"] < g["nvlinks_total"]
    ]
    checks.append(_check("nvlink", not down, "all links active", down or "all links active"))
    return checks


def _gpus_off(indexes: list[int]) -> str:
    return f"Disabled on GPU {', '.join(map(str, indexes))}" if indexes else "Enabled on all"


def _rail_checks(hcas: list[dict], exp: Expectation) -> list[dict]:
    ports = {h["device"]: (h["ports"][0] if h.get("ports") else {}) for h in hcas}
    # RoCE NICs run the Ethernet link layer: a port that came up InfiniBand (the firmware's
    # port type) would not reach the Ethernet fabric at all.
    layer = " Ethernet" if exp.roce is not None else ""
    checks = []
    for rail, device in exp.rails:
        port = ports.get(device)
        want = f"{device} Active at {exp.rate_gbps} Gb/s{layer}"
        if port is None:
            checks.append(_check(f"rail {rail}", False, want, f"{device} not present"))
            continue
        state, rate = port.get("state"), port.get("rate_gbps")
        ok = state == "Active" and rate == exp.rate_gbps
        actual = f"{device} {state} at {rate} Gb/s"
        if layer:
            ok = ok and port.get("link_layer") == "Ethernet"
            actual += f" {port.get('link_layer')}"
        checks.append(_check(f"rail {rail}", ok, want, actual))
    return checks


def _roce_checks(nics: dict[str, dict], exp: Expectation) -> list[dict]:
    """Per rail: the GID at the configured index is RoCE v2, the netdev's MTU, and the NIC's
    lossless profile (trust, PFC per priority) as mlnx_qos prints it."""
    s = exp.roce
    assert s is not None
    pfc_want = f"PFC on priority {s.lossless_priority} only"
    checks = []
    for rail, device in exp.rails:
        nic = nics.get(device)
        if nic is None:
            checks.append(
                _check(f"rail {rail} roce", False, f"{device} RoCE port", f"{device} not found")
            )
            continue
        types = nic.get("gid_types") or []
        gid = types[s.gid_index] if s.gid_index < len(types) else ""
        checks.append(
            _check(
                f"rail {rail} gid {s.gid_index}",
                gid == "RoCE v2",
                "RoCE v2",
                f"{device} GID {s.gid_index}: {gid or 'none'}",
            )
        )
        checks.append(
            _check(
                f"rail {rail} mtu",
                nic.get("mtu") == s.mtu,
                s.mtu,
                f"{nic.get('netdev')} {nic.get('mtu')}",
            )
        )
        trust = nic.get("trust")
        checks.append(
            _check(
                f"rail {rail} trust",
                trust == s.trust,
                f"trust {s.trust}",
                f"trust {trust}" if nic.get("qos_output") else "mlnx_qos printed nothing",
            )
        )
        pfc = nic.get("pfc")
        on = [p for p, v in enumerate(pfc or []) if v]
        checks.append(
            _check(
                f"rail {rail} pfc",
                pfc == s.pfc,
                pfc_want,
                f"PFC on priorities {on or 'none'}" if pfc is not None else "no PFC row",
            )
        )
    return checks


def _nccl_roce_check(conf: dict | None, s: RoceSettings) -> dict:
    """nccl.conf on RoCE: the RoCE v2 GID index and the lossless traffic class, no P_Key."""
    want = {"NCCL_IB_GID_INDEX": str(s.gid_index), "NCCL_IB_TC": str(s.traffic_class)}
    expected = ", ".join(f"{k}={v}" for k, v in want.items()) + ", no NCCL_IB_PKEY"
    if conf is None:
        return _check("nccl roce", False, expected, "/etc/nccl.conf missing")
    got = {k: conf.get(k) for k in want}
    ok = got == want and "NCCL_IB_PKEY" not in conf
    actual = ", ".join(f"{k}={v}" for k, v in got.items())
    if "NCCL_IB_PKEY" in conf:
        actual += f", NCCL_IB_PKEY={conf['NCCL_IB_PKEY']}"
    return _check("nccl roce", ok, expected, actual)


def _nccl_check(conf: dict | None, exp: Expectation) -> dict:
    want = sorted(device for _, device in exp.rails)
    expected = f"NCCL_IB_HCA lists {','.join(want)}"
    if conf is None:
        return _check("nccl config", False, expected, "/etc/nccl.conf missing")
    listed = nccl_hcas(conf.get("NCCL_IB_HCA", ""))
    return _check("nccl config", listed == want, expected, f"NCCL_IB_HCA={','.join(listed)}")


def nccl_hcas(value: str) -> list[str]:
    """NCCL_IB_HCA's devices: `=mlx5_0:1,mlx5_1` -> [mlx5_0, mlx5_1] (a leading `=` means
    exact names, `:N` a port). A leading `^` excludes devices: never what a design wants."""
    value = value.strip()
    if value.startswith("^"):
        return [f"^{value[1:]}"]
    return sorted(d.split(":")[0].strip() for d in value.lstrip("=").split(",") if d.strip())
