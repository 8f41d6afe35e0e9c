#!/usr/bin/env bash
# Set up a fresh machine for vjepa-ac: system libraries for offscreen rendering, a virtual
# environment in .venv, the package with its simulator and test extras, and robosuite's robot
# meshes. Safe to re-run: every step skips what is already there.
#
#   VJEPA_AC_TORCH=cpu (default) installs the CPU build of torch 2.13 (constraints-cpu.txt);
#   VJEPA_AC_TORCH=any lets pip choose torch >= 2.13 (for GPU machines).
set -euo pipefail
cd "$(dirname "$0")/.."

# Mesa's software EGL renders MuJoCo offscreen on CPUs (already present on most images)
if ! ldconfig -p 2>/dev/null | grep -q "libEGL.so.1"; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
    else
        echo "warning: libEGL not found; install libegl1 libegl-mesa0 libgl1-mesa-dri for offscreen rendering" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
CONSTRAINTS=()
[ "${VJEPA_AC_TORCH:-cpu}" = cpu ] && CONSTRAINTS=(-c constraints-cpu.txt)
$PIP install -q "${CONSTRAINTS[@]}" -e ".[sim,dev]"
# robosuite is used only for its Panda / Robotiq 2F-85 meshes; its own dependencies would
# downgrade numpy, so it is installed without them
.venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('robosuite') is None)" \
    || $PIP install -q --no-deps "robosuite==1.5.2"
echo "vjepa-ac is installed in .venv"
