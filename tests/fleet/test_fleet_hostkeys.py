"""A node whose host key really changed (new key, sshd booted again with it) is refused by
`facts` and `health` (paramiko), named with cause hostkey, while the others answer.

Fresh 3-node fleet on 127.0.41.17-19 (this file's range: 127.0.41.16/28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleetutil import running_fleet

from infra.cli import main
from infra.fleet.health import Expectation
from infra.fleet.run import Host, gather, health, summarize
from infra.fleet.ssh import SshOptions
from infra.sim.fleet import Fleet
from infra.sim.hardware import Hardware

pytestmark = pytest.mark.integration

VICTIM = "node02"
OTHERS = ("node01", "node03")
NCCL_CONF = "NCCL_IB_HCA=mlx5_0,mlx5_1,mlx5_2,mlx5_3,mlx5_4,mlx5_5,mlx5_6,mlx5_7\n"
HEALTHY = Hardware(nccl_conf=NCCL_CONF)  # passes every health check below
EXPECT = Expectation(
    gpus=8,
    gpu_name="NVIDIA H100 80GB HBM3",
    rails=tuple((r, f"mlx5_{r}") for r in range(8)),
    driver_version="550.90.07",
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    state = tmp_path_factory.mktemp("hostkeys") / "sim"
    with running_fleet(state, 3, network="127.0.41.16/28", hardware=HEALTHY) as fleet:
        fleet.rekey(VICTIM)  # known_hosts still holds its old key
        yield fleet


def _options(fleet: Fleet, known_hosts: Path | None = None, **kw) -> SshOptions:
    return SshOptions(fleet.key_path, known_hosts or fleet.known_hosts, connect_timeout_s=5.0, **kw)


def _hosts(fleet: Fleet) -> list[Host]:
    return [Host(name, ip) for name, ip in fleet.hosts()]


def test_facts_command_refuses_the_changed_host_only(fleet, tmp_path, capsys):
    args = ["facts", "--project-dir", str(tmp_path), "--hosts", str(fleet.connection)]
    login = ["--key", str(fleet.key_path), "--known-hosts", str(fleet.known_hosts)]
    assert main([*args, *login, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    status = {h["name"]: h["status"] for h in out["hosts"]}
    assert status == {"node01": "ok", "node02": "hostkey", "node03": "ok"}
    victim = next(h for h in out["hosts"] if h["name"] == VICTIM)
    assert "host key CHANGED" in victim["detail"] and victim["facts"] is None
    assert out["summary"]["failed"] == {"hostkey": [VICTIM]}
    # --accept-new trusts unknown keys only, never a changed one.
    assert main([*args, *login, "--json", "--accept-new"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["summary"]["failed"] == {"hostkey": [VICTIM]}
    assert fleet.known_hosts.read_text().count("node02,") == 1  # nothing recorded


def test_health_refuses_the_changed_host_only(fleet):
    results = health(_hosts(fleet), _options(fleet), lambda h: EXPECT, False)
    by_name = {r["name"]: r for r in results}
    assert by_name[VICTIM]["status"] == "hostkey"
    assert "host key CHANGED" in by_name[VICTIM]["detail"]
    assert "checks" not in by_name[VICTIM]  # nothing was asked of it
    for host in OTHERS:
        assert by_name[host]["status"] == "ok", by_name[host]["detail"]
        assert all(c["ok"] for c in by_name[host]["checks"])
    assert summarize(results, 1.0)["failed"] == {"hostkey": [VICTIM]}


def test_the_new_key_once_trusted_is_accepted(fleet, tmp_path):
    """The refusal is about the key: with the node's old entry removed and its new key
    recorded (--accept-new), the same node answers."""
    known = tmp_path / "known_hosts"
    kept = [ln for ln in fleet.known_hosts.read_text().splitlines() if not ln.startswith("node02,")]
    known.write_text("\n".join(kept) + "\n")
    first = gather(_hosts(fleet), _options(fleet, known, accept_new=True), "facts", False)
    assert [r["status"] for r in first] == ["ok", "ok", "ok"]
    strict = gather(_hosts(fleet), _options(fleet, known), "facts", False)
    assert [r["status"] for r in strict] == ["ok", "ok", "ok"]
    assert len(known.read_text().splitlines()) == 3  # the new key, recorded once


def test_a_revoked_key_is_refused_even_when_listed(fleet, tmp_path):
    """`@revoked` wins over a plain entry of the same key (paramiko alone skips marker
    lines, so the plain entry would let the key through)."""
    lines = fleet.known_hosts.read_text().splitlines()
    listed = next(ln for ln in lines if ln.startswith("node01,"))
    _, kind, blob = listed.split()[:3]
    known = tmp_path / "known_hosts"
    known.write_text("\n".join([*lines, f"@revoked * {kind} {blob}"]) + "\n")
    rows = gather(_hosts(fleet), _options(fleet, known), "facts", False)
    status = {r["name"]: r["status"] for r in rows}
    assert status == {"node01": "hostkey", "node02": "hostkey", "node03": "ok"}
    assert "REVOKED" in next(r for r in rows if r["name"] == "node01")["detail"]


def test_an_unreadable_known_hosts_line_is_bad_input(tmp_path):
    from infra.errors import InputError
    from infra.fleet.ssh import KnownHosts

    known = tmp_path / "known_hosts"
    known.write_text("# comment\n@cert-authority * ssh-ed25519 AAAA\nnode01 ssh-ed25519 !!!\n")
    with pytest.raises(InputError, match="line 3: not a known_hosts entry"):
        KnownHosts(known, accept_new=False)
