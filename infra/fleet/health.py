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
from infra.fleet import catalogue as catalogue_mod
from infra.fleet.catalogue import Catalogue, GpuSpec
from infra.fleet.probes import kernel_at_least, pci_key
from infra.fleet.roce import RoceSettings, load_settings

# The rate an Expectation built by hand (tests, callers without a catalogue) holds rails to:
# NDR, 4 lanes x 100 Gb/s. Built from the design, the rate is the catalogue's for the
# fabric's technology (inventory/group_vars/all/thresholds.yml, acceptance_rail_rate_gbps).
DESIGN_RATE_GBPS = 400
PEERMEM = "nvidia_peermem"
SPECTRUM_X = "spectrum_x"
# DMA-BUF GPUDirect RDMA needs Linux 5.12+ (NCCL_DMABUF_ENABLE, NCCL environment variables,
# https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html) and the open modules.
DMABUF_KERNEL = (5, 12)


@dataclass(frozen=True)
class Expectation:
    gpus: int
    gpu_name: str | None  # nvidia-smi product_name; None: not checked
    rails: tuple[tuple[int, str], ...]  # (rail, HCA device)
    driver_version: str | None
    rate_gbps: int = DESIGN_RATE_GBPS
    roce: RoceSettings | None = None  # set on a Spectrum-X fabric: the RoCE checks run
    # The acceptance catalogue (set by expectation_for): ECC errors, row remap, XIDs, clock
    # events, PCIe, the GPUDirect path, benchmarks. None: the basic checks only, with
    # nvidia_peermem required as before.
    catalogue: Catalogue | None = None
    gpu: GpuSpec | None = None  # the catalog GPU model's spec: power, NVLinks, PCIe, FM


def expectation_for(
    node,
    driver_version: str | None,
    technology: str = "infiniband_ndr",
    nics: tuple[tuple[int, str], ...] | None = None,
    roce: RoceSettings | None = None,
    catalogue: Catalogue | None = None,
) -> Expectation:
    """From a design Node (infra.design.model.Node), the driver pin and the design's fabric
    technology. On spectrum_x the rails are the design's NICs (`nics`: (rail, device) from
    Design.nics_l3; default the node's HCAs) and `roce` the lossless profile (default:
    the project's roce.yml). `catalogue`: the acceptance catalogue (default: the project's
    inventory/group_vars/all)."""
    model = load_catalog().nodes[node.model]
    cat = catalogue or catalogue_mod.load()
    return expectation_from(
        gpus=model.gpus,
        gpu_model=model.gpu_model,
        rails=tuple((h.rail, h.device) for h in node.hcas) if nics is None else tuple(nics),
        driver_version=driver_version,
        technology=technology,
        catalogue=cat,
        roce=(roce or load_settings()) if technology == SPECTRUM_X else None,
    )


def expectation_from(
    *,
    gpus: int,
    gpu_model: str,
    rails: tuple[tuple[int, str], ...],
    driver_version: str | None,
    technology: str,
    catalogue: Catalogue,
    roce: RoceSettings | None,
) -> Expectation:
    """What health (from the design) and the acceptance role (from the inventory's
    node_gpus, node_gpu_model, node_hcas/node_rails and group vars) both expect."""
    spec = catalogue.gpu_models.get(gpu_model)
    return Expectation(
        gpus=gpus,
        gpu_name=spec.product_name if spec else None,
        rails=tuple(sorted(rails)),
        driver_version=driver_version,
        rate_gbps=catalogue.rail_rate(technology),
        roce=roce,
        catalogue=catalogue,
        gpu=spec,
    )


def _check(name: str, ok: bool, expected: object, actual: object) -> dict:
    return {"check": name, "ok": bool(ok), "expected": expected, "actual": actual}


def check_host(facts: dict, exp: Expectation) -> list[dict]:
    checks = _gpu_checks(facts.get("gpu"), facts.get("errors", {}), exp)
    checks += _rail_checks(facts.get("hcas", []), exp)
    if exp.roce is not None:
        checks += _roce_checks(facts.get("roce") or {}, exp)
    modules = facts.get("modules", [])
    if exp.catalogue is None:
        checks.append(
            _check("peermem", PEERMEM in modules, f"{PEERMEM} loaded", _loaded(PEERMEM, modules))
        )
    else:
        checks += catalogue_checks(facts, exp)
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
    spec = exp.gpu
    if spec is not None and spec.nvlinks:
        # The model's link count, every link at its speed (`nvidia-smi nvlink -s`).
        def slow(g: dict) -> bool:
            speeds = g.get("nvlink_speeds") or []
            fast = [s for s in speeds if s is not None and s >= (spec.nvlink_gbps or 0) - 0.01]
            return len(fast) < spec.nvlinks

        down = [
            f"GPU {g['index']}: {g.get('nvlinks_active', 0)}/{spec.nvlinks} up at "
            f"{spec.nvlink_gbps} GB/s"
            for g in gpus
            if slow(g)
        ]
        want = f"{spec.nvlinks} links up at {spec.nvlink_gbps} GB/s per GPU"
        checks.append(_check("nvlink", not down, want, down or "all links up"))
        return checks
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
            check = _check(f"rail {rail}", False, want, f"{device} not present")
            check["details"] = [f"rail {rail} ({device}): HCA missing"]
            checks.append(check)
            continue
        state, rate = port.get("state"), port.get("rate_gbps")
        ok = state == "Active" and rate == exp.rate_gbps
        actual = f"{device} {state} at {rate} Gb/s"
        if layer:
            ok = ok and port.get("link_layer") == "Ethernet"
            actual += f" {port.get('link_layer')}"
        label = f"rail {rail} ({device})"
        details = []
        if state != "Active":
            details.append(f"{label}: port state {state} (expected Active)")
        if rate != exp.rate_gbps:
            details.append(f"{label}: rate {rate} Gb/s (expected {exp.rate_gbps})")
        want_layer = "Ethernet" if layer else "InfiniBand"
        if port.get("link_layer") not in (None, want_layer):
            ok = False
            details.append(f"{label}: link layer {port.get('link_layer')} (expected {want_layer})")
        check = _check(f"rail {rail}", ok, want, actual)
        check["details"] = details
        checks.append(check)
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
        label = f"rail {rail} ({device})"
        if nic is None:
            check = _check(f"rail {rail} roce", False, f"{device} RoCE port", f"{device} not found")
            checks.append(_detail(check, f"{label}: no RoCE netdev found"))
            continue
        netdev = nic.get("netdev")
        types = nic.get("gid_types") or []
        gid = types[s.gid_index] if s.gid_index < len(types) else ""
        check = _check(
            f"rail {rail} gid {s.gid_index}",
            gid == "RoCE v2",
            "RoCE v2",
            f"{device} GID {s.gid_index}: {gid or 'none'}",
        )
        detail = f"{label}: GID {s.gid_index} type {gid or 'none'} (expected RoCE v2)"
        checks.append(_detail(check, detail))
        mtu = nic.get("mtu")
        check = _check(f"rail {rail} mtu", mtu == s.mtu, s.mtu, f"{netdev} {mtu}")
        checks.append(_detail(check, f"{label}: {netdev} MTU {mtu} (expected {s.mtu})"))
        trust = nic.get("trust")
        check = _check(
            f"rail {rail} trust",
            trust == s.trust,
            f"trust {s.trust}",
            f"trust {trust}" if nic.get("qos_output") else "mlnx_qos printed nothing",
        )
        checks.append(_detail(check, f"{label}: {netdev} trust {trust} (expected {s.trust})"))
        pfc = nic.get("pfc")
        on = [p for p, v in enumerate(pfc or []) if v]
        check = _check(
            f"rail {rail} pfc",
            pfc == s.pfc,
            pfc_want,
            f"PFC on priorities {on or 'none'}" if pfc is not None else "no PFC row",
        )
        row = ",".join(map(str, pfc)) if pfc is not None else "unknown"
        want_row = ",".join(map(str, s.pfc))
        detail = (
            f"{label}: {netdev} PFC enabled {row} "
            f"(expected {want_row}: priority {s.lossless_priority} only)"
        )
        checks.append(_detail(check, detail))
    return checks


def _detail(check: dict, line: str) -> dict:
    check["details"] = [line]
    return check


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


# --- the acceptance catalogue's checks ------------------------------------------------------


def catalogue_checks(facts: dict, exp: Expectation) -> list[dict]:
    """The production checks of the catalogue (docs/fleet.md, "Acceptance catalogue")."""
    cat = exp.catalogue
    assert cat is not None
    gpus = (facts.get("gpu") or {}).get("gpus") or []
    checks = []
    if gpus:
        checks += _gpu_health_checks(gpus, cat, exp.gpu)
    if "xids" in facts:
        checks.append(_xid_check(facts["xids"], cat, facts.get("errors", {})))
    if "pci" in facts:
        checks += _pcie_checks(facts, gpus, cat, exp)
    if exp.gpu is not None and exp.gpu.fabric_manager and "fabricmanager" in facts:
        checks.append(_fabric_manager_check(facts["fabricmanager"], gpus))
    checks.append(_gpudirect_check(facts, cat))
    bench = facts.get("bench") or {}
    if "ib_write_bw" in bench:
        checks += _ib_write_bw_checks(bench["ib_write_bw"], cat, exp)
    if "nccl" in bench:
        checks.append(_nccl_bench_check(bench, cat))
    if "dcgm" in bench:
        checks.append(_dcgm_check(bench, cat))
    return checks


def _per_gpu(gpus: list[dict], bad) -> list[str]:
    return [f"GPU {g['index']}: {why}" for g in gpus if (why := bad(g))]


def _gpu_health_checks(gpus: list[dict], cat: Catalogue, spec: GpuSpec | None) -> list[dict]:
    def ecc(g: dict) -> str | None:
        vol, agg = g.get("ecc_volatile_uncorrectable"), g.get("ecc_aggregate_uncorrectable")
        out = []
        if vol is not None and vol > cat.ecc_volatile_uncorrectable_max:
            out.append(f"{vol} volatile uncorrectable")
        if agg is not None and agg > cat.ecc_aggregate_uncorrectable_max:
            out.append(f"{agg} aggregate uncorrectable")
        return ", ".join(out) or None

    def remap(g: dict) -> str | None:
        out = []
        if g.get("row_remap_pending") == "Yes":
            out.append("remap pending")
        if g.get("row_remap_failure") == "Yes":
            out.append("remap failed")
        return ", ".join(out) or None

    def clocks(g: dict) -> str | None:
        bad = [r for r in g.get("clock_events") or [] if r in cat.clock_events_failing]
        return ", ".join(bad) or None

    checks = []
    bad = _per_gpu(gpus, ecc)
    want = (
        f"uncorrectable volatile <= {cat.ecc_volatile_uncorrectable_max}, "
        f"aggregate <= {cat.ecc_aggregate_uncorrectable_max}"
    )
    checks.append(_check("ecc errors", not bad, want, bad or "none"))
    bad = _per_gpu(gpus, remap)
    checks.append(_check("row remap", not bad, "no remap pending or failed", bad or "none"))
    bad = _per_gpu(gpus, clocks)
    want = f"none of {', '.join(cat.clock_events_failing)} active"
    checks.append(_check("clock events", not bad, want, bad or "none active"))
    if spec is not None and spec.power_limit_w:
        limit = spec.power_limit_w

        def power(g: dict) -> str | None:
            got = g.get("power_limit_w")
            return None if got is not None and abs(got - limit) < 1 else f"{got} W"

        bad = _per_gpu(gpus, power)
        checks.append(_check("power limit", not bad, f"{limit:g} W on all GPUs", bad or "ok"))
    return checks


def _xid_check(xids: list[dict] | None, cat: Catalogue, errors: dict) -> dict:
    want = f"at most {cat.xid_max} XID since boot"
    if xids is None:
        return _check("xid", False, want, f"dmesg failed: {errors.get('xid', '')}")
    counted = [x for x in xids if x["xid"] not in cat.xid_ignored]
    actual = [f"Xid {x['xid']} on {x['pci']}" for x in counted] or "none"
    return _check("xid", len(counted) <= cat.xid_max, want, actual)


def _pcie_checks(facts: dict, gpus: list[dict], cat: Catalogue, exp: Expectation) -> list[dict]:
    pci = facts.get("pci")
    checks = []
    spec = exp.gpu
    if gpus and spec is not None and spec.pcie_width:
        want = f"Gen{spec.pcie_gen} x{spec.pcie_width} on all GPUs"
        if pci is None:
            checks.append(_check("gpu pcie", False, want, "lspci failed"))
        else:
            bad = []
            for g in gpus:
                link = pci.get(pci_key(g.get("bus_id", "")), {})
                gen, width = g.get("pcie_max_gen"), link.get("width")
                if width != spec.pcie_width or (spec.pcie_gen and gen != spec.pcie_gen):
                    bad.append(f"GPU {g['index']} ({pci_key(g['bus_id'])}): Gen{gen} x{width}")
            checks.append(_check("gpu pcie", not bad, want, bad or "ok"))
    if cat.hca_pcie_width and exp.rails:
        want = f"Gen{cat.hca_pcie_gen} x{cat.hca_pcie_width} on every rail's HCA"
        where = facts.get("hca_pci") or {}
        if pci is None:
            checks.append(_check("hca pcie", False, want, "lspci failed"))
        else:
            bad = []
            for _, dev in exp.rails:
                addr = (where.get(dev) or {}).get("pci")
                link = pci.get(addr or "", {})
                gen, width = link.get("gen"), link.get("width")
                if addr is None or gen != cat.hca_pcie_gen or width != cat.hca_pcie_width:
                    bad.append(f"{dev} ({addr or 'no PCI function'}): Gen{gen} x{width}")
            checks.append(_check("hca pcie", not bad, want, bad or "ok"))
    return checks


def _fabric_manager_check(state: str, gpus: list[dict]) -> dict:
    """NVSwitch systems: the unit active, and every GPU's fabric registration Completed with
    Success (nvidia-smi -q "Fabric": State, Status)."""
    bad = [
        f"GPU {g['index']}: {g.get('fabric_state')}/{g.get('fabric_status')}"
        for g in gpus
        if g.get("fabric_state") != "Completed" or g.get("fabric_status") not in (None, "Success")
    ]
    ok = state == "active" and not bad
    actual = f"nvidia-fabricmanager {state}" + (f"; {', '.join(bad)}" if bad else "")
    return _check("fabric manager", ok, "nvidia-fabricmanager active; fabric Completed", actual)


def _gpudirect_check(facts: dict, cat: Catalogue) -> dict:
    modules = facts.get("modules", [])
    if cat.rdma_stack == "doca":
        # DOCA-OFED: GPUDirect RDMA through nvidia_peermem (loaded after OFED and the driver).
        return _check(
            "gpudirect",
            PEERMEM in modules,
            f"{PEERMEM} loaded (rdma_stack doca)",
            _loaded(PEERMEM, modules),
        )
    kernel, open_module = facts.get("kernel", ""), facts.get("open_module")
    ok = kernel_at_least(kernel, *DMABUF_KERNEL) and open_module is True
    flavour = {True: "open", False: "proprietary", None: "unknown"}[open_module]
    return _check(
        "gpudirect",
        ok,
        "DMA-BUF: kernel >= 5.12 and the open kernel module (rdma_stack distro)",
        f"kernel {kernel or 'unknown'}, {flavour} kernel module",
    )


def _ib_write_bw_checks(results: dict, cat: Catalogue, exp: Expectation) -> list[dict]:
    checks = []
    for _, dev in exp.rails:
        bw = results.get(dev)
        checks.append(
            _check(
                f"ib_write_bw {dev}",
                bw is not None and bw >= cat.ib_write_bw_gbps_min,
                f">= {cat.ib_write_bw_gbps_min:g} Gb/s",
                f"{bw:g} Gb/s" if bw is not None else "no result",
            )
        )
    return checks


def _nccl_bench_check(bench: dict, cat: Catalogue) -> dict:
    got = bench.get("nccl") or {}
    want = ", ".join(f"{s} B >= {v:g} GB/s" for s, v in sorted(cat.nccl_busbw_gbps_min.items()))
    if bench.get("nccl_error"):
        return _check("nccl all_reduce", False, want, f"failed: {bench['nccl_error']}")
    low = [
        f"{size} B: {got.get(size, 'no result')} GB/s"
        for size, floor in sorted(cat.nccl_busbw_gbps_min.items())
        if got.get(size) is None or got[size] < floor
    ]
    return _check("nccl all_reduce", not low, want, low or "ok")


def _dcgm_check(bench: dict, cat: Catalogue) -> dict:
    rows = bench.get("dcgm") or []
    failed = [f"{name}: {result}" for name, result in rows if result.lower().startswith("fail")]
    ok = bench.get("dcgm_rc") == 0 and bool(rows) and not failed
    if not rows:
        failed = [f"no results: {bench.get('dcgm_error') or 'empty output'}"]
    want = f"dcgmi diag -r {cat.dcgm_diag_level}: every test Pass or Skip"
    return _check("dcgm diag", ok, want, failed or "all passed")


# --- the acceptance role's report -----------------------------------------------------------


def acceptance_lines(host: str, checks: list[dict]) -> list[str]:
    """One line per failed check, as the acceptance role reports: `<host>: <check>: found
    <actual> (expected <expected>)`, or the check's own detail lines where it has them
    (rails: one per wrong property, `rail 3 (mlx5_3): port state Down (expected Active)`)."""
    lines = []
    for c in checks:
        if c["ok"]:
            continue
        default = f"{c['check']}: found {_text(c['actual'])} (expected {c['expected']})"
        lines += [f"{host}: {detail}" for detail in c.get("details") or [default]]
    return lines


def _text(value: object) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


def cross_nccl_check(text: str, rc: int, scope: str, cat: Catalogue) -> dict:
    """all_reduce_perf across a leaf pair or an SU: out-of-place busbw at each gated size."""
    from infra.fleet.probes import parse_all_reduce

    bars = cat.nccl_cross_busbw_gbps_min
    bench = {"nccl": parse_all_reduce(text) if rc == 0 else {}, "nccl_error": None}
    if rc != 0:
        bench["nccl_error"] = next((ln for ln in text.splitlines() if ln.strip()), f"rc {rc}")
    check = _nccl_bench_check(bench, Catalogue(nccl_busbw_gbps_min=bars))
    check["check"] = f"nccl all_reduce {scope}"
    return check
