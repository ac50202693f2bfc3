#!/usr/bin/env bash
# Installs everything supercluster needs on a fresh Debian/Ubuntu machine (run as root):
# the Debian packages the simulated site uses (sshd, ibsim + OpenSM, infiniband-diags,
# rdma-core, pssh, Chromium for the report test; debootstrap and systemd-nspawn for the
# live nodes, whose Debian root infra/sim/live.py builds once per machine), a venv from the pinned lock file, and the
# Pulumi engine (scripts/build_pulumi.sh: built from the Go module proxy, cached).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv openssh-server openssh-client util-linux iproute2 procps
  ibsim-utils libumad2sim0 opensm infiniband-diags rdma-core ibverbs-utils perftest
  pssh chromium dpkg-dev python3-apt pciutils frr lldpd iputils-ping
  debootstrap systemd-container numactl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! cmp -s requirements.lock .venv/.lock-installed; then
  echo "setup: creating .venv from requirements.lock"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.lock
  cp requirements.lock .venv/.lock-installed
fi
.venv/bin/pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/pip install -q --no-deps -e .
# The Pulumi engine, built from the Go module proxy once per machine (cached by version).
bash scripts/build_pulumi.sh
