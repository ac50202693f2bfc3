"""A dev-size Spectrum-X design for the RoCE tests: the dev stack (one SU of 32 HGX H100
nodes) with fabric.technology spectrum_x on SN5600 and loopback-range L3 pools (the house
rule: only 127.0.0.0/8 addresses, even in data)."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.design import compile_design
from infra.spec import parse_spec

PROJECT_DIR = Path(__file__).resolve().parents[2]
POOLS = {"fabric_loopback_cidr": "127.72.0.0/24", "rail_cidr": "127.74.0.0/16"}


def spectrum_x_spec(mgmt_cidr: str | None = None) -> dict:
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    spec = doc["config"]["supercluster:cluster"]
    fabric = spec["fabric"]
    fabric.update(technology="spectrum_x", switch="SN5600", tiers="auto", planes="single")
    for key in ("ufm", "subnet_managers", "lmc", "storage_on_rails"):
        fabric.pop(key, None)
    spec["addressing"].update(POOLS)
    if mgmt_cidr:
        spec["addressing"]["mgmt_cidr"] = mgmt_cidr
    return spec


def spectrum_x_design(mgmt_cidr: str | None = None):
    return compile_design(parse_spec(spectrum_x_spec(mgmt_cidr)), stack="roce")
