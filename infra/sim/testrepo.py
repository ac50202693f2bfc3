"""A local apt repository of stand-in NVIDIA vendor packages, for tests and the benchmark.

Real sites install the driver, fabric manager, NCCL and DCGM from their mirror of NVIDIA's
repositories; the simulated site cannot download them (and has no GPUs to run them), so
the tests build packages with the real names, versions and epochs (NVIDIA's CUDA repository
for Debian 12) and serve them on a loopback HTTP address. apt, dpkg holds and the roles'
version checks then run for real: an exact pin picks one of several versions, a hold stops
an upgrade, a fabric manager that differs from the driver is refused.

The packages carry what the roles manage (systemd units for nvidia-persistenced,
nvidia-fabricmanager, nvidia-dcgm) and a marker file; they never ship nvidia-smi (the
simulated nodes' hardware fixture) or anything that pretends to be a working binary.
Built with dpkg-deb and dpkg-scanpackages at test time; nothing binary is committed.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from infra import childenv

MARKER = "usr/share/doc/{name}/SUPERCLUSTER-TEST-PACKAGE"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    depends: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path in package -> content
    description: str = "stand-in for the NVIDIA package of this name (supercluster tests)"


def _unit(description: str, exec_start: str) -> str:
    return (
        f"[Unit]\nDescription={description} (supercluster test package)\n\n"
        f"[Service]\nExecStart={exec_start}\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def _daemon(unit: str) -> dict[str, str]:
    """A unit whose daemon stays up as the real one does (a stand-in that only sleeps):
    a unit that exits at once would be started again by every run, which then never
    comes out unchanged on a live node."""
    standin = f"usr/lib/supercluster-test/{unit}-standin"
    return {
        standin: f"#!/bin/sh\n# stand-in for {unit}'s daemon: no GPU here\nexec sleep infinity\n"
    }


def _stub(tool: str) -> str:
    return (
        "#!/bin/sh\n"
        f'echo "{tool}: supercluster test package stand-in; no GPU on this node" >&2\nexit 2\n'
    )


def driver_packages(version: str, branch: str) -> list[Package]:
    rev = f"{version}-1"
    return [
        Package(
            "nvidia-driver",
            rev,
            depends=f"nvidia-kernel-open-dkms (= {rev}) | nvidia-kernel-dkms (= {rev})",
        ),
        Package("nvidia-kernel-open-dkms", rev),
        Package("nvidia-kernel-dkms", rev),
        Package(
            "nvidia-persistenced",
            rev,
            files={
                "usr/lib/systemd/system/nvidia-persistenced.service": _unit(
                    "NVIDIA Persistence Daemon",
                    "/usr/lib/supercluster-test/nvidia-persistenced-standin --verbose",
                ),
                **_daemon("nvidia-persistenced"),
            },
        ),
        Package(
            f"nvidia-fabricmanager-{branch}",
            rev,
            files={
                "usr/lib/systemd/system/nvidia-fabricmanager.service": _unit(
                    "NVIDIA fabric manager service",
                    "/usr/lib/supercluster-test/nvidia-fabricmanager-standin",
                ),
                **_daemon("nvidia-fabricmanager"),
                "usr/share/nvidia/nvswitch/fabricmanager.cfg": "LOG_LEVEL=4\n",
            },
        ),
    ]


def default_packages() -> list[Package]:
    """Driver and NCCL releases older and newer than the pins (so a pin really chooses:
    apt alone would take the newest), nccl-tests and DCGM."""
    pkgs = [p for v in ("550.54.15", "550.90.07", "550.127.05") for p in driver_packages(v, "550")]
    for nccl in ("2.20.5", "2.21.5", "2.23.4"):
        rev = f"{nccl}-1+cuda12.4"
        pkgs += [
            Package("libnccl2", rev),
            Package("libnccl-dev", rev, depends=f"libnccl2 (= {rev})"),
        ]
    pkgs += [
        Package(
            "nccl-tests",
            "2.13.9-1",
            depends="libnccl2",
            files={f"usr/bin/{t}": _stub(t) for t in ("all_reduce_perf", "all_gather_perf")},
        ),
        Package(
            "datacenter-gpu-manager",
            "1:3.3.6",
            files={
                "usr/lib/systemd/system/nvidia-dcgm.service": _unit(
                    "NVIDIA DCGM service",
                    "/usr/lib/supercluster-test/nvidia-dcgm-standin -n "
                    "--service-account nvidia-dcgm",
                ),
                **_daemon("nvidia-dcgm"),
                "usr/bin/dcgmi": _stub("dcgmi"),
            },
        ),
    ]
    return pkgs


def build(dest: Path, packages: list[Package] | None = None) -> Path:
    """Build the .debs and a flat repository index (Packages, Packages.gz) under dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in packages or default_packages():
        _build_deb(pkg, dest)
    index = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "."],
        cwd=dest,
        check=True,
        capture_output=True,
        text=True,
        env=childenv.minimal(),  # packaging tools: no secret of the caller's
    ).stdout
    (dest / "Packages").write_text(index)
    with gzip.open(dest / "Packages.gz", "wt") as fh:
        fh.write(index)
    return dest


def _build_deb(pkg: Package, dest: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        (root / "DEBIAN").mkdir(parents=True)
        control = [
            f"Package: {pkg.name}",
            f"Version: {pkg.version}",
            "Architecture: amd64",
            "Maintainer: supercluster tests <tests@supercluster.invalid>",
            "Section: non-free/libs",
            "Priority: optional",
        ]
        if pkg.depends:
            control.append(f"Depends: {pkg.depends}")
        control.append(f"Description: {pkg.description}")
        (root / "DEBIAN/control").write_text("\n".join(control) + "\n")
        files = {MARKER.format(name=pkg.name): f"{pkg.name} {pkg.version}\n", **pkg.files}
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(
                0o755 if rel.startswith(("usr/bin/", "usr/lib/supercluster-test/")) else 0o644
            )
        version = pkg.version.split(":", 1)[-1]
        out = dest / f"{pkg.name}_{version}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(root), str(out)],
            check=True,
            capture_output=True,
            env=childenv.minimal(),
        )
        return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path, host: str, port: int = 0) -> Iterator[str]:
    """Serve directory over HTTP on a loopback address; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Build the repository and serve it until interrupted, for a manual sim run:
    python -m infra.sim.testrepo DIR --host 127.0.10.254 --port 8610"""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--host", default="127.0.10.254")
    parser.add_argument("--port", type=int, default=8610)
    args = parser.parse_args(argv)
    repo = build(args.dir)
    with serve(repo, args.host, args.port) as url:
        print(f"testrepo: serving {repo} at {url} (vendor_repo_url: {url}, suite ./)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
