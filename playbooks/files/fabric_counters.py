#!/usr/bin/env python3
"""Fabric port error counters on a subnet manager host, for playbooks/fabric_health.yml.

Runs on the node with python3 and infiniband-diags only (ansible.builtin.script copies
it there): no project imports. The judging is infra/fleet/counters.py's (parse_perfquery,
judge), kept equal by tests/fleet/test_fabric_health_script.py.

    fabric_counters.py clear --topo designed.topo --state STATE
        discovers the fabric (ibnetdiscover), finds the LIDs of the designed nodes (by GUID:
        the plane's designed.topo from `fabric render`, --guids-from on a real site), clears
        their counters (perfquery -R) and writes STATE (the ports to read, the clear time).
    fabric_counters.py judge --state STATE --thresholds JSON
        reads the designed ports again (perfquery) and judges what they counted since the
        clear: above a counter's threshold, any LinkDownedCounter rise (a flap), a designed
        port that did not answer, a designed node not in the fabric. Prints JSON.

Only designed ports are read and judged: spare ports are not failures. One perfquery per
node reads (or clears) all its designed ports (a comma-separated port list), JOBS at a
time (--jobs, default 8): a full memphis plane is ~13,600 nodes (bench/fabric_health.py).
Exit status: 0 judged (findings or not; the JSON says), 2 could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

JUDGED = ("SymbolErrorCounter", "LinkDownedCounter", "PortRcvErrors")
FLAP_COUNTER = "LinkDownedCounter"

_HEADER = re.compile(
    r"^# Port (?:extended )?counters: Lid (\d+) port (\d+|255|ALL) \(CapMask: [^)]*\)\s*$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]+):\.*(0x[0-9a-fA-F]+|\d+)\s*$")
# ibnetdiscover / designed.topo: a node header and a port line.
_NODE = re.compile(r'^(Switch|Ca)\s+\d+\s+"([SH])-([0-9a-fA-F]+)"\s*#\s*"([^"]*)"(.*)$')
_SWITCH_LID = re.compile(r"\bport 0 lid (\d+)")
_PORT = re.compile(r"^\[(\d+)\](?:\(([0-9a-fA-F]+)\))?\s+\S")
_CA_PORT_LID = re.compile(r"#\s*lid (\d+)\b")


class Failure(Exception):
    """The check could not run (a tool failed, a file is missing or malformed)."""


def parse_perfquery(text, source="perfquery"):
    """(LID, port) -> counter -> value (infra.fleet.counters.parse_perfquery)."""
    out = {}
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _HEADER.match(line)
        if m:
            port = 255 if m.group(2) == "ALL" else int(m.group(2))
            current = out.setdefault((int(m.group(1)), port), {})
            continue
        m = _VALUE.match(line)
        if m is None or current is None:
            raise Failure(f"{source}:{n}: not perfquery output: {line[:80]!r}")
        current[m.group(1)] = int(m.group(2), 0)
    return out


def judge(before, after, interval_s, thresholds, ports):
    """Findings as dicts (infra.fleet.counters.judge's CounterFinding fields)."""
    if interval_s <= 0:
        raise Failure(f"interval: must be positive, got {interval_s}")
    missing = [c for c in JUDGED if c not in thresholds]
    if missing:
        raise Failure(f"thresholds: no value for {', '.join(missing)}")
    findings = []

    def finding(port, counter, delta, rate, threshold, kind):
        findings.append(
            {
                "port": port,
                "counter": counter,
                "delta": delta,
                "rate_per_s": rate,
                "threshold": threshold,
                "kind": kind,
            }
        )

    for key, name in sorted(ports.items(), key=lambda kv: kv[1]):
        now = after.get(key)
        if now is None:
            finding(name, "read", 0, 0.0, 0, "unreadable")
            continue
        was = before.get(key, {})
        for counter in JUDGED:
            delta = now.get(counter, 0) - was.get(counter, 0)
            if delta < 0:
                delta = now.get(counter, 0)
            rate = delta / interval_s
            if counter == FLAP_COUNTER and delta > 0:
                finding(name, counter, delta, rate, 0, "flap")
            elif delta > thresholds[counter]:
                finding(name, counter, delta, rate, thresholds[counter], "errors")
    return findings


def summary(f):
    if f["kind"] == "unreadable":
        return f"{f['port']}: did not answer the second read"
    if f["kind"] == "absent":
        return f"{f['port']}: designed, not in the fabric"
    what = "link flapped" if f["kind"] == "flap" else f"{f['counter']} above threshold"
    return (
        f"{f['port']}: {what}: {f['counter']} +{f['delta']} in the interval "
        f"({f['rate_per_s']:.3f}/s, threshold {f['threshold']})"
    )


def parse_topology(text):
    """ibnetdiscover-format text -> node GUID -> {"kind", "name", "lid", "ports"}: the
    ports listed under each node (the cabled ones; a spare port has no line) and the LID
    (the switch's port 0, a CA's port line; 0 in a designed.topo)."""
    nodes = {}
    current = None
    for line in text.splitlines():
        m = _NODE.match(line)
        if m:
            lid = _SWITCH_LID.search(m.group(5)) if m.group(1) == "Switch" else None
            current = nodes.setdefault(
                int(m.group(3), 16),
                {
                    "kind": m.group(1),
                    "name": m.group(4),
                    "lid": int(lid.group(1)) if lid else 0,
                    "ports": [],
                },
            )
            continue
        m = _PORT.match(line)
        if m and current is not None:
            current["ports"].append(int(m.group(1)))
            if current["kind"] == "Ca":
                lid = _CA_PORT_LID.search(line)
                if lid and not current["lid"]:
                    current["lid"] = int(lid.group(1))
            continue
        if not line.strip():
            current = None
    return nodes


def run(*cmd):
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Failure(f"{' '.join(cmd)}: {exc}") from exc
    if done.returncode != 0:
        raise Failure(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()[:300]}")
    return done.stdout


def via(ca):
    """Options that send a query out of one HCA: an SM host with a port in several planes
    (a per-rail site) reaches each plane only through that plane's HCA."""
    return ["-C", ca, "-P", "1"] if ca else []


def by_node(ports):
    """LID -> "p1,p2,...": one perfquery per node reads all of its designed ports."""
    nodes = {}
    for lid, port, _ in ports:
        nodes.setdefault(lid, []).append(str(port))
    return {lid: ",".join(p) for lid, p in nodes.items()}


def each_node(ports, jobs, query):
    """query(lid, port_list) for every node, `jobs` in flight (perfquery waits on MADs)."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda item: query(*item), sorted(by_node(ports).items())))


def clear(topo_path, state_path, ca=None, jobs=8):
    try:
        with open(topo_path) as f:
            designed = parse_topology(f.read())
    except OSError as exc:
        raise Failure(
            f"{topo_path}: {exc} (the opensm role deploys the plane's designed.topo)"
        ) from exc
    if not designed:
        raise Failure(f"{topo_path}: no nodes (not a designed.topo)")
    live = parse_topology(run("ibnetdiscover", *via(ca)))
    ports, absent = [], []
    for guid, node in sorted(designed.items(), key=lambda kv: kv[1]["name"]):
        found = live.get(guid)
        if found is None or not found["lid"]:
            absent.append(node["name"])
            continue
        for port in node["ports"]:
            ports.append([found["lid"], port, f"{node['name']} port {port}"])
    each_node(ports, jobs, lambda lid, plist: run("perfquery", *via(ca), "-R", str(lid), plist))
    with open(state_path, "w") as f:
        json.dump({"cleared_at": time.time(), "ports": ports, "absent": absent, "ca": ca}, f)
    return {"ports": len(ports), "absent": absent}


def read_and_judge(state_path, thresholds, jobs=8):
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError) as exc:
        raise Failure(f"{state_path}: {exc} (run `clear` first)") from exc
    after = {}

    def read(lid, plist):
        # A node that does not answer is left out: judge reports its ports unreadable.
        with contextlib.suppress(Failure):
            return parse_perfquery(run("perfquery", *via(state.get("ca")), str(lid), plist))
        return {}

    for counters in each_node(state["ports"], jobs, read):
        after.update(counters)
    interval = time.time() - state["cleared_at"]
    ports = {(lid, port): name for lid, port, name in state["ports"]}
    findings = judge({}, after, interval, thresholds, ports)
    findings += [
        {
            "port": name,
            "counter": "node",
            "delta": 0,
            "rate_per_s": 0.0,
            "threshold": 0,
            "kind": "absent",
        }
        for name in state["absent"]
    ]
    return {
        "interval_s": round(interval, 3),
        "ports": len(ports),
        "findings": findings,
        "summary": [summary(f) for f in findings],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("clear")
    c.add_argument("--topo", required=True)
    c.add_argument("--state", required=True)
    c.add_argument("--ca", help="the HCA to query the plane through (default: the first)")
    j = sub.add_parser("judge")
    for p in (c, j):
        p.add_argument("--jobs", type=int, default=8, help="perfquery processes at a time")
    j.add_argument("--state", required=True)
    j.add_argument("--thresholds", required=True, help="JSON: counter -> the most per interval")
    args = parser.parse_args(argv)
    try:
        if args.mode == "clear":
            out = clear(args.topo, args.state, args.ca, args.jobs)
        else:
            out = read_and_judge(args.state, json.loads(args.thresholds), args.jobs)
    except Failure as exc:
        print(f"fabric_counters: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
