# The two commands of the README. Each sets up .venv by itself on first use
# (tools/setup_env.sh; idempotent, instant once done).
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	@./tools/setup_env.sh

demo: setup
	$(PY) tools/extract_features.py --demo --out-dir work_dirs/demo_features

test: setup
	$(PY) -m pytest -q
