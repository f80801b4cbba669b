#!/usr/bin/env bash
# One command to run every check: lint (ruff), types (mypy) and the tests (pytest).
# The tests run on SQLite, and also on PostgreSQL when BDG_TEST_DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python tools/archcheck.py --check > /dev/null
.venv/bin/pytest -q "$@"
