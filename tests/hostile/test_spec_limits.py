"""What the corpus cannot show by exit codes alone: refusals are fast and small, the
overrides and the legitimate YAML features still work, names stay apart."""

from __future__ import annotations

import copy
import time
import tracemalloc

import pytest
import yaml

from infra.catalog import load_catalog
from infra.deploy.stacks import load_plan
from infra.design import compile_design
from infra.design.layout import check_size
from infra.errors import InputError
from infra.spec import DEFAULT_MAX_NODES, parse_spec, read_stack_config, read_stack_file
from tests.design.specs import spec_dict


def _refused_quickly(spec: dict) -> tuple[InputError, float, int]:
    """(the refusal, seconds, peak bytes allocated) of parse + compile."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError) as info:
            compile_design(parse_spec(spec), "t")
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return info.value, elapsed, peak


def _big_rows(racks: int, rows: int) -> list[dict]:
    row = spec_dict()["halls"][0]["rows"][0]
    return [
        {**row, "name": f"r{i:02d}", "racks": racks, "network_racks": 0, "y_m": 2.4 * i}
        for i in range(1, rows + 1)
    ]


def test_a_billion_racks_fails_fast_and_small():
    spec = spec_dict()
    spec["halls"][0]["rows"][0]["racks"] = 1_000_000_000
    err, elapsed, peak = _refused_quickly(spec)
    assert "racks: Input should be less than or equal to 10000" in err.problems[0]
    assert elapsed < 0.5 and peak < 5 << 20, (elapsed, peak)


def test_the_size_cap_is_counted_before_layout():
    """Every field within its bounds, the site too big: refused from the spec's counts,
    before one rack or node object exists."""
    spec = spec_dict()
    spec["halls"][0]["rows"] = _big_rows(racks=10_000, rows=64)  # 5,120,000 nodes
    err, elapsed, peak = _refused_quickly(spec)
    assert "the site has 5,120,000 nodes, over the limit of 200,000" in err.problems[0]
    assert "limits.max_nodes" in err.problems[0]
    assert elapsed < 0.5 and peak < 5 << 20, (elapsed, peak)


def test_limits_max_nodes_is_the_explicit_override():
    spec = spec_dict()
    spec["halls"][0]["rows"] = _big_rows(racks=10_000, rows=3)  # 240,000 nodes
    with pytest.raises(InputError, match="240,000 nodes"):
        check_size(parse_spec(spec), load_catalog())
    spec["limits"] = {"max_nodes": 300_000}
    check_size(parse_spec(spec), load_catalog())  # passes: the operator asked for it
    assert DEFAULT_MAX_NODES > 12_544 * 10  # well above the memphis reference site


def test_the_pulumi_engine_hands_numbers_as_floats():
    """The policy pack sees every number as a float (protobuf Struct): integral floats
    pass for int fields; booleans and strings never do."""
    spec = spec_dict()
    spec["halls"][0]["rows"][0]["racks"] = 4.0
    spec["fabric"]["su_nodes"] = 32.0
    assert compile_design(parse_spec(spec), "t").gpus == 256


def test_pulumi_config_set_decimals_are_read_as_numbers():
    """`pulumi config set --path KEY 0.05` stores a non-integer as a string: a float field
    takes a plain decimal string; anything looser, and any string for an int, is refused."""
    spec = spec_dict()
    spec["power"]["utility_contract_mw"] = "0.05"
    assert parse_spec(spec).power.utility_contract_mw == 0.05
    for loose in ("nan", "inf", "1e999", "0x10", " 1", "1_0"):
        spec["power"]["utility_contract_mw"] = loose
        with pytest.raises(InputError, match=r"power\.utility_contract_mw"):
            parse_spec(spec)
    spec = spec_dict()
    spec["halls"][0]["rows"][0]["racks"] = "4"
    with pytest.raises(InputError, match="not a string"):
        parse_spec(spec)


def test_memphis_anchors_and_merge_keys_still_read(project_dir):
    config = read_stack_config("memphis", project_dir)
    halls = config["supercluster:cluster"]["halls"]
    assert [h["name"] for h in halls] == ["hall1", "hall2", "hall3", "hall4"]
    assert len(halls[3]["rows"]) == 14


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_bytes(b"\xef\xbb\xbfconfig: {a: 1}\n")
    assert read_stack_file(path) == {"config": {"a": 1}}


@pytest.mark.parametrize("stack", ["../x", "a/b", ".hidden", "", "x" * 101, "a b"])
def test_stack_names_cannot_leave_the_project(tmp_path, stack):
    with pytest.raises(InputError, match="a stack name is 1-100 letters"):
        read_stack_config(stack, tmp_path)


def _write(tmp_path, name: str, config: dict) -> None:
    (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_layer_settings_must_be_text(tmp_path):
    _write(tmp_path, "site", {"supercluster:cluster": spec_dict()})
    _write(tmp_path, "h1", {"supercluster:specStack": ["site"], "supercluster:layer": "hall1"})
    with pytest.raises(InputError, match="specStack must be a string, got \\['site'\\]"):
        load_plan("h1", tmp_path)
    _write(tmp_path, "h1", {"supercluster:specStack": "site", "supercluster:layer": {"a": 1}})
    with pytest.raises(InputError, match=r"Pulumi\.h1\.yaml: supercluster:layer must be a string"):
        load_plan("site", tmp_path)  # found while scanning for the site's hall stacks


def test_a_broken_neighbour_stack_does_not_block_another(tmp_path):
    _write(tmp_path, "site", {"supercluster:cluster": spec_dict()})
    (tmp_path / "Pulumi.junk.yaml").write_bytes(b"config: \xff\xfe [\n")
    assert load_plan("site", tmp_path).layer == "all"


def _two_halls(first: str, second: str, second_row: str = "r01") -> dict:
    spec = spec_dict()
    a = copy.deepcopy(spec["halls"][0]) | {"name": first}
    b = copy.deepcopy(spec["halls"][0]) | {"name": second, "x_m": 20.0}
    b.pop("spine_area")
    b["rows"][0]["name"] = second_row
    spec["halls"] = [a, b]
    spec["addressing"] = {"mgmt_cidr": "127.0.0.0/20", "bmc_cidr": "127.0.16.0/20"}
    return spec


def test_names_that_only_look_alike_stay_apart():
    """Hyphenated names that do not collide compile; each inventory rack group holds
    its own rack's nodes only (the collision once made a 16-host group)."""
    from infra.nodes.inventory import groups, models_from_catalog

    design = compile_design(parse_spec(_two_halls("h-a", "h", "a-c")), "t")
    names = [r.name for r in design.racks]
    assert len(names) == len(set(names))
    by_group = groups(design.nodes, models_from_catalog(load_catalog()))
    rack_groups = {g: hosts for g, hosts in by_group.items() if g.startswith("rack_")}
    assert rack_groups and all(len(hosts) == 8 for hosts in rack_groups.values())


def test_a_collision_names_both_config_paths():
    with pytest.raises(InputError) as info:
        compile_design(parse_spec(_two_halls("h-a", "h", "a-r01")), "t")
    first = info.value.problems[0]
    assert first.startswith("supercluster:cluster.halls[1].rows[0] (rack 1): makes rack")
    assert "'h-a-r01-01', as does supercluster:cluster.halls[0].rows[0] (rack 1)" in first


def test_content_from_a_git_revision_gets_the_same_checks():
    """The plan review reads the base revision's stack file as text: parse_stack_bytes
    applies the reader's checks to it, each problem naming where it came from."""
    from infra.spec import parse_stack_bytes

    where = "Pulumi.t.yaml (main)"
    with pytest.raises(InputError, match=r"\(main\): line 2 column 1: duplicate key 'a'"):
        parse_stack_bytes("a: 1\na: 2\n", where)
    with pytest.raises(InputError, match="larger than 1,048,576 bytes"):
        parse_stack_bytes(b"#" * (2 << 20), where)
    assert parse_stack_bytes(b"a: &x [1]\nb: *x\n", where) == {"a": [1], "b": [1]}
