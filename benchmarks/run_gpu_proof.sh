#!/usr/bin/env bash
# The GPU proof on the GPU machine, one command (see benchmarks/gpu_proof.py):
#   bash benchmarks/run_gpu_proof.sh OUT_DIR [gpu_proof.py options]
# Installs the wheels tools/prepare_gpu_proof.sh fetched (.gpu_wheels) into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: run_gpu_proof.sh OUT_DIR [options]}
shift
if [ -d .gpu_wheels ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu_proof_site .gpu_wheels/*.whl
  export PYTHONPATH=/tmp/gpu_proof_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 benchmarks/gpu_proof.py --out "$OUT" "$@"
