"""playbooks/files/fabric_counters.py, the script fabric_health.yml runs on the subnet
manager hosts (python3 and infiniband-diags only): its judging equals
infra.fleet.counters' on perfquery's real format, and under ibsim it clears, reads and
judges the designed ports of the dev plane (a port left out of the design is not judged)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ibsimplane import swept_plane

from infra.design import compile_design
from infra.fabric.sim import tool
from infra.fleet.counters import designed_ports, judge, parse_perfquery
from infra.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"
RENDER = (sys.executable, "-m", "infra.cli", "fabric", "render", "--stack", "dev")
SCRIPT = Path(__file__).resolve().parents[2] / "playbooks" / "files" / "fabric_counters.py"


def _script():
    spec = importlib.util.spec_from_file_location("fabric_counters_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _thresholds(project_dir: Path) -> tuple[dict, float]:
    doc = yaml.safe_load((project_dir / "inventory/group_vars/all/thresholds.yml").read_text())
    return doc["fabric_health_thresholds"], float(doc["fabric_health_interval_s"])


def test_script_judges_like_counters(project_dir: Path) -> None:
    mod = _script()
    thresholds, interval = _thresholds(project_dir)
    for name in ("perfquery-cleared.txt", "perfquery-after-60s.txt"):
        text = (FIXTURES / name).read_text()
        assert mod.parse_perfquery(text) == parse_perfquery(text)
    before = parse_perfquery((FIXTURES / "perfquery-cleared.txt").read_text())
    after = parse_perfquery((FIXTURES / "perfquery-after-60s.txt").read_text())
    lids = {"leaf-a": 125, "node01 mlx5_0": 7}
    ends = [("leaf-a", p) for p in (1, 2, 3, 9, 64)] + [("node01 mlx5_0", 1)]
    for n in range(len(ends) + 1):  # with and without the spare, the silent port 9
        ports = designed_ports(lids, ends[:n])
        for b in (before, {}):
            want = [vars(f) for f in judge(b, after, interval, thresholds, ports)]
            got = mod.judge(b, after, interval, thresholds, ports)
            assert got == want
    with pytest.raises(mod.Failure, match="not perfquery output"):
        mod.parse_perfquery("# Port counters: Lid 1 port 1 (CapMask: 0x1200)\ngarbage\n")


def test_script_on_the_dev_plane_under_ibsim(project_dir: Path, tmp_path: Path) -> None:
    """clear (ibnetdiscover + perfquery -R), counters set in the simulator, judge: the
    port above threshold and the flapped link are found; errors on a port the design
    leaves out (taken out of designed.topo: a spare) and below threshold are not."""
    thresholds, _ = _thresholds(project_dir)
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    leaf = "p0-leaf-su001-r0"
    rendered = tmp_path / "render"
    assert (
        subprocess.run(
            [*RENDER, "--project-dir", str(project_dir), "--out", str(rendered)],
            capture_output=True,
            timeout=120,
        ).returncode
        == 0
    )
    topo = (rendered / "p0" / "designed.topo").read_text()
    # Port 3 of the leaf: a spare (its cable left out of the design).
    lines = topo.splitlines(keepends=True)
    head = next(i for i, ln in enumerate(lines) if f'# "{leaf}" enhanced port 0' in ln)
    spare = next(i for i in range(head, len(lines)) if lines[i].startswith("[3]\t"))
    (tmp_path / "designed.topo").write_text("".join(lines[:spare] + lines[spare + 1 :]))
    with swept_plane(design) as plane:
        # The script finds perfquery and ibnetdiscover on PATH, as on an SM host.
        diags = os.path.dirname(tool("perfquery"))
        env = dict(plane.client, PATH=os.pathsep.join([diags, plane.client["PATH"]]))

        def script(*args: str) -> dict:
            done = subprocess.run(
                ["python3", str(SCRIPT), *args], cwd=plane.state, env=env, capture_output=True,
                text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            return json.loads(done.stdout)

        st = str(tmp_path / "state.json")
        cleared = script("clear", "--topo", str(tmp_path / "designed.topo"), "--state", st)
        assert cleared["absent"] == [] and cleared["ports"] > 100
        node_id = re.search(r'"(S-[0-9a-f]+)"', lines[head]).group(1)
        plane.set_counters(
            node_id,
            {
                (1, "SymbolErrorCounter"): 25,
                (2, "LinkDownedCounter"): 1,
                (3, "SymbolErrorCounter"): 999,  # the spare
                (4, "PortRcvErrors"): 10,  # at the threshold: not a finding
            },
        )
        time.sleep(1.0)
        judged = script("judge", "--state", st, "--thresholds", json.dumps(thresholds))
    got = sorted((f["port"], f["counter"], f["kind"], f["delta"]) for f in judged["findings"])
    assert got == [
        (f"{leaf} port 1", "SymbolErrorCounter", "errors", 25),
        (f"{leaf} port 2", "LinkDownedCounter", "flap", 1),
    ]
    assert judged["ports"] == cleared["ports"] and judged["interval_s"] >= 1.0
    assert any("link flapped" in s for s in judged["summary"])


def test_script_queries_a_plane_through_its_own_hca(
    project_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """On a per-rail site's SM server each plane is reachable only through that plane's
    HCA: with --ca every ibnetdiscover and perfquery goes out of that HCA's port 1."""
    mod = _script()
    topo = (  # as ibnetdiscover prints a leaf (LID 5) with one HCA port cabled
        "Switchguid=0x0000000000000abc\n"
        'Switch\t64 "S-0000000000000abc"\t# "leaf-a" enhanced port 0 lid 5 lmc 0\n'
        '[1]\t"H-0000000000000def"[1](def)\t# "node01 mlx5_0" lid 7 4xNDR\n'
    )
    (tmp_path / "designed.topo").write_text(topo)
    calls: list[tuple] = []

    def run(*cmd):
        calls.append(cmd)
        return (
            topo if cmd[0] == "ibnetdiscover" else (FIXTURES / "perfquery-cleared.txt").read_text()
        )

    monkeypatch.setattr(mod, "run", run)
    state = str(tmp_path / "state.json")
    mod.clear(str(tmp_path / "designed.topo"), state, ca="mlx5_3")
    mod.read_and_judge(state, _thresholds(project_dir)[0])
    assert calls and all(c[1:5] == ("-C", "mlx5_3", "-P", "1") for c in calls), calls
    assert {c[0] for c in calls} == {"ibnetdiscover", "perfquery"}
    calls.clear()
    mod.clear(str(tmp_path / "designed.topo"), state)  # no --ca: the first HCA, as before
    assert all("-C" not in c for c in calls)


def test_fabric_health_play_under_ibsim(project_dir: Path, tmp_path: Path) -> None:
    """The subnet managers' play of fabric_health.yml, run by ansible-playbook on an SM
    host (localhost on the simulated HCA): it clears the plane through the HCA the
    inventory names, waits, and fails naming the plane and the port that counted errors
    during the interval."""
    design = compile_design(load_spec("dev", project_dir), stack="dev")
    rendered = tmp_path / "render"
    done = subprocess.run(
        [*RENDER, "--project-dir", str(project_dir), "--out", str(rendered)],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0
    conf_dir = tmp_path / "etc-opensm"
    (conf_dir / "p0").mkdir(parents=True)
    (conf_dir / "p0" / "designed.topo").write_text((rendered / "p0" / "designed.topo").read_text())
    leaf = "p0-leaf-su001-r0"
    with swept_plane(design) as plane:
        diags = os.path.dirname(tool("perfquery"))
        env = dict(plane.client, PATH=os.pathsep.join([diags, plane.client["PATH"]]))
        ca = subprocess.run(["ibstat", "-l"], env=env, capture_output=True, text=True, timeout=60)
        device = ca.stdout.split()[0]  # the simulated HCA's name, as on a real SM host
        inventory = tmp_path / "hosts.yml"
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "opensm_config_dir": str(conf_dir),
                "opensm_ports": [{"plane": "p0", "device": device}]}  # fmt: skip
        inventory.write_text(
            yaml.safe_dump({"all": {"children": {"subnet_managers": {"hosts": {"sm1": host}}}}})
        )
        play = subprocess.Popen(
            [sys.executable, "-m", "ansible.cli.playbook", "-i", str(inventory),
             str(project_dir / "playbooks" / "fabric_health.yml"), "--limit", "subnet_managers",
             "-e", f"@{project_dir / 'inventory/group_vars/all/thresholds.yml'}",
             "-e", "fabric_health_interval_s=4",
             "-e", f"fabric_health_state={tmp_path / 'state'}"],
            cwd=project_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(env, ANSIBLE_CONFIG=str(project_dir / "ansible.cfg"),
                     ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_HOST_KEY_CHECKING="False"),
        )  # fmt: skip
        state = tmp_path / "state-p0.json"
        deadline = time.monotonic() + 240
        while not state.exists() and play.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.exists(), play.communicate(timeout=60)[0][-3000:]
        assert json.loads(state.read_text())["ca"] == device
        head = next(
            ln for ln in (rendered / "p0" / "designed.topo").read_text().splitlines()
            if f'# "{leaf}" enhanced port 0' in ln
        )  # fmt: skip
        plane.set_counters(
            re.search(r'"(S-[0-9a-f]+)"', head).group(1), {(1, "SymbolErrorCounter"): 25}
        )
        out, _ = play.communicate(timeout=300)
    assert play.returncode != 0, out[-3000:]
    assert "plane p0: 1 finding(s)" in out and f"{leaf} port 1" in out, out[-3000:]
