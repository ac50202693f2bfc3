"""What a user declares: the cluster spec, read from a Pulumi stack file.

The spec lives under `config: supercluster:cluster` in `Pulumi.<stack>.yaml`, so the
Pulumi CLI and this toolkit read one file. Every model forbids unknown keys; a bad file
fails with one line per problem naming its config path (see errors.InputError).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.errors import CONFIG_ROOT, InputError, at

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

# ASHRAE TC9.9 liquid cooling classes: maximum facility water supply temperature, C.
# Source: ASHRAE "Liquid Cooling Guidelines for Datacom Equipment Centers" (W-classes).
WATER_CLASS_MAX_C = {"W17": 17, "W27": 27, "W32": 32, "W40": 40, "W45": 45, "W+": 60}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(Model):
    name: Name
    location: str = ""


class Generation(Model):
    kind: Literal["gas_turbine", "diesel", "fuel_cell", "solar"]
    count: PosInt
    mw_each: PosFloat


class Storage(Model):
    """Battery storage: a bridge for transients, never counted as supply."""

    kind: Literal["battery"] = "battery"
    units: PosInt
    mw_each: PosFloat
    mwh_each: PosFloat


class PowerPlan(Model):
    utility_contract_mw: PosFloat
    generation: list[Generation] = []
    storage: list[Storage] = []
    target_pue: Annotated[float, Field(ge=1.0, le=3.0)] = 1.2
    # What the contract is checked against: expected (sustained) draw or nameplate.
    budget_basis: Literal["expected", "nameplate"] = "expected"


class CoolingPlant(Model):
    water_class: Literal["W17", "W27", "W32", "W40", "W45", "W+"]
    supply_temp_c: float
    capacity_mw: PosFloat
    facility_delta_t_c: PosFloat = 10.0

    @model_validator(mode="after")
    def _supply_within_class(self) -> CoolingPlant:
        limit = WATER_CLASS_MAX_C[self.water_class]
        if self.supply_temp_c > limit:
            raise ValueError(
                f"supply_temp_c {self.supply_temp_c} exceeds {self.water_class} maximum {limit} C"
            )
        return self


class RackType(Model):
    name: Name
    node: str  # catalog node model
    nodes: PosInt
    first_node_u: PosInt = 1  # lowest U of the lowest node (an in-rack CDU sits below)
    height_u: PosInt = 48
    cdu: Literal["in_rack", "in_row", "none"] = "in_rack"
    cdu_model: str | None = None  # catalog CDU; required unless cdu is "none"
    pdu_model: str
    pdus_per_feed: PosInt = 1  # PDUs on each of the A and B feeds


class Row(Model):
    name: Name
    x_m: float  # position of the row's first rack in hall coordinates
    y_m: float
    racks: PosInt  # compute racks
    rack_type: Name
    pitch_m: PosFloat = 0.6  # rack width
    network_racks: NonNegInt = 0  # switch racks at the end of the row (leaves of its SUs)
    cdus: NonNegInt = 0  # in-row CDUs serving this row (rack types with cdu: in_row)


class Area(Model):
    """A floor area where switch racks are placed in lines of `racks_per_line`."""

    x_m: float
    y_m: float
    racks_per_line: PosInt = 20
    line_spacing_m: PosFloat = 2.4


class Hall(Model):
    name: Name
    x_m: float = 0.0  # hall origin in site coordinates
    y_m: float = 0.0
    rows: Annotated[list[Row], Field(min_length=1)]
    spine_area: Area | None = None  # where this hall's spine racks stand


class Oversubscription(Model):
    leaf: Annotated[float, Field(ge=1.0, le=8.0)] = 1.0
    spine: Annotated[float, Field(ge=1.0, le=8.0)] = 1.0


class Ufm(Model):
    """UFM appliance taking the last node slot of the first SU (DGX SuperPOD, 1-4 SUs)."""

    ports: Annotated[int, Field(ge=1, le=8)] = 4


class CoreArea(Area):
    hall: Name


class Cabling(Model):
    tray_rise_m: NonNegFloat = 2.0  # from a port up to the overhead tray, per end
    slack_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    in_rack_m: PosFloat = 1.0  # both ends in one rack


class Fabric(Model):
    technology: Literal["infiniband_ndr", "roce_400g"] = "infiniband_ndr"
    topology: Literal["rail_optimized_fat_tree"] = "rail_optimized_fat_tree"
    su_nodes: PosInt = 32
    tiers: Literal[2, 3, "auto"] = "auto"
    planes: Literal["single", "per_rail"] = "single"
    oversubscription: Oversubscription = Oversubscription()
    switch: str = "QM9700"
    split_mode: Literal["ndr400", "ndr200"] = "ndr400"
    lmc: Annotated[int, Field(ge=0, le=7)] = 0
    switches_per_rack: Annotated[int, Field(ge=1, le=48)] = 16
    network_pdu_model: str = "PDU-415V-60A-3P"  # PDUs of switch racks (one per feed)
    ufm: Ufm | None = None
    core_area: CoreArea | None = None
    cabling: Cabling = Cabling()


class Addressing(Model):
    """Management and BMC address pools (the simulated site uses loopback pools)."""

    mgmt_cidr: str
    bmc_cidr: str

    @model_validator(mode="after")
    def _valid_networks(self) -> Addressing:
        for field_name in ("mgmt_cidr", "bmc_cidr"):
            try:
                ipaddress.ip_network(getattr(self, field_name), strict=True)
            except ValueError as exc:
                raise ValueError(f"{field_name}: {exc}") from None
        return self


class Phase(Model):
    """What is energized from this phase on (phases are cumulative)."""

    name: Name
    halls: list[Name] = []
    sus: list[str] = []  # scalable unit names, e.g. "su005"
    utility_contract_mw: PosFloat | None = None  # the contract in force in this phase
    generation: list[Generation] | None = None  # on-site units running in this phase


class ClusterSpec(Model):
    site: Site
    power: PowerPlan
    cooling: CoolingPlant
    rack_types: Annotated[list[RackType], Field(min_length=1)]
    halls: Annotated[list[Hall], Field(min_length=1)]
    fabric: Fabric = Fabric()
    addressing: Addressing
    phases: list[Phase] = []


def _loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-after", "literal[", "int", "str")):
            continue  # pydantic's union/validator branch markers: not config keys
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(err: dict) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    return msg.removeprefix("Value error, ")


def parse_spec(data: object) -> ClusterSpec:
    """Validate the `supercluster:cluster` object; raise InputError with config paths."""
    if not isinstance(data, dict):
        raise InputError([at("", "must be a mapping")])
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        problems = [at(_loc_path(e["loc"]), _describe(e)) for e in exc.errors()]
        raise InputError(problems) from None


def stack_file(stack: str, project_dir: Path) -> Path:
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


def read_stack_config(stack: str, project_dir: Path) -> dict:
    """The `config:` mapping of Pulumi.<stack>.yaml."""
    path = stack_file(stack, project_dir)
    if not path.is_file():
        raise InputError([f"{path}: no such stack file (stack {stack!r})"])
    try:
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError([f"{path}:{where}: malformed YAML: {reason}"]) from None
    config = (doc or {}).get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict) or CONFIG_ROOT not in config:
        raise InputError([f"{path}: config.{CONFIG_ROOT} is missing"])
    return config


def load_spec(stack: str, project_dir: Path) -> ClusterSpec:
    """Read and validate a stack's spec (schema only; cross-references are checked by
    infra.design.compile_design, which also names the config path)."""
    return parse_spec(read_stack_config(stack, project_dir)[CONFIG_ROOT])
