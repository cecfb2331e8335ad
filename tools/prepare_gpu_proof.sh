#!/usr/bin/env bash
# Run HERE (with network) before a GPU window: fetch the pure-Python wheels the GPU machine
# lacks (mmengine and what it needs beyond that machine's image) into .gpu_wheels/
# (git-ignored). Then, on the GPU machine, carrying .gpu_wheels:
#   bash benchmarks/run_gpu_proof.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.gpu_wheels
mkdir -p "$DEST"
# The GPU machine: Python 3.12, a CUDA torch, timm, numpy, PIL, opencv-headless, pytest;
# no mmengine, no network. These are every wheel mmengine 0.10.7 needs beyond that.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST" mmengine==0.10.7 addict==2.4.0 termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.8
ls -1 "$DEST"
echo "prepare_gpu_proof: $(du -sh "$DEST" | cut -f1) in $DEST; carry it to the GPU machine."
