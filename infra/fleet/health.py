"""Health: a node's facts against what the design and the pins say it must be.

Per host, each check is {"check", "ok", "expected", "actual"}; a host fails when any check
fails. What is expected comes from the design node (its catalog model's GPU count and GPU
model, its HCAs and the rail each serves) and from the pins (driver version).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import load_catalog

# nvidia-smi's product_name for each catalog GPU model (as NVML reports it). A model not
# listed here has its GPU count checked but not its name.
GPU_PRODUCT_NAMES = {"H100-SXM5-80GB": "NVIDIA H100 80GB HBM3"}
# NDR: each rail's ConnectX-7 port runs 4 lanes x 100 Gb/s = 400 Gb/s. Source: NVIDIA
# ConnectX-7 InfiniBand adapter cards user manual, "Introduction" (NDR 400Gb/s InfiniBand),
# https://docs.nvidia.com/networking/display/connectx7vpi
DESIGN_RATE_GBPS = 400
PEERMEM = "nvidia_peermem"


@dataclass(frozen=True)
class Expectation:
    gpus: int
    gpu_name: str | None  # nvidia-smi product_name; None: not checked
    rails: tuple[tuple[int, str], ...]  # (rail, HCA device)
    driver_version: str | None
    rate_gbps: int = DESIGN_RATE_GBPS


def expectation_for(node, driver_version: str | None) -> Expectation:
    """From a design Node (infra.design.model.Node) and the driver pin."""
    model = load_catalog().nodes[node.model]
    return Expectation(
        gpus=model.gpus,
        gpu_name=GPU_PRODUCT_NAMES.get(model.gpu_model),
        rails=tuple((h.rail, h.device) for h in node.hcas),
        driver_version=driver_version,
    )


def _check(name: str, ok: bool, expected: object, actual: object) -> dict:
    return {"check": name, "ok": bool(ok), "expected": expected, "actual": actual}


def check_host(facts: dict, exp: Expectation) -> list[dict]:
    checks = _gpu_checks(facts.get("gpu"), facts.get("errors", {}), exp)
    checks += _rail_checks(facts.get("hcas", []), exp)
    modules = facts.get("modules", [])
    checks.append(
        _check("peermem", PEERMEM in modules, f"{PEERMEM} loaded", _loaded(PEERMEM, modules))
    )
    checks.append(_nccl_check(facts.get("nccl_conf"), exp))
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
    checks = []
    for rail, device in exp.rails:
        port = ports.get(device)
        want = f"{device} Active at {exp.rate_gbps} Gb/s"
        if port is None:
            checks.append(_check(f"rail {rail}", False, want, f"{device} not present"))
            continue
        state, rate = port.get("state"), port.get("rate_gbps")
        ok = state == "Active" and rate == exp.rate_gbps
        checks.append(_check(f"rail {rail}", ok, want, f"{device} {state} at {rate} Gb/s"))
    return checks


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
