"""Each rule fires on a design that breaks it, with the numbers in its message, and stays
quiet on a design that does not."""

from __future__ import annotations

from infra.design import compile_design
from infra.policy import RULES, check_design
from infra.spec import parse_spec
from tests.design.specs import hall, spec_dict


def violations(spec: dict, rule: str):
    return [v for v in check_design(compile_design(parse_spec(spec), "t")) if v.rule == rule]


def test_clean_design_has_no_violations():
    assert check_design(compile_design(parse_spec(spec_dict()), "t")) == []


def _two_tiers_past_the_radix() -> dict:
    # 9 SUs of 8 leaves = 72 leaves > 64 spine ports when forced to 2 tiers
    spec = spec_dict(
        halls=[hall("hall1", 9, 4, network_racks=1)],
        fabric={"su_nodes": 32, "tiers": 2},
        power={"utility_contract_mw": 10},
        cooling={"capacity_mw": 10},
    )
    spec["addressing"] = {"mgmt_cidr": "127.0.0.0/16", "bmc_cidr": "127.1.0.0/16"}
    return spec


def test_two_tiers_past_the_radix_exhaust_spine_ports():
    spec = _two_tiers_past_the_radix()
    found = violations(spec, "fabric.ports_exhausted")
    assert found and all(v.severity == "error" for v in found)
    assert "needs 72 ports but has 64" in found[0].message
    tier = violations(spec, "fabric.tier_limit")
    assert tier and "2304 endpoints exceed the 2-tier limit k^2/2 = 2048" in tier[0].message


def test_lid_limit_per_subnet():
    spec = spec_dict(halls=[hall("hall1", 2, 4)], fabric={"su_nodes": 32, "lmc": 7})
    (v,) = violations(spec, "fabric.lid_limit")
    # 512 HCA ports << 7 = 65,536 LIDs + 24 switches
    assert "65560 unicast LIDs, the limit is 49151" in v.message


def test_cable_reach_exceeded():
    spec = spec_dict()
    spec["halls"][0]["spine_area"] = {"x_m": 0.0, "y_m": 3000.0}
    found = violations(spec, "cable.reach_exceeded")
    assert len(found) == 256  # every leaf-spine cable
    assert "3307.5 m exceeds the reach" in found[0].message


def test_pdu_overload():
    spec = spec_dict()
    spec["rack_types"][0]["pdus_per_feed"] = 2
    found = violations(spec, "power.pdu_overload")
    assert len(found) == 4
    assert "nameplate 82.8 kW exceeds one feed's 69.0 kW" in found[0].message


def test_cdu_overload():
    (v,) = violations(_in_row_cdus(2), "cooling.cdu_overload")
    # 224 nodes x 8.2 kW x 0.8 liquid = 1,469.4 kW on one surviving 1,350 kW unit
    assert "1469.4 kW exceeds the N+1 capacity 1350.0 kW of 2 x XDU-1350" in v.message


def test_power_contract_per_phase():
    spec = spec_dict(
        halls=[hall("hall1", 1, 4), {**hall("hall2", 1, 4), "x_m": 50.0}],
        phases=[{"name": "one", "halls": ["hall1"]}, {"name": "two", "halls": ["hall2"]}],
        power={"utility_contract_mw": 0.5},
    )
    found = violations(spec, "power.contract_exceeded")
    assert [v.object for v in found] == ["phase two"]
    assert "exceeds contract 0.50 MW + on-site 0.00 MW = 0.50 MW" in found[0].message


def test_power_headroom_warning():
    spec = spec_dict(power={"utility_contract_mw": 0.35})
    (v,) = list(check_design(compile_design(parse_spec(spec), "t")))
    assert (v.rule, v.severity) == ("power.contract_headroom", "warning")


def test_cooling_plant_exceeded():
    spec = spec_dict(cooling={"capacity_mw": 0.2})
    (v,) = violations(spec, "cooling.plant_exceeded")
    assert "exceeds plant capacity 0.20 MW" in v.message


def _broken_specs() -> list[dict]:
    """One design per rule that breaks it (the cases above, gathered)."""
    far = spec_dict()
    far["halls"][0]["spine_area"] = {"x_m": 0.0, "y_m": 3000.0}
    one_pdu = spec_dict()
    one_pdu["rack_types"][0]["pdus_per_feed"] = 2
    return [
        _two_tiers_past_the_radix(),
        spec_dict(halls=[hall("hall1", 2, 4)], fabric={"su_nodes": 32, "lmc": 7}),
        far,
        one_pdu,
        _in_row_cdus(2),
        spec_dict(power={"utility_contract_mw": 0.2}),
        spec_dict(power={"utility_contract_mw": 0.35}),
        spec_dict(cooling={"capacity_mw": 0.2}),
    ]


def _in_row_cdus(units: int) -> dict:
    spec = spec_dict()
    spec["rack_types"][0].update(cdu="in_row", cdu_model="XDU-1350")
    spec["halls"][0]["rows"][0].update(racks=28, cdus=units, network_racks=4)
    spec["addressing"] = {"mgmt_cidr": "127.0.0.0/16", "bmc_cidr": "127.1.0.0/16"}
    spec["power"] = {"utility_contract_mw": 10}
    spec["cooling"] = {"water_class": "W32", "supply_temp_c": 30, "capacity_mw": 10}
    return spec


def test_each_rule_emits_its_own_id_with_one_severity():
    """RULES' keys are what the violations say: `only=` and the policy pack select by
    them, so a rule emitting another id would hide its violations from both."""
    from tests.design.test_spectrum_x import broken_ethernet_designs

    seen: dict[str, set[str]] = {key: set() for key in RULES}
    designs = [compile_design(parse_spec(spec), "t") for spec in _broken_specs()]
    for design in designs + broken_ethernet_designs():
        for key in RULES:
            for v in check_design(design, only=(key,)):
                assert v.rule == key
                seen[key].add(v.severity)
    assert all(len(severities) == 1 for severities in seen.values()), seen  # each fired once


def test_the_cdu_load_figure_has_one_home():
    """The rule and the plan review read the design's figure: the same CDUs are over."""
    from infra.design.cooling import busiest_cdu_pct
    from infra.review.diff import _cooling

    design = compile_design(parse_spec(_in_row_cdus(2)), "t")
    (cdu,) = design.cooling.cdus
    assert cdu.overloaded and round(cdu.load_pct, 1) == 108.8  # 1,469.4 kW on 1,350 kW
    assert busiest_cdu_pct(design.cooling.cdus) == cdu.load_pct
    review = _cooling(design)
    overloads = check_design(design, only=("cooling.cdu_overload",))
    assert review["CDUs over N+1 capacity"] == len(overloads) == 1
