#!/usr/bin/env bash
# The product as a user installs it (pip or pipx, from a wheel), away from the checkout:
#   1. builds the wheel from the working tree (tracked and new files, not ignored ones) in a
#      temporary copy, so no build/ folder is left behind and no stale one is packed;
#   2. checks that it carries the models the runtime loads (edge/_models/...) and nothing else
#      of models/;
#   3. installs it into a fresh venv together with the llama-cpp-python wheel that
#      scripts/setup.sh built (never rebuilt here); the other dependencies come from the
#      package index or pip's cache, as for a user;
#   4. runs `proactive demo --max-events 3` from that venv, with the working directory outside
#      the repository, an empty environment and HOME, and no network (a network namespace,
#      `unshare -n`, where the kernel allows it).
# Everything lives in one temporary folder, removed at the end. Run scripts/setup.sh first
# (scripts/test.sh does). Exit 0 when the installed demo ran, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

marker=.venv/.llama-wheel
if [ ! -f "$marker" ]; then
  echo "check_wheel.sh: no llama-cpp-python wheel recorded in $marker." >&2
  echo "Hint: run scripts/setup.sh first (it builds the wheel once per machine)." >&2
  exit 2
fi
llama=$(ls "${PROACTIVE_WHEELHOUSE:-$HOME/.cache/proactive-edge/wheels}"/llama-cpp-python-*-portable/"$(cat "$marker")" \
  2>/dev/null | head -n 1 || true)
if [ -z "$llama" ]; then
  echo "check_wheel.sh: the llama-cpp-python wheel $(cat "$marker") is not in the wheelhouse." >&2
  echo "Hint: run scripts/setup.sh (it rebuilds the wheel, once per machine)." >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proactive-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
step() { echo ">> wheel check: $1 ($((SECONDS - start)) s)"; }

# --- 1. the wheel, from a copy of the working tree ---------------------------------------
step "building the wheel"
mkdir "$tmp/src" "$tmp/dist"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
    | tar -c --null -T - | tar -x -C "$tmp/src"
else  # not a git checkout: everything but what setup and builds leave behind
  tar -c --exclude=./.git --exclude='./.*_cache' --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=models/minilm/model_fp32.onnx . | tar -x -C "$tmp/src"
fi
.venv/bin/python -m pip wheel --disable-pip-version-check -q --no-deps "$tmp/src" -w "$tmp/dist"
whl=$(ls "$tmp"/dist/proactive_edge-*.whl)

# --- 2. what it carries of models/ -------------------------------------------------------
.venv/bin/python - "$whl" <<'PY'
import os
import sys
import tomllib
import zipfile

whl = sys.argv[1]
names = zipfile.ZipFile(whl).namelist()
models = sorted(n.removeprefix("edge/_models/") for n in names if n.startswith("edge/_models/"))
with open("pyproject.toml", "rb") as f:
    shipped = tomllib.load(f)["tool"]["setuptools"]["package-data"]["edge._models"]
# setuptools also packs every .py of a package: models/__init__.py and export_minilm.py
want = sorted([*shipped, "__init__.py", "export_minilm.py"])
stray = sorted(n for n in names if n.startswith("models/"))
data = sum(n.startswith("edge/data/") for n in names)
print(f">> wheel: {os.path.getsize(whl) / 1e6:.1f} MB, {len(names)} files, edge/_models: {', '.join(models)}; "
      f"{data} files of edge/data")
if models != want or stray or not data:
    sys.exit(f"check_wheel.sh: the wheel's models are {models} (want {want}); stray {stray}; edge/data {data}")
PY

# --- 3. a fresh venv, as pip or pipx would make it ----------------------------------------
step "installing it into a fresh venv"
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --disable-pip-version-check -q "$llama" "$whl"

# --- 4. the demo, outside the repository, offline -----------------------------------------
mkdir "$tmp/home" "$tmp/run"
cd "$tmp/run"
offline=()
if unshare -n true 2>/dev/null; then
  offline=(unshare -n)
else
  echo ">> wheel check: no network namespace here (unshare -n refused); the demo runs with the network up"
fi
run() {
  env -i PATH=/usr/bin:/bin HOME="$tmp/home" PROACTIVE_HOME="$tmp/home/data" OMP_WAIT_POLICY=PASSIVE \
    "${offline[@]}" "$@"
}
step "importing from the venv${offline:+ (offline)}"
run "$tmp/venv/bin/python" - "$tmp/venv" "$REPO" <<'PY'
import sys
from pathlib import Path

import edge
import tui
from edge.assets import models_dir

venv, repo = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
models = models_dir().resolve()
for where in (Path(edge.__file__).resolve(), Path(tui.__file__).resolve(), models):
    if repo in where.parents or venv not in where.parents:
        sys.exit(f"check_wheel.sh: {where} is not inside the fresh venv {venv}")
if models != Path(edge.__file__).resolve().parent / "_models":
    sys.exit(f"check_wheel.sh: the models come from {models}, not from the package edge._models")
print(f">> models from {models}")
PY
step "proactive demo --max-events 3${offline:+ (offline)}"
run "$tmp/venv/bin/proactive" demo --max-events 3 | tee "$tmp/demo.out"
grep -q "^3 events, " "$tmp/demo.out" || { echo "check_wheel.sh: the demo did not replay 3 events" >&2; exit 1; }
step "the installed wheel runs the demo"
