"""Layout, addressing, power and cooling on a design small enough to check by hand."""

from __future__ import annotations

import pytest

from infra.design import compile_design
from infra.spec import parse_spec
from tests.design.specs import hall, spec_dict


@pytest.fixture(scope="module")
def dev():
    return compile_design(parse_spec(spec_dict()), "t")


def test_nodes_fill_racks_bottom_up_after_the_cdu(dev):
    rack1 = [n for n in dev.nodes if n.rack == "hall1-r01-01"]
    assert [n.u for n in rack1] == [5, 9, 13, 17, 21, 25, 29, 33]
    assert [n.name for n in rack1][:2] == ["hall1-su001-n01", "hall1-su001-n02"]
    assert dev.nodes[-1].name == "hall1-su001-n32" and dev.nodes[-1].rack == "hall1-r01-04"


def test_addresses_are_sequential_and_unique(dev):
    assert [n.mgmt_ip for n in dev.nodes[:3]] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    assert dev.nodes[31].bmc_ip == "127.0.2.32"
    assert len({n.mgmt_ip for n in dev.nodes}) == 32


def test_racks_stand_where_the_rows_say(dev):
    where = {r.name: (r.kind, r.x_m, r.y_m) for r in dev.racks}
    assert where["hall1-r01-01"] == ("compute", 0.0, 0.0)
    assert where["hall1-r01-04"] == ("compute", 1.8, 0.0)
    assert where["hall1-r01-05"] == ("network", 2.4, 0.0)
    assert where["hall1-spine-01"] == ("network", 0.0, 6.0)


def test_sus_restart_in_each_hall():
    spec = spec_dict(halls=[hall("hall1", 1, 3), {**hall("hall2", 1, 3), "x_m": 50.0}])
    d = compile_design(parse_spec(spec), "t")
    # 24 nodes per hall with 32-node SUs: each hall holds one partial SU of its own
    assert sorted({(n.hall, n.su) for n in d.nodes}) == [("hall1", "su001"), ("hall2", "su002")]


def test_rack_power_is_nodes_switches_and_cdu(dev):
    rack = next(r for r in dev.power.racks if r.rack == "hall1-r01-01")
    assert rack.expected_kw == pytest.approx(8 * 8.2 + 1.2)
    assert rack.nameplate_kw == pytest.approx(8 * 10.2 + 1.2)
    assert rack.feed_capacity_kw == pytest.approx(3 * 34.5)
    assert rack.feed_a_kw == rack.feed_b_kw == pytest.approx(rack.nameplate_kw / 2)


def test_switch_power_adds_optics_per_port(dev):
    leaf = next(r for r in dev.power.racks if r.rack == "hall1-r01-05")
    # 8 leaves: 747 W base + 32 node ports + 32 uplinks, all SR4 at 9 W per end
    assert leaf.expected_kw == pytest.approx(8 * (747 + 64 * 9) / 1000)
    assert leaf.nameplate_kw == pytest.approx(8 * 1.72)


def test_facility_power_applies_pue(dev):
    p = dev.power
    assert p.it_kw == pytest.approx(sum(r.expected_kw for r in p.racks), abs=0.01)
    assert p.facility_kw == pytest.approx(p.it_kw * 1.2, abs=0.01)
    assert [ph.phase for ph in p.phases] == ["all"]


def test_phases_are_cumulative_and_use_their_contract():
    spec = spec_dict(
        halls=[hall("hall1", 1, 4), {**hall("hall2", 1, 4), "x_m": 50.0}],
        phases=[
            {"name": "one", "halls": ["hall1"], "utility_contract_mw": 0.4},
            {
                "name": "two",
                "sus": ["su002"],
                "generation": [{"kind": "gas_turbine", "count": 2, "mw_each": 2.5}],
            },
        ],
    )
    d = compile_design(parse_spec(spec), "t")
    one, two = d.power.phases
    assert one.halls == ("hall1",) and two.halls == ("hall1", "hall2")
    assert one.it_kw == pytest.approx(d.power.hall_it_kw["hall1"], abs=0.01)
    assert two.it_kw == pytest.approx(d.power.it_kw, abs=0.01)  # everything is on
    assert two.facility_kw == pytest.approx(two.it_kw * 1.2, abs=0.01)
    assert (one.contract_kw, one.onsite_kw) == (400.0, 0.0)
    assert (two.contract_kw, two.onsite_kw) == (1000.0, 5000.0)


def test_liquid_air_split_and_flows(dev):
    rack = next(r for r in dev.cooling.racks if r.rack == "hall1-r01-01")
    assert rack.liquid_kw == pytest.approx(8 * 8.2 * 0.8)
    assert rack.air_kw == pytest.approx(rack.heat_kw - rack.liquid_kw, abs=0.002)
    assert rack.flow_lpm == pytest.approx(rack.liquid_kw * 1.5, abs=0.1)
    c = dev.cooling
    # Q = P * 60 / (4.186 kJ/(L*K) * 10 K)
    assert c.facility_water_lpm == pytest.approx(c.liquid_kw * 60 / 41.86, abs=0.1)
    cdu = next(x for x in c.cdus if x.name == "hall1-r01-01-cdu")
    assert (cdu.load_kw, cdu.capacity_kw) == (pytest.approx(52.48), 100)


def test_in_row_cdus_are_sized_n_plus_one():
    spec = spec_dict(
        rack_types=[
            {
                "name": "lc",
                "node": "HGX-H100-LC-4U",
                "nodes": 8,
                "cdu": "in_row",
                "cdu_model": "XDU-1350",
                "pdu_model": "PDU-415V-60A-3P",
                "pdus_per_feed": 3,
            }
        ]
    )
    spec["halls"][0]["rows"][0]["cdus"] = 3
    d = compile_design(parse_spec(spec), "t")
    (cdu,) = d.cooling.cdus
    assert (cdu.placement, cdu.units, cdu.capacity_kw) == ("in_row", 3, 2 * 1350)
    assert cdu.load_kw == pytest.approx(32 * 8.2 * 0.8)
    # In-row CDU draw counts in the hall, not in a rack.
    assert d.power.hall_it_kw["hall1"] == pytest.approx(
        sum(r.expected_kw for r in d.power.racks) + 3 * 12, abs=0.01
    )
