"""The command line on real stack files: outputs, exit codes, bad input, atomic export."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from tests.design.specs import spec_dict


def write_stack(tmp: Path, spec: dict | str, name: str = "t") -> Path:
    text = (
        spec
        if isinstance(spec, str)
        else yaml.safe_dump({"config": {"supercluster:cluster": spec}})
    )
    (tmp / f"Pulumi.{name}.yaml").write_text(text)
    return tmp


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_design_json_has_the_stable_keys(capsys, project_dir):
    code, out, _ = run(
        capsys, "design", "--stack", "dev", "--project-dir", str(project_dir), "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert (data["gpus"], data["nodes"], data["racks"], data["planes"]) == (256, 32, 4, 1)
    assert data["switches"] == {"leaf": 8, "spine": 4, "core": 0}
    assert data["links"] == {"node_leaf": 256, "leaf_spine": 256, "spine_core": 0}
    assert set(data["power"]) >= {"it_kw", "facility_kw", "contract_kw", "onsite_kw"}
    assert set(data["cooling"]) >= {"liquid_kw", "air_kw", "flow_lpm"}
    assert data["violations"] == []


def test_validate_exit_codes(capsys, tmp_path):
    write_stack(tmp_path, spec_dict(power={"utility_contract_mw": 0.1}))
    code, out, _ = run(capsys, "validate", "--stack", "t", "--project-dir", str(tmp_path), "--json")
    assert code == 1
    assert json.loads(out)["violations"][0]["rule"] == "power.contract_exceeded"
    write_stack(tmp_path, spec_dict())
    assert run(capsys, "validate", "--stack", "t", "--project-dir", str(tmp_path))[0] == 0


BAD = [
    ("site:\n  name: [unclosed\n", "malformed YAML"),
    (
        spec_dict(site={"name": "t", "colour": "red"}),
        "supercluster:cluster.site.colour: unknown key",
    ),
    (
        spec_dict(power={"utility_contract_mw": "lots"}),
        "supercluster:cluster.power.utility_contract_mw: Input should be a valid number",
    ),
    (
        {
            **spec_dict(),
            "halls": [
                {
                    **spec_dict()["halls"][0],
                    "rows": [{**spec_dict()["halls"][0]["rows"][0], "racks": 0}],
                }
            ],
        },
        "supercluster:cluster.halls[0].rows[0].racks: Input should be greater than 0",
    ),
    (
        {**spec_dict(), "rack_types": [{**spec_dict()["rack_types"][0], "node": "DGX-Z9"}]},
        "supercluster:cluster.rack_types[0].node: unknown node model 'DGX-Z9'",
    ),
    (
        spec_dict(fabric={"su_nodes": 48}),
        "supercluster:cluster.fabric.su_nodes: 48 node ports + 48 uplinks exceed the 64-port",
    ),
    (
        spec_dict(cooling={"supply_temp_c": 35}),
        "supercluster:cluster.cooling: supply_temp_c 35.0 exceeds W32 maximum 32 C",
    ),
    (
        spec_dict(addressing={"mgmt_cidr": "127.0.1.0/28"}),
        "supercluster:cluster.addressing.mgmt_cidr: 127.0.1.0/28 holds 14 hosts, the design "
        "has 32 nodes",
    ),
]


@pytest.mark.parametrize(("spec", "line"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_input_is_one_clear_line_and_exit_2(capsys, tmp_path, spec, line):
    if isinstance(spec, str):
        spec = "config:\n  supercluster:cluster:\n    " + spec.replace("\n", "\n    ")
    write_stack(tmp_path, spec)
    out_dir = tmp_path / "out"
    code, _out, err = run(
        capsys, "export", "--stack", "t", "--project-dir", str(tmp_path), "--out", str(out_dir)
    )
    assert code == 2
    assert line in err
    assert "Traceback" not in err
    assert not out_dir.exists()  # nothing written


def test_missing_stack_file(capsys, tmp_path):
    code, _, err = run(capsys, "design", "--stack", "nope", "--project-dir", str(tmp_path))
    assert code == 2 and "Pulumi.nope.yaml: no such stack file" in err


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    write_stack(tmp_path, spec_dict(fabric={"su_nodes": -3, "planes": "sideways"}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "design",
            "--stack",
            "t",
            "--project-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: supercluster:cluster.fabric.su_nodes: Input should be greater than 0",
        "error: supercluster:cluster.fabric.planes: Input should be 'single' or 'per_rail'",
    ]


def test_export_writes_cabling_elevations_and_port_map(capsys, project_dir, tmp_path):
    code, _out, _ = run(
        capsys,
        "export",
        "--stack",
        "dev",
        "--project-dir",
        str(project_dir),
        "--out",
        str(tmp_path),
    )
    assert code == 0
    cables = list(csv.DictReader((tmp_path / "cabling.csv").open()))
    assert len(cables) == 512
    first = cables[0]
    assert (first["a_rack"], first["a_u"], first["a_device"], first["a_port"]) == (
        "hall1-r01-01",
        "5",
        "hall1-su001-n01",
        "mlx5_0",
    )
    assert (first["b_rack"], first["b_device"], first["b_port"]) == (
        "hall1-r01-05",
        "p0-leaf-su001-r0",
        "1",
    )
    ports = list(csv.DictReader((tmp_path / "node_ports.csv").open()))
    assert len(ports) == 256 and ports[9]["hca"] == "mlx5_1" and ports[9]["leaf_port"] == "2"
    elev = list(csv.DictReader((tmp_path / "rack_elevations.csv").open()))
    rack1 = [r for r in elev if r["rack"] == "hall1-r01-01"]
    assert [r["kind"] for r in rack1] == ["node"] * 8 + ["cdu"]
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == [".supercluster-output"]  # the output's marker, no temp files


def test_export_failure_leaves_old_files(capsys, project_dir, tmp_path, monkeypatch):
    run(
        capsys,
        "export",
        "--stack",
        "dev",
        "--project-dir",
        str(project_dir),
        "--out",
        str(tmp_path),
    )
    before = (tmp_path / "cabling.csv").read_bytes()
    import infra.design.export

    def boom(design):
        raise OSError("disk full")

    monkeypatch.setattr(infra.design.export, "port_map_rows", boom)
    argv = ["export", "--stack", "dev", "--project-dir", str(project_dir), "--out", str(tmp_path)]
    # An OSError with no errno is the environment's (disk full), exit 3, one line.
    assert main(argv) == 3
    assert "disk full" in capsys.readouterr().err
    assert (tmp_path / "cabling.csv").read_bytes() == before
    assert not [p for p in tmp_path.parent.iterdir() if ".tmp-" in p.name]


def test_init_superpod_writes_a_valid_stack(capsys, tmp_path):
    init = ["init", "--preset", "superpod", "--stack", "sp", "--project-dir", str(tmp_path)]
    code, _, _ = run(capsys, *init, "--sus", "2")
    assert code == 0
    code, out, _ = run(capsys, "design", "--stack", "sp", "--project-dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["nodes"] == 63
    assert run(capsys, *init, "--sus", "2")[0] == 2  # exists, no --force
    other = ["init", "--preset", "superpod", "--stack", "x", "--project-dir", str(tmp_path)]
    code, _, err = run(capsys, *other, "--sus", "65")
    assert code == 2 and "--sus: 65 is outside 1-64" in err


def test_memphis_reference_stack(capsys, project_dir):
    """memphis as built: one Spectrum-X fabric of three tiers."""
    code, out, _ = run(
        capsys, "design", "--stack", "memphis", "--project-dir", str(project_dir), "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["gpus"] == 100_352 and data["planes"] == 1
    assert data["technology"] == "spectrum_x"
    assert [(p["tiers"], p["lids"]) for p in data["fabric"]] == [(3, 0)]
    assert data["switches"] == {"leaf": 1568, "spine": 1568, "core": 1024}
    assert [p["phase"] for p in data["power"]["phases"]] == ["p1-hall1", "p2-hall2", "p3-full"]
    assert all(p["headroom_kw"] > 0 for p in data["power"]["phases"])
    assert data["violations"] == []


def test_memphis_ib_reference_stack(capsys, project_dir):
    """The InfiniBand design of the same site: 8 per-rail planes under the LID limit."""
    code, out, _ = run(
        capsys, "design", "--stack", "memphis-ib", "--project-dir", str(project_dir), "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["technology"] == "infiniband_ndr"
    assert data["nodes"] == 12_542 and data["planes"] == 8  # 2 slots hold sm1, sm2
    assert all(p["lids"] <= 49151 and p["tiers"] == 3 for p in data["fabric"])
    assert [p["phase"] for p in data["power"]["phases"]] == ["p1-hall1", "p2-hall2", "p3-full"]
    assert all(p["headroom_kw"] > 0 for p in data["power"]["phases"])
    assert data["violations"] == []


def test_run_design_only_is_the_main_job_without_the_simulation(capsys, project_dir, tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text((project_dir / "Pulumi.dev.yaml").read_text())
    code, _, err = run(
        capsys, "run", "--stack", "dev", "--project-dir", str(tmp_path), "--design-only"
    )
    assert code == 0
    assert "[3/3] export" in err and "run: ok" in err
    assert (tmp_path / "out" / "dev" / "export" / "cabling.csv").exists()
