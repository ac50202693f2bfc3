"""Helpers for the plan review tests: a throwaway git repository holding one stack,
changed between commit and working tree, and `supercluster plan` run on it in-process
(the real CLI entry point, real git)."""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from infra.cli import main

STACK = "review"

BASE_SPEC: dict = {
    "site": {"name": "rv"},
    "power": {"utility_contract_mw": 1.0, "target_pue": 1.2},
    "cooling": {"water_class": "W32", "supply_temp_c": 30, "capacity_mw": 1.0},
    "rack_types": [
        {
            "name": "hgx-lc",
            "node": "HGX-H100-LC-4U",
            "nodes": 8,
            "first_node_u": 5,
            "cdu": "in_rack",
            "cdu_model": "IRCDU-100",
            "pdu_model": "PDU-415V-60A-3P",
            "pdus_per_feed": 3,
        }
    ],
    "halls": [
        {
            "name": "hall1",
            "spine_area": {"x_m": 0.0, "y_m": 8.0},
            "rows": [
                {
                    "name": "r01",
                    "x_m": 0.0,
                    "y_m": 0.0,
                    "racks": 4,
                    "rack_type": "hgx-lc",
                    "network_racks": 1,
                },
            ],
        }
    ],
    # A short tray rise so racks next to their leaves are cabled in copper.
    "fabric": {"su_nodes": 32, "planes": "single", "cabling": {"tray_rise_m": 0.5}},
    "addressing": {"mgmt_cidr": "127.0.1.0/24", "bmc_cidr": "127.0.2.0/24"},
}


def base_spec() -> dict:
    return copy.deepcopy(BASE_SPEC)


@dataclass
class PlanRun:
    rc: int
    stdout: str
    stderr: str
    out: Path

    @property
    def json(self) -> dict:
        return json.loads((self.out / "review.json").read_text())

    @property
    def md(self) -> str:
        return (self.out / "review.md").read_text()

    def delta(self, section: str, item: str) -> float:
        return next(d["delta"] for d in self.json[section] if d["item"] == item)


class Repo:
    def __init__(self, root: Path, init: bool = True):
        """A new repository at root; init=False: a project directory inside one."""
        self.root = root
        root.mkdir(parents=True, exist_ok=not init)
        if init:
            self.git("init", "-q")
        (root / "Pulumi.yaml").write_text("name: supercluster\nruntime: python\nmain: infra/\n")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=review@test", "-c", "user.name=review", *args],
            cwd=self.root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def write(self, spec: dict | None = None, text: str | None = None) -> None:
        body = (
            text
            if text is not None
            else yaml.safe_dump({"config": {"supercluster:cluster": spec}}, sort_keys=False)
        )
        (self.root / f"Pulumi.{STACK}.yaml").write_text(body)

    def commit(self, message: str = "base") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def plan(self, capsys: pytest.CaptureFixture, *extra: str) -> PlanRun:
        out = self.root / "out"
        rc = main(
            ["plan", "--stack", STACK, "--project-dir", str(self.root), "--out", str(out), *extra]
        )
        captured = capsys.readouterr()
        return PlanRun(rc, captured.out, captured.err, out)
