# Quickstart targets: `make run` (set up, then build the workflow's figures) and `make test`.
VENV ?= .venv
PYTHON ?= python3
PRESET ?= quick
CORES ?= all
BIN := $(VENV)/bin
SNAKEMAKE_ARGS ?=

$(BIN)/.eisnn-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[workflow,test]'
	touch $@

.PHONY: setup run test
setup: $(BIN)/.eisnn-installed

# PRESET=quick (real Fashion-MNIST subset), PRESET=smoke (synthetic, ~1 min), PRESET= (full paper).
run: setup
	$(BIN)/snakemake --cores $(CORES) figures $(SNAKEMAKE_ARGS) $(if $(PRESET),--config preset=$(PRESET),)

test: setup
	$(BIN)/python -m pytest -q
