#!/usr/bin/env bash
# Create the project virtual environment (.venv) with the OpenMMLab stack that works on
# a CPU-only machine with Python 3.11. Idempotent: a stamp file records a finished set-up,
# so the second run returns at once. See README "Why mmcv is built from source".
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
if [ -z "${PYTHON:-}" ]; then
  # Python 3.11 (the torch 2.13.0 CPU wheel on these machines is cp311).
  PYTHON=python3.11
  command -v python3.11 >/dev/null 2>&1 || PYTHON=python3
fi
STAMP="$VENV/.setup-complete-$(cat tools/setup_env.sh setup.py requirements/verified.txt 2>/dev/null | sha1sum | cut -c1-12)"

if [ -f "$STAMP" ]; then
  exit 0
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "setup_env: needs Python 3.11 ($PYTHON is not it). Install Python 3.11 or set" \
       "PYTHON=/path/to/python3.11." >&2
  exit 1
fi

echo "setup_env: creating $VENV (first run builds mmcv 2.1.0 from source, about 15 min on 2 cores)"
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"

# The exact versions tested (setup.py has only lower bounds). torch 2.13.0 CPU: any other
# spec pulls a multi-GB CUDA build.
VERIFIED="-c requirements/verified.txt"
$PIP install -q $VERIFIED torch numpy
# mmcv's setup.py imports pkg_resources (gone from setuptools >= 81); this pin was verified.
# pip reports a conflict with torch's setuptools>=77 here; it is resolved two steps below.
$PIP install -q "setuptools<70" wheel ninja
$PIP install -q $VERIFIED mmengine
# PyPI has only mmcv's source; mmdet/mmseg import mmcv.ops, so build it with the ops.
# --no-build-isolation compiles against the torch installed above; pip caches the wheel.
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation $VERIFIED mmcv
# torch itself asks for setuptools>=77.0.3; 80.x still ships pkg_resources for mmcv.
$PIP install -q "setuptools==80.10.2"
$PIP install -q --no-build-isolation $VERIFIED -e ".[det,seg,tests,onnx,safetensors]"

rm -f "$VENV"/.setup-complete-*
touch "$STAMP"
echo "setup_env: done in $(( $(date +%s) - start )) s"
