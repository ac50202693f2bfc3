"""A dev-size Spectrum-X design for the switch configuration and simulation tests: the
dev stack (one SU: 32 nodes, 4 SN5600 leaves, 2 spines) with fabric.technology spectrum_x
and L3 pools in the host-side loopback range this work may use (127.0.60.0-127.0.69.255),
compiled by the real design compiler."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.design import compile_design
from infra.spec import parse_spec

PROJECT_DIR = Path(__file__).resolve().parents[2]
POOLS = {"fabric_loopback_cidr": "127.0.60.0/24", "rail_cidr": "127.0.64.0/22"}


def spectrum_x_spec(**fabric) -> dict:
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    spec = doc["config"]["supercluster:cluster"]
    spec["fabric"].update(technology="spectrum_x", switch="SN5600", tiers="auto", planes="single")
    spec["fabric"].update(fabric)
    for key in ("ufm", "subnet_managers", "lmc", "storage_on_rails"):
        spec["fabric"].pop(key, None)
    spec["addressing"].update(POOLS)
    return spec


def spectrum_x_design(stack: str = "sx", **fabric):
    return compile_design(parse_spec(spectrum_x_spec(**fabric)), stack=stack)


def write_stack(root: Path, stack: str = "sx") -> Path:
    """A project directory holding Pulumi.<stack>.yaml with the spec above."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    doc = {"config": {"supercluster:cluster": spectrum_x_spec()}}
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root
