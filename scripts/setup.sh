#!/usr/bin/env bash
# Installs whatever is missing for proactive-edge, and nothing that is already there.
#
#   scripts/setup.sh          runtime: .venv with the package and the embedded models
#   scripts/setup.sh --test   also the test tools, the real aw-server, the `desktop` extra and, with
#                             apt, mosquitto and a desktop for the companion's tests (Xvfb, dbus, dunst)
#   scripts/setup.sh --train  also the training extra (torch CPU, scikit-learn, onnx)
#
# llama-cpp-python has no Linux wheel on PyPI, so it is built from source once per
# machine into a wheelhouse (~/.cache/proactive-edge/wheels) and reused by every
# checkout. It is built PORTABLY (GGML_NATIVE=OFF: AVX2/FMA/F16C, no -march=native):
# the default native build segfaults on CPUs that report AMX (see README, "Portability").
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
for arg in "$@"; do
  case "$arg" in
    --test) extras="${extras:+$extras,}test,desktop" ;;
    --train) extras="${extras:+$extras,}train" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (use --test or --train)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup.sh: proactive-edge needs Python >= 3.11 ($PY is $("$PY" -V 2>&1))." >&2
  echo "Hint: install python3.11 and run PYTHON=python3.11 scripts/setup.sh" >&2
  exit 2
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
pip_q() { "$VPY" -m pip install --disable-pip-version-check -q "$@"; }

# --- llama-cpp-python: portable build, once per machine -------------------------------
LLAMA_VERSION=0.3.36
WHEELHOUSE="${PROACTIVE_WHEELHOUSE:-$HOME/.cache/proactive-edge/wheels}/llama-cpp-python-$LLAMA_VERSION-portable"
wheel=$(ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo ">> building llama-cpp-python $LLAMA_VERSION (portable, once per machine: 5-20 minutes on 2 cores)"
  mkdir -p "$WHEELHOUSE"
  # --no-cache-dir: pip's own cache would hand back a wheel built with other flags.
  CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
    "$VPY" -m pip wheel --disable-pip-version-check --no-deps --no-cache-dir \
    "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELHOUSE"
  wheel=$(ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n 1)
fi
marker=.venv/.llama-wheel
if [ "$(cat "$marker" 2>/dev/null)" != "$(basename "$wheel")" ]; then
  pip_q --force-reinstall --no-deps "$wheel"
  basename "$wheel" > "$marker"
fi

# --- system packages for the tests: mosquitto (the real broker); a desktop for the companion:
# Xvfb, a session D-Bus (dbus-run-session) and dunst, a notification server with actions ---
if [[ ",$extras," == *",test,"* ]]; then
  apt_pkgs=()
  command -v mosquitto >/dev/null 2>&1 || apt_pkgs+=(mosquitto mosquitto-clients)
  command -v Xvfb >/dev/null 2>&1 || apt_pkgs+=(xvfb)
  { command -v dbus-run-session && command -v dbus-send; } >/dev/null 2>&1 || apt_pkgs+=(dbus)
  { command -v dunst && command -v dunstctl; } >/dev/null 2>&1 || apt_pkgs+=(dunst)
  if [ ${#apt_pkgs[@]} -gt 0 ]; then
    echo ">> installing ${apt_pkgs[*]} (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  fi
fi

# --- the package and its Python dependencies (pip's cache makes re-runs fast) ------------
# torch for --train: the CPU build 2.13.0 (pinned in the extra), never a CUDA download.
spec="."
[ -n "$extras" ] && spec=".[$extras]"
pip_q -e "$spec"

# --- prove the LLM build runs on this CPU (a crash here is a build problem, not yours) ---
if ! OMP_WAIT_POLICY=PASSIVE "$VPY" - <<'PY'
from edge.config import LLMSettings
from edge.llm import LlamaCppLLM
llm = LlamaCppLLM(LLMSettings(max_tokens=16, n_ctx=256))
llm.chat([{"role": "user", "content": "Say ok."}], max_tokens=2)
llm.close()
PY
then
  echo "setup.sh: the llama.cpp build cannot generate on this CPU." >&2
  echo "Hint: delete $WHEELHOUSE and re-run; file an issue with the output of 'lscpu'." >&2
  exit 2
fi
echo ">> ready: .venv/bin/proactive"
