#!/usr/bin/env bash
# Creates .venv and installs the project; quick when nothing changed.
#   scripts/setup.sh          with the development tools (tests, ruff, mypy): what run.sh and
#                             test.sh use
#   scripts/setup.sh --prod   only what the bot needs to run (a server; docs/deploy.md)
set -euo pipefail
cd "$(dirname "$0")/.."
target='.[dev]'
flavour=dev
case "${1:-}" in
  --prod) target='.'; flavour=prod ;;
  '') ;;
  *) echo "usage: scripts/setup.sh [--prod]" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.installed-$flavour-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$flavour" = prod ]; then
    # A production install is not editable: the code runs from site-packages.
    .venv/bin/python -m pip install -q "$target"
  else
    .venv/bin/python -m pip install -q -e "$target"
  fi
  rm -f .venv/.installed-* && touch "$stamp"
fi
