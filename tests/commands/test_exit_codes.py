"""Every subcommand held to the README's exit-code table, with real conditions, through
the real `supercluster` command: 0 ok, 1 the check found something, 2 bad input (the
message names the field, file or host), 3 the environment lacks something (the message
says what to do). And every reporting command's `--json`: one object on stdout with the
same envelope (command, stack, ok), human text on stderr.

The stack `ec` is the dev stack with its nodes on 127.0.45.1-32 and their BMCs on
127.0.45.129-160: this file's own loopback range, where nothing listens unless a test
makes it so."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.cli import main

PROJECT_DIR = Path(__file__).resolve().parents[2]
SUPERCLUSTER = str(PROJECT_DIR / ".venv" / "bin" / "supercluster")
FIRST_NODE = "127.0.45.1"  # the first node of stack ec (its first BMC: 127.0.45.129)


def sc(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed command, in a clean environment: no BMC or Pulumi settings of the
    caller's, PATH as given."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPERCLUSTER_", "PULUMI_")) and k != "PATH"
    }
    base["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    return subprocess.run(
        [SUPERCLUSTER, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **(env or {})},
    )


def envelope(done: subprocess.CompletedProcess, command: str, stack: str, ok: bool) -> dict:
    """stdout is exactly one JSON object carrying the common envelope."""
    doc = json.loads(done.stdout)
    assert (doc["command"], doc["stack"], doc["ok"]) == (command, stack, ok), done.stdout[:300]
    assert ok == (done.returncode == 0)
    return doc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Stacks ec (clean, on 127.0.45.0/24), over (over its power contract) and broken (a
    field the spec does not have)."""
    root = tmp_path_factory.mktemp("exitcodes")
    (root / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    cluster = doc["config"]["supercluster:cluster"]
    cluster["addressing"].update(mgmt_cidr="127.0.45.0/25", bmc_cidr="127.0.45.128/25")
    (root / "Pulumi.ec.yaml").write_text(yaml.safe_dump(doc))
    cluster["power"]["utility_contract_mw"] = 0.1
    (root / "Pulumi.over.yaml").write_text(yaml.safe_dump(doc))
    cluster["power"]["colour"] = "red"
    (root / "Pulumi.broken.yaml").write_text(yaml.safe_dump(doc))
    return root


def stack(project: Path, name: str = "ec") -> list[str]:
    return ["--stack", name, "--project-dir", str(project)]


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture
def listener():
    """Something listening on the first node's SSH port: that address is not free."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((FIRST_NODE, 22))
    sock.listen()
    yield sock
    sock.close()


# -- design, validate, export, init --------------------------------------------------------


def test_design(project):
    ok = sc("design", *stack(project), "--json")
    assert ok.returncode == 0, ok.stderr
    assert envelope(ok, "design", "ec", True)["nodes"] == 32
    bad = sc("design", *stack(project, "broken"))
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_validate(project):
    assert sc("validate", *stack(project)).returncode == 0
    over = sc("validate", *stack(project, "over"), "--json")
    assert over.returncode == 1
    rules = [v["rule"] for v in envelope(over, "validate", "over", False)["violations"]]
    assert "power.contract_exceeded" in rules
    bad = sc("validate", *stack(project, "broken"))
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_export(project, tmp_path):
    done = sc("export", *stack(project), "--out", str(tmp_path / "x"), "--json")
    assert done.returncode == 0, done.stderr
    files = envelope(done, "export", "ec", True)["files"]
    assert any(f.endswith("cabling.csv") for f in files)
    a_file = tmp_path / "plain.txt"
    a_file.write_text("mine\n")
    refused = sc("export", *stack(project), "--out", str(a_file))
    assert refused.returncode == 2 and str(a_file) in refused.stderr
    assert a_file.read_text() == "mine\n"


def test_init(tmp_path):
    args = ["init", "--preset", "superpod", "--stack", "sp", "--project-dir", str(tmp_path)]
    assert sc(*args).returncode == 0
    again = sc(*args)
    assert again.returncode == 2 and "Pulumi.sp.yaml" in again.stderr


def test_a_missing_python_module_is_the_environment(project):
    """The interpreter cannot import yaml (a module not installed): 3, naming it."""
    code = (
        "import sys; sys.modules['yaml'] = None\n"  # what an absent package looks like
        "from infra.cli import main\n"
        f"sys.exit(main(['design', '--stack', 'ec', '--project-dir', {str(project)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR
    )
    assert done.returncode == 3, done.stderr
    assert "'yaml'" in done.stderr and "install" in done.stderr


# -- fabric -------------------------------------------------------------------------------


def test_fabric_validate(project, tmp_path):
    from infra.design import compile_design
    from infra.fabric.faults import inject
    from infra.fabric.plane import plane_fabric
    from infra.fabric.topology import write_topology
    from infra.spec import load_spec

    design = compile_design(load_spec("ec", project), stack="ec")
    fabric = plane_fabric(design, "p0")
    clean, miscabled = tmp_path / "clean.topo", tmp_path / "miscabled.topo"
    clean.write_text(write_topology(fabric))
    miscabled.write_text(write_topology(fabric, links=inject(fabric, {"swap": 1}, 3).links))
    args = ["fabric", "validate", *stack(project)]
    assert sc(*args, "--discovered", str(clean)).returncode == 0
    found = sc(*args, "--discovered", str(miscabled), "--json")
    assert found.returncode == 1
    assert envelope(found, "fabric validate", "ec", False)["counts"] == {"miswired": 1}
    garbage = tmp_path / "garbage.topo"
    garbage.write_text('Switch\t64 "S-nothex"\n')
    bad = sc(*args, "--discovered", str(garbage))
    assert bad.returncode == 2 and "garbage.topo:1" in bad.stderr


def test_fabric_render(project, tmp_path):
    done = sc("fabric", "render", *stack(project), "--out", str(tmp_path / "f"), "--json")
    assert done.returncode == 0, done.stderr
    assert envelope(done, "fabric render", "ec", True)["planes"] == ["p0"]
    bad = sc("fabric", "render", *stack(project), "--plane", "p9")
    assert bad.returncode == 2 and "--plane p9" in bad.stderr


def test_fabric_simulate(project):
    done = sc("fabric", "simulate", *stack(project), "--json")
    assert done.returncode == 0, done.stderr
    (plane,) = envelope(done, "fabric simulate", "ec", True)["planes"]
    assert plane["ftree"] and plane["subnet_up"]
    bad = sc("fabric", "simulate", *stack(project), "--fault", "melt:1")
    assert bad.returncode == 2 and "melt" in bad.stderr
    # ibsim lives in /usr/bin: a PATH without it is a machine without ibsim-utils.
    missing = sc("fabric", "simulate", *stack(project), env={"PATH": "/nonexistent"})
    assert missing.returncode == 3, missing.stderr
    assert "not found" in missing.stderr and "install" in missing.stderr


# -- BMCs, fleet --------------------------------------------------------------------------


def test_bmc_status(project, tmp_path):
    args = ["bmc", "status", *stack(project), "--state-dir", str(tmp_path / "nosim")]
    creds = {"SUPERCLUSTER_BMC_USERNAME": "admin", "SUPERCLUSTER_BMC_PASSWORD": "pw"}
    quick = ["--attempts", "1", "--timeout", "2"]
    # No BMC answers on 127.0.45.129-160: every one fails, and that is a finding.
    done = sc(*args, *quick, "--json", env=creds)
    assert done.returncode == 1, done.stderr
    report = envelope(done, "bmc status", "ec", False)
    assert report["summary"]["failed"] == 32 and report["nodes"][0]["address"].startswith(
        "127.0.45."
    )
    # The old flag name still works: one name in --help, the other kept for scripts.
    assert sc(*args, *quick, "--workers", "4", env=creds).returncode == 1
    assert sc(*args, *quick, "--concurrency", "0", env=creds).returncode == 2
    no_creds = sc(*args, *quick)
    assert no_creds.returncode == 2 and "SUPERCLUSTER_BMC_USERNAME" in no_creds.stderr


@pytest.mark.parametrize("command", ["facts", "health"])
def test_fleet_commands_with_an_unreachable_host(project, ssh_key, tmp_path, command):
    args = [command, *stack(project), "--limit", "hall1-su001-n01", "--key", str(ssh_key)]
    args += ["--known-hosts", str(tmp_path / "known_hosts"), "--connect-timeout", "2"]
    if command == "health":
        args += ["--driver-version", "550.54.15"]
    done = sc(*args, "--json", "--concurrency", "4")
    assert done.returncode == 1, done.stderr
    doc = envelope(done, command, "ec", False)
    assert [h["address"] for h in doc["hosts"]] == [FIRST_NODE]
    assert sc(*args, "--forks", "4").returncode == 1  # the old name, hidden
    bad = sc(*args, "--key", str(tmp_path / "no-such-key"))  # the last --key wins
    assert bad.returncode == 2 and "no-such-key" in bad.stderr


def test_sim_up(project, tmp_path, listener):
    state = ["--state-dir", str(tmp_path / "sim")]
    busy = sc("sim", "up", *stack(project), *state, "--nodes", "1", "--no-hardware")
    # An address in use (or, without root, no root): the machine's problem, not the input's.
    assert busy.returncode == 3, busy.stderr
    assert FIRST_NODE in busy.stderr or "root" in busy.stderr
    assert not (tmp_path / "sim" / "fleet" / "fleet.json").exists()
    too_many = sc("sim", "up", *stack(project), *state, "--nodes", "999")
    assert too_many.returncode == 2 and "--nodes" in too_many.stderr


def test_sim_status_and_down(project, tmp_path):
    state = ["--state-dir", str(tmp_path / "sim")]
    empty = sc("sim", "status", *stack(project), *state, "--json")
    assert empty.returncode == 0, empty.stderr
    assert envelope(empty, "sim status", "ec", True)["nodes"] == []
    # A node that crashed: recorded in the fleet's manifest, its process gone.
    manifest = tmp_path / "sim" / "fleet" / "fleet.json"
    manifest.parent.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    nodes = {"hall1-su001-n01": {"ip": FIRST_NODE, "pid": gone.pid}}
    manifest.write_text(json.dumps({"nodes": nodes}))
    crashed = sc("sim", "status", *stack(project), *state, "--json")
    assert crashed.returncode == 1
    (node,) = envelope(crashed, "sim status", "ec", False)["nodes"]
    assert node["running"] is False and node["ssh"] is False
    assert sc("sim", "down", *stack(project), *state).returncode == 0
    assert not manifest.exists()


# -- inventory, configure -----------------------------------------------------------------


def test_inventory(project, tmp_path):
    done = sc("inventory", *stack(project), "--out", str(tmp_path / "inv"), "--json")
    assert done.returncode == 0, done.stderr
    assert envelope(done, "inventory", "ec", True)["hosts"] == 32
    no_sim = sc("inventory", *stack(project), "--sim", "--state-dir", str(tmp_path / "none"))
    assert no_sim.returncode == 3 and "sim up" in no_sim.stderr  # a site that is not up


@pytest.fixture(scope="module")
def configured_project(project) -> Path:
    """The project with the playbooks and shared inventory files of this one, and stack
    ec's inventory generated from them (not for the simulated site)."""
    (project / "inventory").mkdir(exist_ok=True)
    for name in ("ansible.cfg", "playbooks", "templates", *shared_inventory()):
        link = project / name
        if not link.exists():
            link.symlink_to(PROJECT_DIR / name)
    done = sc("inventory", *stack(project))
    assert done.returncode == 0, done.stderr
    return project


def shared_inventory() -> list[str]:
    """What inventory/ holds besides the generated stacks (the shared group_vars...)."""
    return [
        f"inventory/{p.name}"
        for p in (PROJECT_DIR / "inventory").iterdir()
        if not (p / "hosts.yml").exists()
    ]


def test_configure_bad_input(project, tmp_path):
    no_inventory = sc("configure", *stack(project, "over"))
    assert no_inventory.returncode == 2 and "no inventory" in no_inventory.stderr
    extra = sc("configure", *stack(project), "-e", "not-a-pair")
    assert extra.returncode == 2 and "--extra-vars" in extra.stderr


def test_configure_unreachable_host_is_a_finding(configured_project, ssh_key):
    done = sc(
        "configure", *stack(configured_project), "--limit", "hall1-su001-n01",
        "--playbook", "acceptance", "-e", f"ansible_ssh_private_key_file={ssh_key}",
        "-e", "ansible_ssh_timeout=3", "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    doc = envelope(done, "configure", "ec", False)
    assert list(doc["unreachable"]) == ["hall1-su001-n01"]


def test_configure_without_mitogen_is_the_environment(configured_project, monkeypatch, capsys):
    """mitogen not importable (sys.modules[name] = None is how Python spells a module that
    is absent): 3, saying what to install. In-process: a subprocess would need a venv
    without the package."""
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)
    code = main(["configure", *stack(configured_project), "--limit", "hall1-su001-n01"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "mitogen is not installed" in err and "pip install" in err


# -- plan, Pulumi operations, run ---------------------------------------------------------


def test_plan(tmp_path):
    args = ["plan", "--stack", "dev", "--project-dir", str(PROJECT_DIR)]
    done = sc(*args, "--out", str(tmp_path / "review"), "--json")
    assert done.returncode == 0, done.stderr
    doc = envelope(done, "plan", "dev", True)
    assert doc["exit_code"] == 0 and any(f.endswith("review.json") for f in doc["files"])
    bad = sc(*args, "--out", str(tmp_path / "r2"), "--base", "no-such-revision-45")
    assert bad.returncode == 2 and "no-such-revision-45" in bad.stderr
    # git is in /usr/bin: a PATH without it is a machine without git.
    no_git = sc(*args, "--out", str(tmp_path / "r3"), env={"PATH": "/nonexistent"})
    assert no_git.returncode == 3 and "git is not installed" in no_git.stderr


@pytest.mark.parametrize("operation", ["preview", "up", "refresh", "destroy"])
def test_pulumi_operations(project, tmp_path, operation):
    args = [operation, *stack(project)] + (["--yes"] if operation == "destroy" else [])
    no_cli = sc(*args, env={"SUPERCLUSTER_PULUMI_CLI": str(tmp_path / "no-pulumi")})
    assert no_cli.returncode == 3 and "Pulumi CLI is not installed" in no_cli.stderr
    no_passphrase = sc(*args)
    assert no_passphrase.returncode == 3 and "PULUMI_CONFIG_PASSPHRASE" in no_passphrase.stderr
    bad = sc(*[*args[:1], *stack(project, "broken"), *args[5:]])
    assert bad.returncode == 2 and "colour" in bad.stderr
    no_sim = sc(*args, "--sim", "--state-dir", str(tmp_path / "nosim"))
    assert no_sim.returncode == 3 and "sim up" in no_sim.stderr


def test_destroy_wants_yes(project):
    done = sc("destroy", *stack(project))
    assert done.returncode == 2 and "--yes" in done.stderr


def test_preview_json_on_the_real_engine(project, tmp_path):
    if not (project / "infra").exists():  # the Pulumi program (Pulumi.yaml: main infra/)
        (project / "infra").symlink_to(PROJECT_DIR / "infra")
    env = {"PULUMI_CONFIG_PASSPHRASE": "exit-codes-45"}
    done = sc("preview", *stack(project), "--json", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    (one,) = envelope(done, "preview", "ec", True)["stacks"]
    assert one["stack"] == "ec" and one["changes"]
    # Over its power contract: the policy pack refuses it, and that is a finding.
    over = sc("preview", *stack(project, "over"), "--json", env=env)
    assert over.returncode == 1, over.stderr[-2000:]
    assert envelope(over, "preview", "over", False)["failed_stack"] == "over"


# -- the same flags for the same things ----------------------------------------------------

# Commands that write or start something and report nothing worth parsing.
NOT_REPORTING = {"init", "sim down", "run"}
# --json whose success is not run here: `sim up` needs root and minutes (tests/sim), and
# up/refresh/destroy share preview's code path (cmd_stack), which runs the engine here.
JSON_NOT_RUN_HERE = {"sim up", "up", "refresh", "destroy"}


def subcommands() -> dict[str, object]:
    """Every leaf subcommand's parser, by its name as typed (`bmc status`)."""
    import argparse

    from infra.cli import build_parser

    def leaves(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from leaves(sub, f"{prefix} {name}".strip())
                return
        yield prefix, parser

    return dict(leaves(build_parser(), ""))


def test_every_reporting_command_has_json_and_this_file_holds_it():
    commands = subcommands()
    assert {"bmc status", "sim up", "fabric simulate", "configure", "plan"} <= set(commands)
    source = Path(__file__).read_text()
    for name, parser in commands.items():
        flags = {o for a in parser._actions for o in a.option_strings}
        if name in NOT_REPORTING:
            continue
        assert "--json" in flags, name
        if name not in JSON_NOT_RUN_HERE:
            held = re.search(rf'envelope\(\w+, "{name}"', source) or name in ("facts", "health")
            assert held, f"{name}: no test here parses its --json"


def test_one_name_for_concurrency():
    import argparse

    for name, parser in subcommands().items():
        shown = {
            o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings
        }
        assert not shown & {"--forks", "--workers", "--parallel"}, name
    for name in ("facts", "health", "bmc status"):
        flags = {o for a in subcommands()[name]._actions for o in a.option_strings}
        assert "--concurrency" in flags, name


def test_run_stops_at_a_failed_step_with_its_code(project):
    assert sc("run", *stack(project), "--design-only").returncode == 0
    failed = sc("run", *stack(project, "over"), "--design-only")
    assert failed.returncode == 1
    assert "stopped at `supercluster validate" in failed.stderr
    assert "run: FAILED" in failed.stderr
