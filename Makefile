# The README's commands. Each sets up .venv by itself on first use
# (tools/setup_env.sh: idempotent, instant once done).
PY := .venv/bin/python

.PHONY: setup demo demo-seg demo-mask2former features test test-avx2 test-quick lint bench

# torch's, oneDNN's and MKL's AVX2 kernels on any x86 CPU: an AVX-512 machine then runs
# what an AVX2-only CPU runs (tests/test_cpu_isa.py checks that it does).
AVX2_EMULATION := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
# The tests whose numbers depend on the CPU's kernels: precision, fast path, backbone.
ISA_TESTS := tests/test_cpu_isa.py tests/test_precision.py tests/test_backbone.py

setup:
	@./tools/setup_env.sh

# Main job: generate the COCO-format demo set, train Mask R-CNN + ConvNeXt on the CPU,
# evaluate bbox/segm mAP on the held-out split, and draw predictions on held-out images.
demo: setup
	$(PY) tools/make_demo_data.py coco data/demo_coco
	$(PY) tools/train.py configs/demo/maskrcnn_convnext_demo.py --work-dir work_dirs/maskrcnn_convnext_demo
	$(PY) tools/draw_predictions.py configs/demo/maskrcnn_convnext_demo.py \
		$$(cat work_dirs/maskrcnn_convnext_demo/last_checkpoint) data/demo_coco/val \
		--upscale 2 --out work_dirs/maskrcnn_convnext_demo/predictions.png

# The same for semantic segmentation: ADE20K-layout demo set, UperNet + ConvNeXt, mIoU.
demo-seg: setup
	$(PY) tools/make_demo_data.py ade data/demo_ade
	$(PY) tools/train.py configs/demo/upernet_convnext_demo.py --work-dir work_dirs/upernet_convnext_demo
	$(PY) tools/draw_predictions.py configs/demo/upernet_convnext_demo.py \
		$$(cat work_dirs/upernet_convnext_demo/last_checkpoint) data/demo_ade/images/validation \
		--upscale 2 --out work_dirs/upernet_convnext_demo/predictions.png

# Mask2Former on the same ADE20K-layout demo set (about 10 minutes on 2 cores).
demo-mask2former: setup
	$(PY) tools/make_demo_data.py ade data/demo_ade
	$(PY) tools/train.py configs/demo/mask2former_convnext_demo.py --work-dir work_dirs/mask2former_convnext_demo

# Feature pyramid of a generated image with a ConvNeXt-T, and its picture.
features: setup
	$(PY) tools/extract_features.py --demo --out-dir work_dirs/demo_features

# Everything, then the CPU-dependent tests again under the AVX2 emulation, so that both
# kinds of CPU are covered whichever machine runs it.
test: setup
	$(PY) -m pytest -q --durations=25
	$(MAKE) --no-print-directory test-avx2

test-avx2: setup
	$(AVX2_EMULATION) $(PY) -m pytest -q $(ISA_TESTS)

# Unit tests only (no training runs, subprocess tools or distributed runs).
test-quick: setup
	$(PY) -m pytest -q -m "not e2e"

# ruff: pyflakes, pycodestyle and import order (ruff.toml). Seconds.
lint: setup
	.venv/bin/ruff check .

# Backbone speed and memory against the official formulation (see README "Speed").
bench: setup
	$(PY) benchmarks/backbone_speed.py
