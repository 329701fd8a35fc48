#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint, then pytest (which starts its own
# servers). The tests run on SOHOA_TEST_WORKERS pytest-xdist processes (3; 0 runs them in this
# one), each with its own MinIO, PostgreSQL, Redis and signing PKI (tests/conftest.py); the
# 15 slowest tests are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SOHOA_SETUP_TEST=1 bash scripts/setup.sh
.venv/bin/ruff check pipeline workers tests samples bench scripts
.venv/bin/ruff format --check pipeline workers tests samples bench scripts
workers="${SOHOA_TEST_WORKERS:-3}"
parallel=()
[ "$workers" != 0 ] && parallel=(-n "$workers" --dist loadgroup)
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "${parallel[@]}" "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
