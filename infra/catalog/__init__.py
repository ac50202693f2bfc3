"""The hardware catalog: figures live in hardware.yaml (with sources); this module only
loads them into typed records, once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    fabric: str = "infiniband"  # "infiniband" | "ethernet"
    use: str = ""  # ethernet: "nic" (leaf to SuperNIC, 400G) | "switch" (800G)


@dataclass(frozen=True, slots=True)
class NicModel:
    name: str
    port_gbps: int
    ports: int
    form_factor: str


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
    media: tuple[Medium, ...]  # InfiniBand media, cheapest first
    cdus: dict[str, CduModel]
    pdus: dict[str, PduModel]
    tcs_lpm_per_kw: float
    nics: dict[str, NicModel] = field(default_factory=dict)
    eth_media: tuple[Medium, ...] = ()  # Spectrum-X media, cheapest first per `use`

    def media_by_name(self) -> dict[str, Medium]:
        """Every medium of both fabrics by name (names are unique across the catalog)."""
        return {m.name: m for m in (*self.media, *self.eth_media)}


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

    media = [Medium(**figures(m)) for m in raw["media"]]
    return Catalog(
        nodes=table("nodes", NodeModel),
        switches=table("switches", SwitchModel),
        media=tuple(m for m in media if m.fabric == "infiniband"),
        cdus=table("cdus", CduModel),
        pdus=table("pdus", PduModel),
        tcs_lpm_per_kw=float(raw["cooling"]["tcs_lpm_per_kw"]),
        nics=table("nics", NicModel),
        eth_media=tuple(m for m in media if m.fabric == "ethernet"),
    )
