#!/usr/bin/env bash
# Installs whatever is missing (scripts/setup.sh --test), then runs every check:
# ruff (incl. PLC0415: imports at the top), mypy on edge/ and tui/, the import
# contracts in pyproject.toml (the layers; the core never imports the UI) and pytest
# (tests/test_layout.py: no import cycle, one module per table, no `.db` outside the
# store, one importer per heavy library, no TYPE_CHECKING imports). Before pytest,
# scripts/check_wheel.sh builds the wheel, installs it into a fresh venv and runs
# `proactive demo` from it, offline and outside the checkout (about a minute).
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export OMP_WAIT_POLICY=PASSIVE
.venv/bin/ruff check edge tui tests scripts models
.venv/bin/mypy
.venv/bin/lint-imports
scripts/check_wheel.sh
.venv/bin/python -m pytest "$@"
