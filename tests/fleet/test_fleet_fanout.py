"""Facts and health over real SSH against the simulated fleet: parsed facts, health faults,
a frozen sshd that times out, refused host keys, unreachable hosts and refused keys."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from infra.fleet.health import Expectation
from infra.fleet.run import Host, gather, health, summarize
from infra.fleet.ssh import SshOptions
from infra.sim.fleet import Fleet
from infra.sim.keys import ed25519_pair, write_private

EXPECT = Expectation(
    gpus=8,
    gpu_name="NVIDIA H100 80GB HBM3",
    rails=tuple((r, f"mlx5_{r}") for r in range(8)),
    driver_version="550.90.07",
)


def options(fleet: Fleet, **kw) -> SshOptions:
    base = SshOptions(fleet.key_path, fleet.known_hosts, connect_timeout_s=3.0)
    return replace(base, **kw)


def hosts(fleet: Fleet) -> list[Host]:
    return [Host(name, ip) for name, ip in fleet.hosts()]


def by_name(results: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in results}


@pytest.mark.integration
def test_facts_parsed_from_fixture_outputs(fanout_fleet: Fleet):
    results = by_name(gather(hosts(fanout_fleet), options(fanout_fleet), "facts", False))
    assert {r["status"] for r in results.values()} == {"ok"}

    good = results["node01"]["facts"]
    assert good["hostname"] == "node01"
    assert good["os"]["id"] == "debian" and good["kernel"] == os.uname().release
    gpu = good["gpu"]
    assert (gpu["count"], gpu["driver_version"], gpu["cuda_version"]) == (8, "550.90.07", "12.4")
    assert gpu["models"] == ["NVIDIA H100 80GB HBM3"]
    assert [g["index"] for g in gpu["gpus"]] == list(range(8))
    assert all(g["persistence_mode"] and g["ecc_current"] for g in gpu["gpus"])
    assert {(g["nvlinks_active"], g["nvlinks_total"]) for g in gpu["gpus"]} == {(18, 18)}
    assert [h["device"] for h in good["hcas"]] == [f"mlx5_{r}" for r in range(8)]
    ports = [h["ports"][0] for h in good["hcas"]]
    assert {(p["state"], p["rate_gbps"], p["link_layer"]) for p in ports} == {
        ("Active", 400, "InfiniBand")
    }
    assert "nvidia_peermem" in good["modules"]
    assert good["nccl_conf"] == {"NCCL_IB_HCA": ",".join(f"mlx5_{r}" for r in range(8))}

    bad = results["node02"]["facts"]
    assert bad["gpu"]["count"] == 7 and bad["gpu"]["driver_version"] == "535.161.08"
    assert not any(g["persistence_mode"] for g in bad["gpu"]["gpus"])
    assert bad["gpu"]["gpus"][1]["nvlinks_active"] == 17
    port3, port5 = bad["hcas"][3]["ports"][0], bad["hcas"][5]["ports"][0]
    assert (port3["state"], port3["physical_state"], port3["rate_gbps"]) == ("Down", "Disabled", 10)
    assert (port5["state"], port5["rate_gbps"]) == ("Active", 200)
    assert "nvidia_peermem" not in bad["modules"]

    plain = results["node03"]["facts"]
    assert plain["gpu"] is None and plain["hcas"] == [] and plain["nccl_conf"] is None
    assert "not found" in plain["errors"]["nvidia_smi"]


@pytest.mark.integration
def test_health_names_each_fault(fanout_fleet: Fleet):
    results = by_name(
        health(hosts(fanout_fleet)[:3], options(fanout_fleet), lambda h: EXPECT, False)
    )
    assert results["node01"]["status"] == "ok"
    assert all(c["ok"] for c in results["node01"]["checks"])
    failed = {c["check"]: c for c in results["node02"]["checks"] if not c["ok"]}
    assert results["node02"]["status"] == "check failed"
    assert set(failed) == {
        "gpu count", "driver version", "persistence mode", "nvlink",
        "rail 3", "rail 5", "peermem", "nccl config",
    }  # fmt: skip
    assert failed["rail 3"]["actual"] == "mlx5_3 Down at 10 Gb/s"
    assert failed["rail 5"]["actual"] == "mlx5_5 Active at 200 Gb/s"
    assert failed["driver version"]["actual"] == "535.161.08"
    assert results["node03"]["status"] == "check failed"  # a plain host has no GPUs
    summary = summarize(list(results.values()), 1.0)
    assert summary["failed"] == {"check failed": ["node02", "node03"]}
    assert summary["checks_failed"]["rail 3"] == ["node02", "node03"]


@pytest.mark.integration
def test_frozen_sshd_times_out_while_others_complete(fanout_fleet: Fleet):
    frozen = fanout_fleet.init_pid("node04")
    os.kill(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        results = gather(
            hosts(fanout_fleet), options(fanout_fleet, connect_timeout_s=2.0), "facts", False
        )
        elapsed = time.monotonic() - started
    finally:
        os.kill(frozen, signal.SIGCONT)
    status = {r["name"]: r["status"] for r in results}
    assert status == {"node01": "ok", "node02": "ok", "node03": "ok", "node04": "timeout"}
    node04 = by_name(results)["node04"]
    assert "timed out after 2s" in node04["detail"]
    assert 1.5 < node04["elapsed_s"] < 6
    assert elapsed < 10  # the frozen host cost its own timeout, not a serial wait
    assert summarize(results, elapsed)["failed"] == {"timeout": ["node04"]}


@pytest.mark.integration
def test_changed_host_key_is_refused(fanout_fleet: Fleet, tmp_path: Path):
    lines = fanout_fleet.known_hosts.read_text().splitlines()
    other_key = lines[0].split()[2]  # node01's key, written down for node03
    forged = [f"{ln.split()[0]} ssh-ed25519 {other_key}" if ln.startswith("node03,") else ln
              for ln in lines]  # fmt: skip
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(forged) + "\n")
    results = by_name(gather(hosts(fanout_fleet), options(fanout_fleet, known_hosts=known),
                             "facts", False))  # fmt: skip
    assert results["node03"]["status"] == "hostkey"
    assert "host key CHANGED" in results["node03"]["detail"]
    assert results["node03"]["facts"] is None
    assert [results[n]["status"] for n in ("node01", "node02", "node04")] == ["ok"] * 3
    # --accept-new does not accept a changed key either.
    again = gather(hosts(fanout_fleet)[2:3], options(fanout_fleet, known_hosts=known,
                   accept_new=True), "facts", False)  # fmt: skip
    assert again[0]["status"] == "hostkey"


@pytest.mark.integration
def test_unknown_host_key_refused_unless_accept_new(fanout_fleet: Fleet, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    first = gather(hosts(fanout_fleet)[:2], options(fanout_fleet, known_hosts=known), "f", False)
    assert [r["status"] for r in first] == ["hostkey", "hostkey"]
    assert "unknown host key" in first[0]["detail"] and "--accept-new" in first[0]["detail"]
    accept = options(fanout_fleet, known_hosts=known, accept_new=True)
    accepted = gather(hosts(fanout_fleet)[:2], accept, "f", False)
    assert [r["status"] for r in accepted] == ["ok", "ok"]
    recorded = paramiko.HostKeys(str(known))
    real = paramiko.HostKeys(str(fanout_fleet.known_hosts))
    for name, ip in fanout_fleet.hosts()[:2]:
        assert recorded.lookup(ip)["ssh-ed25519"] == real.lookup(ip)["ssh-ed25519"], name
    strict = gather(hosts(fanout_fleet)[:2], options(fanout_fleet, known_hosts=known), "f", False)
    assert [r["status"] for r in strict] == ["ok", "ok"]


@pytest.mark.integration
def test_unreachable_and_refused_key(fanout_fleet: Fleet, tmp_path: Path):
    nobody = Host("ghost", "127.0.20.159")  # in the range, nothing listens there
    result = gather([nobody], options(fanout_fleet), "facts", False)[0]
    assert result["status"] == "unreachable" and "refused" in result["detail"].lower()

    stranger = tmp_path / "id_ed25519"
    write_private(stranger, ed25519_pair("stranger")[0])
    denied = gather(hosts(fanout_fleet)[:1], options(fanout_fleet, key_path=stranger), "f", False)
    assert denied[0]["status"] == "auth"
