#!/usr/bin/env bash
# The main job on the embedded default: set-up, then the whole pipeline for one stack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/supercluster run --stack "${1:-dev}"
