"""Designs for the fabric tests: the dev stack (1 SU, one plane of 8 rails) and a 4-SU
SuperPOD written by the `superpod` preset, both compiled by the real design compiler."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.design import compile_design
from infra.design.model import Design
from infra.presets import PRESETS
from infra.spec import load_spec

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dev_design() -> Design:
    return compile_design(load_spec("dev", PROJECT_DIR), stack="dev")


@pytest.fixture(scope="session")
def superpod_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory holding the 4-SU SuperPOD stack `sp4`."""
    root = tmp_path_factory.mktemp("sp4")
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.sp4.yaml").write_text(PRESETS["superpod"](4, "sp4"))
    return root


@pytest.fixture(scope="session")
def superpod_design(superpod_dir: Path) -> Design:
    return compile_design(load_spec("sp4", superpod_dir), stack="sp4")
