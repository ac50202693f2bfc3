"""The hardware catalog: figures live in hardware.yaml (with sources); this module only
loads them into typed records, once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml


@dataclass(frozen=True, slots=True)
class NodeModel:
    name: str
    gpus: int
    gpu_model: str
    height_u: int
    nameplate_kw: float
    expected_kw: float
    liquid_fraction: float
    rails: int
    bios: dict


@dataclass(frozen=True, slots=True)
class SwitchModel:
    name: str
    height_u: int
    ports: dict
    base_w: float
    max_w: float
    liquid_fraction: float


@dataclass(frozen=True, slots=True)
class Medium:
    name: str
    max_reach_m: float
    power_w_per_end: float


@dataclass(frozen=True, slots=True)
class CduModel:
    name: str
    placement: str
    height_u: int
    capacity_kw: float
    pumps: int
    redundant_pumps: int
    max_flow_lpm: float
    power_kw: float


@dataclass(frozen=True, slots=True)
class PduModel:
    name: str
    rated_kw: float
    usable_kw: float


@dataclass(frozen=True, slots=True)
class Catalog:
    nodes: dict[str, NodeModel]
    switches: dict[str, SwitchModel]
    media: tuple[Medium, ...]  # cheapest first
    cdus: dict[str, CduModel]
    pdus: dict[str, PduModel]
    tcs_lpm_per_kw: float


def figures(entry: dict) -> dict:
    """An entry's figures without its `source` list: the sources are for the people who
    read and check the catalog (tests/test_sources.py); no computation reads them."""
    return {k: v for k, v in entry.items() if k != "source"}


@cache
def load_catalog(path: Path | None = None) -> Catalog:
    path = path or Path(__file__).with_name("hardware.yaml")
    raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    def table(key: str, cls: type) -> dict:
        return {name: cls(name=name, **figures(fields)) for name, fields in raw[key].items()}

    return Catalog(
        nodes=table("nodes", NodeModel),
        switches=table("switches", SwitchModel),
        media=tuple(Medium(**figures(m)) for m in raw["media"]),
        cdus=table("cdus", CduModel),
        pdus=table("pdus", PduModel),
        tcs_lpm_per_kw=float(raw["cooling"]["tcs_lpm_per_kw"]),
    )
