#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint, then pytest (which starts its own MinIO).
set -euo pipefail
cd "$(dirname "$0")/.."
SOHOA_SETUP_TEST=1 bash scripts/setup.sh
.venv/bin/ruff check pipeline workers tests samples bench scripts
.venv/bin/ruff format --check pipeline workers tests samples bench scripts
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
