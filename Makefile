# Two commands on a fresh machine:
#   make run    - set up .venv and run `bench submit` on the embedded default (synthetic cine, local CPU)
#   make test   - set up .venv, lint, and run the test suite
# ARGS passes key=value overrides to `bench submit`, e.g. make run ARGS="method.width=8 budget=smoke"

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The test install includes the runtime extras (onnx, onnxruntime) so CI runs the export tests.
# torch is installed first, pinned to a version whose CPU build is on the local wheel cache of our
# machines; a GPU user's machine gets the same version's CUDA build. Override: make TORCH=torch==2.5.1
TORCH ?= torch==2.13.0
ARGS ?=

.PHONY: run test lint setup clean

$(BIN)/bench: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test,runtime]"
	touch $(BIN)/bench

setup: $(BIN)/bench

run: setup
	$(BIN)/bench submit method=unet $(ARGS)

lint: setup
	$(BIN)/ruff check rtbench tests benchmarks
	$(BIN)/ruff format --check rtbench tests benchmarks

test: lint
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) .tox .pytest_cache .ruff_cache
