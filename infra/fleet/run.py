"""Facts and health runs: pick the hosts, fan out one command, parse, check, summarise.

Results are plain JSON-able dicts, one per host:
  {"name", "address", "status", "detail", "elapsed_s", "facts"[, "checks"]}
where status is "ok", "check failed" (health only) or the connection failure's cause
(unreachable, hostkey, auth, timeout, error). The summary groups failed hosts by cause and,
for health, by failed check.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.errors import InputError
from infra.fleet import facts as facts_mod
from infra.fleet.health import Expectation, check_host
from infra.fleet.probes import benchmark_sections
from infra.fleet.ssh import SshOptions, Target, run_many
from infra.progress import Progress
from infra.text import printable

CHECK_FAILED = "check failed"
CAUSE_ORDER = ("unreachable", "hostkey", "auth", "timeout", "error", CHECK_FAILED)


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    tags: tuple[str, ...] = ()  # what --limit also matches: rack, SU, hall
    node: object | None = None  # the design Node, when the host comes from a design


def design_hosts(design) -> list[Host]:
    return [Host(n.name, n.mgmt_ip, (n.rack, n.su, n.hall), node=n) for n in design.nodes]


def file_hosts(path: Path) -> list[Host]:
    """Hosts from a sim connection.json ({"hosts": {name: ip}}) or `name address` lines."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError([f"--hosts {path}: {exc.strerror}"]) from exc
    if path.suffix == ".json":
        return [Host(n, ip) for n, ip in json.loads(text)["hosts"].items()]
    hosts = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            hosts.append(Host(fields[0], fields[-1]))
    return hosts


def limit_hosts(hosts: list[Host], pattern: str | None) -> list[Host]:
    """Ansible-style --limit: comma/colon separated globs on name, address, rack, SU or
    hall; `!glob` excludes. No pattern: every host."""
    if not pattern:
        return hosts
    terms = [t for t in pattern.replace(":", ",").split(",") if t]
    include = [t for t in terms if not t.startswith("!")]
    exclude = [t[1:] for t in terms if t.startswith("!")]

    def matches(host: Host, globs: list[str]) -> bool:
        keys = (host.name, host.address, *host.tags)
        return any(fnmatch.fnmatchcase(k, g) for g in globs for k in keys)

    chosen = [h for h in hosts if (not include or matches(h, include)) and not matches(h, exclude)]
    if not chosen:
        raise InputError([f"--limit {pattern!r} matches no host"])
    return chosen


def gather(
    hosts: list[Host],
    options: SshOptions,
    label: str,
    progress: bool | None = None,
    command: Callable[[Host], str] | None = None,
) -> list[dict]:
    """Facts from every host: one SSH session each, parsed from the tools' outputs.
    `command`: each host's script (health's benchmarks name each host's rails); hosts with
    the same script fan out together."""
    bar = Progress(label, len(hosts), asked=progress)
    groups: dict[str, list[Host]] = {}
    for h in hosts:
        groups.setdefault(command(h) if command else facts_mod.facts_command(), []).append(h)
    by_name = {}
    for script, members in groups.items():
        targets = [Target(h.name, h.address) for h in members]
        for o in run_many(targets, script, options, on_done=lambda o: bar.advance(o.ok)):
            by_name[o.name] = o
    outcomes = [by_name[h.name] for h in hosts]
    bar.close()
    results = []
    for outcome in outcomes:
        result = {
            "name": outcome.name,
            "address": outcome.address,
            "status": "ok" if outcome.ok else outcome.cause,
            "detail": outcome.detail,
            "elapsed_s": outcome.elapsed_s,
            "facts": None,
        }
        if outcome.ok:
            result["facts"] = facts_mod.parse_facts(outcome.stdout)
        results.append(result)
    return results


def health(
    hosts: list[Host],
    options: SshOptions,
    expect: Callable[[Host], Expectation],
    progress: bool | None = None,
    benchmarks: bool = False,
) -> list[dict]:
    """Every host's checks. `benchmarks`: also ib_write_bw per rail, all_reduce_perf and
    dcgmi diag at the catalogue's level (minutes on real nodes: the acceptance's)."""
    command = None
    if benchmarks:

        def command(host: Host) -> str:
            exp = expect(host)
            if exp.catalogue is None:
                return facts_mod.facts_command()
            extra = benchmark_sections(list(exp.rails), exp.gpus, exp.catalogue)
            return facts_mod.facts_command(extra)

    results = gather(hosts, options, "health", progress, command)
    for host, result in zip(hosts, results, strict=True):
        if result["status"] != "ok":
            continue
        checks = check_host(result["facts"], expect(host))
        result["checks"] = checks
        failed = [c["check"] for c in checks if not c["ok"]]
        if failed:
            result["status"] = CHECK_FAILED
            result["detail"] = "; ".join(
                f"{c['check']}: expected {_show(c['expected'])}, got {_show(c['actual'])}"
                for c in checks
                if not c["ok"]
            )
    return results


def _show(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def summarize(results: list[dict], elapsed_s: float) -> dict:
    by_cause: dict[str, list[str]] = {}
    by_check: dict[str, list[str]] = {}
    for r in results:
        if r["status"] != "ok":
            by_cause.setdefault(r["status"], []).append(r["name"])
        for c in r.get("checks", []):
            if not c["ok"]:
                by_check.setdefault(c["check"], []).append(r["name"])
    ordered = {c: by_cause[c] for c in CAUSE_ORDER if c in by_cause}
    ordered.update({c: h for c, h in by_cause.items() if c not in ordered})
    summary = {
        "hosts": len(results),
        "ok": sum(r["status"] == "ok" for r in results),
        "failed": ordered,
        "elapsed_s": round(elapsed_s, 3),
    }
    if by_check:
        summary["checks_failed"] = dict(sorted(by_check.items()))
    return summary


def timed(fn: Callable[[], list[dict]]) -> tuple[list[dict], dict]:
    started = time.monotonic()
    results = fn()
    return results, summarize(results, time.monotonic() - started)


def render_summary(summary: dict, results: list[dict]) -> str:
    lines = [f"{summary['ok']}/{summary['hosts']} hosts ok in {summary['elapsed_s']:.2f}s"]
    details = {r["name"]: r["detail"] for r in results}
    for cause, names in summary["failed"].items():
        lines.append(f"{cause} ({len(names)}): {_names(names)}")
        if cause != CHECK_FAILED:
            reasons = sorted({details[n] for n in names})
            # a reason can quote what a node said: one escaped line each
            lines += [f"    {printable(reason)}" for reason in reasons[:5]]
    for check, names in summary.get("checks_failed", {}).items():
        lines.append(f"  {check} ({len(names)}): {_names(names)}")
    return "\n".join(lines)


def _names(names: list[str], shown: int = 20) -> str:
    more = f" ... (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def facts_line(result: dict) -> str:
    """One human line per host for `supercluster facts`, its node-given fields (models,
    versions, OS name, kernel, error details) escaped: one line, no terminal sequences."""
    return printable(_facts_line(result))


def _facts_line(result: dict) -> str:
    if result["status"] != "ok":
        return f"{result['name']:24} {result['address']:15} {result['status']}: {result['detail']}"
    f = result["facts"]
    gpu = f["gpu"]
    gpus = (
        f"{gpu['count']}x {'/'.join(gpu['models'])} driver {gpu['driver_version']}"
        if gpu
        else ("no GPU facts")
    )
    ports = [p for h in f["hcas"] for p in h["ports"]]
    active = sum(p.get("state") == "Active" for p in ports)
    rates = sorted({p.get("rate_gbps") for p in ports if p.get("state") == "Active"})
    hcas = f"HCA ports {active}/{len(ports)} Active at {rates} Gb/s" if ports else "no HCAs"
    peermem = "peermem" if "nvidia_peermem" in f["modules"] else "no peermem"
    osname = f["os"].get("pretty_name", "?")
    return (
        f"{result['name']:24} {result['address']:15} {gpus}; {hcas}; {peermem}; "
        f"{osname}, kernel {f['kernel']}"
    )
