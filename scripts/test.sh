#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: set-up, lint (ruff, ansible-lint), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ -d playbooks ] && ls playbooks/*.yml >/dev/null 2>&1; then
  .venv/bin/ansible-lint --profile production playbooks/
fi
# In CI a skipped test is a failure: --strict-skips (tests/conftest.py) turns skips into errors.
exec .venv/bin/python -m pytest -q ${CI:+--strict-skips} "$@"
