"""The simulated site is chosen explicitly: `--sim`, or the record `sim up` wrote for that
very stack (then said on stderr), never because a `.sim/` directory happens to be there.
No fleet is started: a state dir is laid out as `sim up` leaves it (connection.json, the
record), with addresses in the tests' loopback range 127.0.44.0/24."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.cli import build_parser, main
from infra.commands import fleetargs
from infra.sim import site as simsite
from tests.commands.test_stack_resolution import two_hall_spec

NOTICE = "using the simulated site started by `sim up` at"


@pytest.fixture()
def project(tmp_path, project_dir) -> Path:
    """The two-hall site `t` (hall stacks t-h1, t-h2) with a `.sim/` holding two of
    hall2's nodes, as `sim up --stack t-h2 --nodes 2` leaves it, minus the record."""
    (tmp_path / "Pulumi.yaml").write_bytes((project_dir / "Pulumi.yaml").read_bytes())
    spec = {"config": {"supercluster:cluster": two_hall_spec()}}
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump(spec))
    for n in (1, 2):
        (tmp_path / f"Pulumi.t-h{n}.yaml").write_text(
            f"config:\n  supercluster:specStack: t\n  supercluster:layer: hall{n}\n"
        )
    ssh = tmp_path / ".sim" / "fleet" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text("not a key: never used to log in here\n")
    (ssh / "known_hosts").write_text("")
    connection = {
        "user": "simuser",
        "private_key": str(ssh / "id_ed25519"),
        "known_hosts": str(ssh / "known_hosts"),
        "hosts": {"hall2-su002-n01": "127.0.44.33", "hall2-su002-n02": "127.0.44.34"},
    }
    simsite.connection_file(tmp_path / ".sim").write_text(json.dumps(connection))
    return tmp_path


def run(capsys, project: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--project-dir", str(project)])
    out, err = capsys.readouterr()
    return code, out, err


def inventory_hosts(path: Path) -> dict:
    hosts = yaml.safe_load((path / "hosts.yml").read_text())
    found: dict = {}

    def walk(group: dict) -> None:
        found.update(group.get("hosts") or {})
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(hosts["all"])
    return found


# -- infra/sim/site.py: the one place that finds it ---------------------------------------


def test_find_needs_sim_or_the_record_of_this_stack(tmp_path):
    state = simsite.state_dir(tmp_path)
    assert state == (tmp_path / ".sim").resolve()
    state.mkdir()
    (state / "fleet").mkdir()  # a state dir with things in it decides nothing
    assert simsite.find(tmp_path, "t", sim=False) is None
    explicit = simsite.find(tmp_path, "t", sim=True)
    assert explicit is not None and explicit.explicit and explicit.state_dir == state
    simsite.record(state, "t-h2")
    assert simsite.recorded_stack(state) == "t-h2"
    assert simsite.find(tmp_path, "t", sim=False) is None  # recorded for another stack
    found = simsite.find(tmp_path, "t-h2", sim=False)
    assert found is not None and not found.explicit
    assert found.notice() == f"{NOTICE} {state}"
    simsite.forget(state)
    assert simsite.find(tmp_path, "t-h2", sim=False) is None


def test_an_unreadable_record_is_no_record(tmp_path):
    (tmp_path / ".sim").mkdir()
    (tmp_path / ".sim" / simsite.RECORD).write_text("[not, an, object]")
    assert simsite.recorded_stack(tmp_path / ".sim") is None


# -- through the commands -------------------------------------------------------------------


def test_inventory_ignores_a_sim_dir_without_sim_or_record(capsys, project):
    code, _, err = run(capsys, project, "inventory", "--stack", "t-h2", "--out", str(project / "i"))
    assert code == 0, err
    hosts = inventory_hosts(project / "i")
    assert len(hosts) == 32 and "using the simulated site" not in err
    assert "simuser" not in (project / "i" / "hosts.yml").read_text()


def test_inventory_uses_the_site_sim_up_recorded_for_this_stack(capsys, project):
    simsite.record(project / ".sim", "t-h2")
    code, _, err = run(capsys, project, "inventory", "--stack", "t-h2", "--out", str(project / "i"))
    assert code == 0, err
    assert f"{NOTICE} {(project / '.sim').resolve()}" in err
    assert set(inventory_hosts(project / "i")) == {"hall2-su002-n01", "hall2-su002-n02"}
    # Another stack of the same project is not on the simulated site.
    code, _, err = run(capsys, project, "inventory", "--stack", "t-h1", "--out", str(project / "j"))
    assert code == 0 and "using the simulated site" not in err
    assert len(inventory_hosts(project / "j")) == 32


def test_inventory_sim_without_a_running_site_names_the_file(capsys, tmp_path, project):
    empty = tmp_path / "elsewhere"
    code, _, err = run(
        capsys, project, "inventory", "--stack", "t-h2", "--sim", "--state-dir", str(empty)
    )
    assert code == 3  # the environment lacks a running simulated site
    assert f"{empty.resolve()}/fleet/connection.json: no simulated nodes" in err
    assert "sim up --stack t-h2" in err


def fanout_args(project: Path, *extra: str):
    argv = ["health", "--stack", "t-h2", "--project-dir", str(project), *extra]
    return build_parser(argv).parse_args(argv)


def test_fleet_login_comes_from_the_sim_only_when_chosen(capsys, project, tmp_path):
    key = tmp_path / "my_key"
    key.write_text("")
    plain = fleetargs.ssh_options(fanout_args(project, "--key", str(key)))
    assert plain.user == "root"
    assert plain.known_hosts == Path.home() / ".ssh" / "known_hosts"
    assert "using the simulated site" not in capsys.readouterr().err
    chosen = fleetargs.ssh_options(fanout_args(project, "--sim"))
    assert chosen.user == "simuser"
    assert chosen.key_path == project / ".sim" / "fleet" / "ssh" / "id_ed25519"
    assert "(--sim)" in capsys.readouterr().err
    simsite.record(project / ".sim", "t-h2")
    recorded = fleetargs.ssh_options(fanout_args(project, "--key", str(key)))
    assert recorded.user == "simuser" and NOTICE in capsys.readouterr().err


def test_bmc_status_never_falls_onto_a_sim_dir(capsys, project, monkeypatch):
    monkeypatch.delenv("SUPERCLUSTER_BMC_USERNAME", raising=False)
    monkeypatch.delenv("SUPERCLUSTER_BMC_PASSWORD", raising=False)
    code, _, err = run(capsys, project, "bmc", "status", "--stack", "t-h2")
    assert code == 2 and "BMC credentials" in err  # the real site's BMCs, not the sim's
    code, _, err = run(capsys, project, "bmc", "status", "--stack", "t-h2", "--sim")
    assert code == 3 and "no simulated BMCs running under" in err


def test_sim_down_removes_the_record(capsys, project):
    state = project / ".sim"
    simsite.record(state, "t-h2")
    (project / ".sim" / "fleet").rename(project / "fleet-aside")  # no nodes to stop
    code, _, err = run(capsys, project, "sim", "down", "--stack", "t-h2")
    assert code == 0, err
    assert simsite.recorded_stack(state) is None and not state.exists()
