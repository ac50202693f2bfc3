"""Invariants of the compiler over many generated specs (hypothesis)."""

from __future__ import annotations

import math
import pickle
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.design import compile_design
from infra.spec import parse_spec
from tests.design.specs import spec_dict


@st.composite
def specs(draw):
    nodes_per_rack = draw(st.sampled_from([4, 8]))
    su_nodes = draw(st.sampled_from([8, 16, 32]))
    n_rows = draw(st.integers(1, 6))
    racks = draw(st.integers(1, 8))
    planes = draw(st.sampled_from(["single", "per_rail"]))
    tiers = draw(st.sampled_from(["auto", 3]))
    oversub = draw(st.sampled_from([1.0, 2.0]))
    sus_per_row = math.ceil(racks * nodes_per_rack / su_nodes) + 1
    spec = spec_dict(
        fabric={
            "su_nodes": su_nodes,
            "planes": planes,
            "tiers": tiers,
            "oversubscription": {"leaf": oversub, "spine": oversub},
            "core_area": {"hall": "hall1", "x_m": 5.0, "y_m": 30.0},
        },
        power={"utility_contract_mw": 50},
        cooling={"capacity_mw": 50},
        addressing={"mgmt_cidr": "127.8.0.0/16", "bmc_cidr": "127.9.0.0/16"},
    )
    spec["rack_types"][0]["nodes"] = nodes_per_rack
    spec["halls"][0]["rows"] = [
        {
            "name": f"r{i + 1:02d}",
            "x_m": 0.0,
            "y_m": 2.4 * i,
            "racks": racks,
            "rack_type": "lc",
            "network_racks": math.ceil(sus_per_row * 8 / 16),
        }
        for i in range(n_rows)
    ]
    return spec


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(specs())
def test_every_port_is_used_at_most_once(spec):
    d = compile_design(parse_spec(spec), "t")
    ends = Counter()
    for k in d.links:
        ends[(k.a_dev, k.a_port)] += 1
        ends[(k.b_dev, k.b_port)] += 1
    assert max(ends.values()) == 1
    radix = {s.name: s.ports for s in d.switches}
    assert all(port <= radix[dev] for (dev, port) in ends if dev in radix)


@SETTINGS
@given(specs())
def test_both_ends_of_every_link_agree(spec):
    d = compile_design(parse_spec(spec), "t")
    cabled = {
        (k.a_dev, k.a_port): (k.b_dev, k.b_port, k.plane) for k in d.links if k.tier == "node_leaf"
    }
    for node in d.nodes:
        for h in node.hcas:
            assert cabled[(node.name, h.rail)] == (h.leaf, h.leaf_port, h.plane)
    switch_plane = {s.name: s.plane for s in d.switches}
    for k in d.links:
        assert switch_plane[k.b_dev] == k.plane
        assert k.tier == "node_leaf" or switch_plane[k.a_dev] == k.plane
        assert k.medium and k.length_m > 0


@SETTINGS
@given(specs())
def test_counts_follow_the_fat_tree_formulas(spec):
    d = compile_design(parse_spec(spec), "t")
    su_nodes = spec["fabric"]["su_nodes"]
    up = math.ceil(su_nodes / spec["fabric"]["oversubscription"]["leaf"])
    sus = len({n.su for n in d.nodes})
    for p in d.planes:
        assert p.leaves == sus * len(p.rails)
        assert p.endpoints == len(d.nodes) * len(p.rails)
        ls = sum(1 for k in d.links if k.tier == "leaf_spine" and k.plane == p.name)
        assert ls == p.leaves * up  # every leaf uplink is cabled
        if p.tiers == 2:
            assert up % p.spines == 0 and p.spines * 64 >= p.leaves * up
        else:
            pods = math.ceil(
                p.leaves / 32 if spec["fabric"]["oversubscription"]["spine"] == 1 else p.leaves / 42
            )
            assert p.spines == pods * up
            sc = sum(1 for k in d.links if k.tier == "spine_core" and k.plane == p.name)
            assert sc == p.spines * (32 if spec["fabric"]["oversubscription"]["spine"] == 1 else 21)
        assert p.lids == p.endpoints + sum(1 for s in d.switches if s.plane == p.name)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_same_spec_gives_a_byte_identical_design(spec):
    a = pickle.dumps(compile_design(parse_spec(spec), "t"))
    b = pickle.dumps(compile_design(parse_spec(spec), "t"))
    assert a == b
