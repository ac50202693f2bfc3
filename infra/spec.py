"""What a user declares: the cluster spec, read from a Pulumi stack file.

The spec lives under `config: supercluster:cluster` in `Pulumi.<stack>.yaml`, so the
Pulumi CLI and this toolkit read one file. Every model forbids unknown keys; a bad file
fails with one line per problem naming its config path (see errors.InputError).
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.errors import CONFIG_ROOT, InputError, at, shown

# Limits of a stack file and of the site it declares (docs/stack-limits.md). They bound
# the work a small file can cause: a few bytes of YAML must never allocate gigabytes.
MAX_STACK_FILE_BYTES = 1 << 20  # real stack files are a few KB (memphis: under 4 KB)
MAX_YAML_NODES = 100_000  # values after aliases are expanded (memphis: under 1,000)
MAX_YAML_DEPTH = 32  # nesting levels (the spec itself is 6 deep)
MAX_PROBLEMS = 50  # lines one bad spec reports: the first 49 and a count of the rest
DEFAULT_MAX_NODES = 200_000  # 16x the 12,544-node memphis site; limits.max_nodes raises it
HARD_MAX_NODES = 2_000_000  # no override goes past this (memory: ~1 KB per node's links)

# Names the layout and the stack layering use for their own objects: a hall, row or rack
# type of that name would merge with them (racks, power, inventory groups, Pulumi URNs).
RESERVED_ROW_NAMES = frozenset({"spine", "core"})  # layout's switch areas: <hall>-spine-01
RESERVED_HALL_NAMES = frozenset({"all", "site"})  # values of supercluster:layer
RESERVED_RACK_TYPE_NAMES = frozenset({"network"})  # the rack_type of every switch rack

_LABEL = re.compile(r"[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?")


def _dns_label(value: str) -> str:
    """Names become host names (nodes are <hall>-<su>-nNN), so each is a DNS label."""
    if not _LABEL.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a valid name: use 1-31 lowercase ASCII letters, digits "
            "and '-', starting with a letter and not ending with '-' (names become host names)"
        )
    return value


def _reserved(words: frozenset[str], what: str):
    def check(value: str) -> str:
        if value in words:
            raise ValueError(f"{value!r} is reserved ({what}); choose another name")
        return value

    return AfterValidator(check)


def _number(value: object) -> object:
    """Numbers are numbers: YAML `true` or "4" must not pass as 1 or 4 (pydantic's lax
    mode would take them). Integral floats still pass for int fields: the Pulumi engine
    hands the policy pack every number as a float."""
    if isinstance(value, bool):
        raise ValueError("Input should be a valid number, not a boolean")
    if isinstance(value, (str, bytes)):
        raise ValueError("Input should be a valid number, not a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Input should be a finite number")  # before any bound says less
    return value


# A decimal as Pulumi writes it: `pulumi config set --path KEY 0.05` stores every number
# that is not an integer as a string (its `config set --help`), so a float field takes a
# plain decimal string too. Nothing looser: no "nan", "inf", "0x10", " 4", "1_000".
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _decimal(value: object) -> object:
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = float(value)
    return _number(value)


def Int(ge: int = 0, le: int = 1_000_000, gt: int | None = None):
    """A bounded int: every count drives allocation, so each has a ceiling."""
    bounds = {"gt": gt} if gt is not None else {"ge": ge}
    return Annotated[int, BeforeValidator(_number), Field(le=le, **bounds)]


def Float(ge: float | None = None, le: float = 1e6, gt: float | None = None):
    """A bounded, finite float (no NaN, no infinity)."""
    bounds = {"ge": ge} if gt is None else {"gt": gt}
    return Annotated[float, BeforeValidator(_decimal), Field(le=le, allow_inf_nan=False, **bounds)]


Name = Annotated[StrictStr, AfterValidator(_dns_label)]
ModelName = Annotated[StrictStr, Field(min_length=1, max_length=64)]  # a catalog key
Coord = Float(ge=-10_000.0, le=10_000.0)  # metres from the site origin: a 20 km site
Mw = Float(gt=0, le=100_000)  # 100 GW: far above any site

# ASHRAE TC9.9 liquid cooling classes: maximum facility water supply temperature, C.
# Source: ASHRAE "Liquid Cooling Guidelines for Datacom Equipment Centers" (W-classes).
WATER_CLASS_MAX_C = {"W17": 17, "W27": 27, "W32": 32, "W40": 40, "W45": 45, "W+": 60}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SuName = Annotated[StrictStr, Field(pattern=r"^su[0-9]{3,7}$")]  # e.g. "su005"
Count = Int(gt=0, le=10_000)  # generation units, battery units
Metres = Float(gt=0, le=100.0)  # pitches, spacings: a rack or an aisle, not a site


class Site(Model):
    name: Name
    location: Annotated[StrictStr, Field(max_length=200)] = ""


class Generation(Model):
    kind: Literal["gas_turbine", "diesel", "fuel_cell", "solar"]
    count: Count
    mw_each: Mw


class Storage(Model):
    """Battery storage: a bridge for transients, never counted as supply."""

    kind: Literal["battery"] = "battery"
    units: Count
    mw_each: Mw
    mwh_each: Mw


class PowerPlan(Model):
    utility_contract_mw: Mw
    generation: Annotated[list[Generation], Field(max_length=64)] = []
    storage: Annotated[list[Storage], Field(max_length=64)] = []
    target_pue: Float(ge=1.0, le=3.0) = 1.2
    # What the contract is checked against: expected (sustained) draw or nameplate.
    budget_basis: Literal["expected", "nameplate"] = "expected"


class CoolingPlant(Model):
    water_class: Literal["W17", "W27", "W32", "W40", "W45", "W+"]
    supply_temp_c: Float(ge=0.0, le=100.0)
    capacity_mw: Mw
    facility_delta_t_c: Float(gt=0, le=50.0) = 10.0

    @model_validator(mode="after")
    def _supply_within_class(self) -> CoolingPlant:
        limit = WATER_CLASS_MAX_C[self.water_class]
        if self.supply_temp_c > limit:
            raise ValueError(
                f"supply_temp_c {self.supply_temp_c} exceeds {self.water_class} maximum {limit} C"
            )
        return self


class RackType(Model):
    name: Annotated[Name, _reserved(RESERVED_RACK_TYPE_NAMES, "the type of switch racks")]
    node: ModelName  # catalog node model
    nodes: Int(gt=0, le=256)
    first_node_u: Int(gt=0, le=100) = 1  # lowest U of the lowest node (an in-rack CDU below)
    height_u: Int(gt=0, le=100) = 48
    cdu: Literal["in_rack", "in_row", "none"] = "in_rack"
    cdu_model: ModelName | None = None  # catalog CDU; required unless cdu is "none"
    pdu_model: ModelName
    pdus_per_feed: Int(gt=0, le=16) = 1  # PDUs on each of the A and B feeds


class Row(Model):
    name: Annotated[Name, _reserved(RESERVED_ROW_NAMES, "a switch area of the hall")]
    x_m: Coord  # position of the row's first rack in hall coordinates
    y_m: Coord
    racks: Int(gt=0, le=10_000)  # compute racks
    rack_type: Name
    pitch_m: Metres = 0.6  # rack width
    network_racks: Int(ge=0, le=1_000) = 0  # switch racks at the end of the row
    cdus: Int(ge=0, le=1_000) = 0  # in-row CDUs serving this row (rack types with in_row)


class Area(Model):
    """A floor area where switch racks are placed in lines of `racks_per_line`."""

    x_m: Coord
    y_m: Coord
    racks_per_line: Int(gt=0, le=1_000) = 20
    line_spacing_m: Metres = 2.4


class Hall(Model):
    name: Annotated[Name, _reserved(RESERVED_HALL_NAMES, "a value of supercluster:layer")]
    x_m: Coord = 0.0  # hall origin in site coordinates
    y_m: Coord = 0.0
    rows: Annotated[list[Row], Field(min_length=1, max_length=1_000)]
    spine_area: Area | None = None  # where this hall's spine racks stand


class Oversubscription(Model):
    leaf: Float(ge=1.0, le=8.0) = 1.0
    spine: Float(ge=1.0, le=8.0) = 1.0


class Ufm(Model):
    """UFM appliance taking the last node slot of the first SU (DGX SuperPOD, 1-4 SUs)."""

    ports: Int(ge=1, le=8) = 4


class CoreArea(Area):
    hall: Name


class Cabling(Model):
    tray_rise_m: Float(ge=0, le=100.0) = 2.0  # from a port up to the overhead tray, per end
    slack_fraction: Float(ge=0.0, le=1.0) = 0.1
    in_rack_m: Metres = 1.0  # both ends in one rack


# 4-byte private ASNs (RFC 6996): 4,200,000,000-4,294,967,294. One per leaf, one per pod's
# spines, one for the cores: a memphis-size fabric needs under 2,000.
ASN_PRIVATE_4B = (4_200_000_000, 4_294_967_294)


class Fabric(Model):
    # infiniband_ndr: per-plane InfiniBand fat trees under OpenSM. spectrum_x: one RoCE v2
    # Ethernet fabric of SN5600 switches, BGP unnumbered underlay (docs/spectrum-x.md).
    technology: Literal["infiniband_ndr", "spectrum_x"] = "infiniband_ndr"
    topology: Literal["rail_optimized_fat_tree"] = "rail_optimized_fat_tree"
    su_nodes: Int(gt=0, le=1_024) = 32
    tiers: Literal[2, 3, "auto"] = "auto"
    planes: Literal["single", "per_rail"] = "single"
    oversubscription: Oversubscription = Oversubscription()
    switch: ModelName = "QM9700"
    split_mode: Literal["ndr400", "ndr200"] = "ndr400"
    lmc: Int(ge=0, le=7) = 0
    # Storage traffic rides the compute rails (no separate storage NICs/fabric): OpenSM's
    # QoS then separates it from NCCL (SL1 vs SL0). Off: storage has its own NICs (the
    # DGX/HGX reference), the rails carry compute only and QoS stays off (docs/fabric.md).
    storage_on_rails: bool = False
    switches_per_rack: Int(ge=1, le=48) = 16
    network_pdu_model: ModelName = "PDU-415V-60A-3P"  # PDUs of switch racks (one per feed)
    ufm: Ufm | None = None
    # Dedicated subnet manager hosts ("sm1", "sm2", ...): they take the last node slots of
    # the first SU (before the UFM's), like the UFM (RA-11333-001), and each has one HCA
    # port in every plane. sm1 is every plane's master (sm_priority 15), the others are
    # standbys (14, 13, ...). 0: no dedicated hosts, the SM runs on the UFM appliance or the
    # first node's HCA and has no standby.
    subnet_managers: Int(ge=0, le=8) = 0
    core_area: CoreArea | None = None
    cabling: Cabling = Cabling()
    # spectrum_x: the first ASN of the BGP plan (leaves, then pod spines, then cores).
    # The InfiniBand-only settings above (lmc, ufm, subnet_managers, split_mode) and the
    # spectrum_x pools are cross-checked by infra.design.layout.check_references.
    asn_base: Int(ge=ASN_PRIVATE_4B[0], le=ASN_PRIVATE_4B[1]) = ASN_PRIVATE_4B[0]


class Addressing(Model):
    """Management and BMC address pools (the simulated site uses loopback pools).

    IPv4 only for now: node inventories, BMC URLs and the simulated site are IPv4, and an
    IPv6 pool would hand out the subnet-router anycast address and unbracketed URLs."""

    mgmt_cidr: Annotated[StrictStr, Field(max_length=64)]
    bmc_cidr: Annotated[StrictStr, Field(max_length=64)]
    # spectrum_x (required there, optional for InfiniBand): one /32 loopback per switch,
    # one /31 per NIC (leaf side the even address, the NIC the odd one, RFC 3021).
    fabric_loopback_cidr: Annotated[StrictStr, Field(max_length=64)] | None = None
    rail_cidr: Annotated[StrictStr, Field(max_length=64)] | None = None
    # Optional, any fabric: one out-of-band management address per switch (its eth0),
    # what the switches playbook connects to.
    switch_mgmt_cidr: Annotated[StrictStr, Field(max_length=64)] | None = None

    @field_validator(
        "mgmt_cidr", "bmc_cidr", "fabric_loopback_cidr", "rail_cidr", "switch_mgmt_cidr"
    )
    @classmethod
    def _ipv4_network(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if net.version != 4:
            raise ValueError(f"{net} is IPv6: address pools are IPv4 only (docs/stack-limits.md)")
        return value

    @model_validator(mode="after")
    def _pools_apart(self) -> Addressing:
        """No two pools may share an address: a node's management and BMC addresses, a
        switch loopback and a NIC link must never be the same host."""
        pools = [
            (key, ipaddress.ip_network(value))
            for key in (
                "mgmt_cidr",
                "bmc_cidr",
                "fabric_loopback_cidr",
                "rail_cidr",
                "switch_mgmt_cidr",
            )
            if (value := getattr(self, key)) is not None
        ]
        for i, (key_a, a) in enumerate(pools):
            for key_b, b in pools[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"{key_a} {a} and {key_b} {b} overlap: use separate pools")
        return self


class Phase(Model):
    """What is energized from this phase on (phases are cumulative)."""

    name: Name
    halls: Annotated[list[Name], Field(max_length=64)] = []
    sus: Annotated[list[SuName], Field(max_length=10_000)] = []  # e.g. "su005"
    utility_contract_mw: Mw | None = None  # the contract in force in this phase
    generation: Annotated[list[Generation], Field(max_length=64)] | None = None  # on-site


class Limits(Model):
    """Explicit overrides of the size cap (a typo must not turn into a 10^9-rack site)."""

    max_nodes: Int(gt=0, le=HARD_MAX_NODES) = DEFAULT_MAX_NODES


class ClusterSpec(Model):
    site: Site
    power: PowerPlan
    cooling: CoolingPlant
    rack_types: Annotated[list[RackType], Field(min_length=1, max_length=64)]
    halls: Annotated[list[Hall], Field(min_length=1, max_length=64)]
    fabric: Fabric = Fabric()
    addressing: Addressing
    phases: Annotated[list[Phase], Field(max_length=256)] = []
    limits: Limits = Limits()


def _loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "int", "str", "float")):
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


def capped(problems: list[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """At most `limit` lines: the first ones and a count of the rest (a list of a
    million bad entries must not print a million lines)."""
    if len(problems) <= limit:
        return problems
    rest = len(problems) - (limit - 1)
    return [*problems[: limit - 1], f"... and {rest:,} more problem(s)"]


def parse_spec(data: object) -> ClusterSpec:
    """Validate the `supercluster:cluster` object; raise InputError with config paths."""
    if not isinstance(data, dict):
        raise InputError([at("", f"must be a mapping, got {_kind(data)}")])
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        # A key can be any string: cut it before it reaches a message.
        problems = [at(_short_path(_loc_path(e["loc"])), _describe(e)) for e in exc.errors()]
        raise InputError(capped(problems)) from None


def _short_path(path: str, limit: int = 200) -> str:
    return path if len(path) <= limit else path[: limit - 3] + "..."


def _kind(value: object) -> str:
    return {type(None): "nothing", list: "a list", str: "a string"}.get(type(value), "a value")


# Pulumi's rule for a stack's own name (no org/project qualifier): letters, digits, `-`,
# `_`, `.`, at most 100. The name becomes part of paths (Pulumi.<stack>.yaml,
# out/<stack>/, inventory/<stack>/): no `/`, and no `..` that could climb out of them.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def stack_name_problem(stack: str) -> str | None:
    """Why `stack` is not a stack name (one path component), or None: the one check
    behind --stack on every subcommand and every stack file read."""
    if _STACK_NAME.fullmatch(stack) and ".." not in stack and not stack.startswith("."):
        return None
    return (
        f"{shown(stack)}: a stack name is 1-100 letters, digits, '-', '_' or '.' "
        "(no '/', no '..', not starting with '.')"
    )


def stack_file(stack: str, project_dir: Path) -> Path:
    problem = stack_name_problem(stack)
    if problem:
        raise InputError([f"--stack {problem}"])
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


# ---- reading a stack file --------------------------------------------------------------
# One reader for every stack file (the spec's and the hall layers'): bytes capped, UTF-8,
# YAML composed to a node graph and checked before anything is built from it.

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_stack_file(path: Path) -> object:
    """The parsed YAML document of a stack file, or InputError naming the file (and the
    line) for: a file too big, not UTF-8, malformed YAML, a duplicate key, aliases that
    expand past MAX_YAML_NODES, nesting past MAX_YAML_DEPTH."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_STACK_FILE_BYTES + 1)  # never more, whatever the file's size
    except OSError as exc:
        raise InputError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse_stack_bytes(data, str(path))


def parse_stack_bytes(data: bytes | str, where: str) -> object:
    """The checks of read_stack_file on a stack file's content from elsewhere (a git
    revision for the plan review); `where` starts each problem line."""
    if len(data) > MAX_STACK_FILE_BYTES:
        raise InputError(
            [f"{where}: larger than {MAX_STACK_FILE_BYTES:,} bytes; a stack file is a few KB"]
        )
    text = data if isinstance(data, str) else _decode(where, data)
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(where, loader, node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError([_yaml_problem(where, exc, text)]) from None
    except RecursionError:
        raise InputError([f"{where}: malformed YAML: nested too deeply"]) from None
    finally:
        loader.dispose()


def _decode(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            [
                f"{where}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                f"offset {exc.start}); save the file as UTF-8"
            ]
        ) from None


def _yaml_problem(where: str, exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    line = f" line {mark.line + 1} column {mark.column + 1}:" if mark else ""
    if isinstance(exc, yaml.reader.ReaderError):  # a bad character: no mark, a position
        line = f" line {text.count(chr(10), 0, exc.position) + 1}:"
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}:{line} malformed YAML: {shown(reason, 200)[1:-1]}"


class _GraphCheck:
    """One pass over the composed node graph, each node once (aliases share nodes): the
    size and height of what it expands to, duplicate keys, alias cycles."""

    def __init__(self, where: str, loader):
        self.where = where
        self.loader = loader
        self.seen: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
        self.active: set[int] = set()  # nodes on the current path: a repeat is a cycle

    def refuse(self, node: yaml.Node, message: str) -> InputError:
        mark = node.start_mark
        return InputError(
            [f"{self.where}: line {mark.line + 1} column {mark.column + 1}: {message}"]
        )

    def visit(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in self.active:
            raise self.refuse(node, "an alias refers to its own anchor (a recursive structure)")
        size, height = self.seen.get(key) or self._measure(node, depth)
        if depth + height > MAX_YAML_DEPTH:
            raise self.refuse(node, f"nested deeper than {MAX_YAML_DEPTH} levels")
        return size, height

    def _measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_YAML_DEPTH:
            raise self.refuse(node, f"nested deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            self._refuse_duplicate_keys(node)
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        self.active.add(id(node))
        size, height = 1, 0
        for child in children:
            child_size, child_height = self.visit(child, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_YAML_NODES:
                raise self.refuse(
                    node,
                    f"expands to more than {MAX_YAML_NODES:,} values (aliases repeat what "
                    "they name); write the site out or use fewer aliases",
                )
        self.active.discard(id(node))
        self.seen[id(node)] = (size, height)
        return size, height

    def _refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        """YAML says keys are unique; PyYAML keeps the last. A repeated key is a merge
        mistake that silently drops half of what the user wrote: refuse it. Keys brought
        in by a merge (`<<: *anchor`) may be overridden: that is what merging is for."""
        first: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, self.loader.construct_object(key_node))
            if key in first:
                line = first[key].start_mark.line + 1
                raise self.refuse(key_node, f"duplicate key {shown(key[1])} (first at line {line})")
            first[key] = key_node


def _check_graph(where: str, loader, node: yaml.Node) -> None:
    _GraphCheck(where, loader).visit(node, 0)


def read_stack_config(stack: str, project_dir: Path) -> dict:
    """The `config:` mapping of Pulumi.<stack>.yaml, holding the spec."""
    path = stack_file(stack, project_dir)
    config = read_config_mapping(path, stack)
    if CONFIG_ROOT not in config:
        raise InputError([f"{path}: config.{CONFIG_ROOT} is missing"])
    return config


def read_config_mapping(path: Path, stack: str) -> dict:
    """The `config:` mapping of a stack file (empty when the file has none)."""
    if not path.is_file():
        raise InputError([f"{path}: no such stack file (stack {shown(stack)})"])
    doc = read_stack_file(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError([f"{path}: must be a YAML mapping with a config: key, got {_kind(doc)}"])
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise InputError([f"{path}: config must be a mapping, got {_kind(config)}"])
    return config


def load_spec(stack: str, project_dir: Path) -> ClusterSpec:
    """Read and validate a stack's spec (schema only; cross-references are checked by
    infra.design.compile_design, which also names the config path)."""
    return parse_spec(read_stack_config(stack, project_dir)[CONFIG_ROOT])
