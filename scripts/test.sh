#!/usr/bin/env bash
# Installs whatever is missing (scripts/setup.sh --test), then runs every check:
# ruff, mypy on edge/, the import contract (core never imports the UI), and pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export OMP_WAIT_POLICY=PASSIVE
.venv/bin/ruff check edge tui tests scripts models
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
