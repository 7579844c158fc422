# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch is pinned through a constraints file so that pip never pulls a newer build with CUDA packages here;
# elsewhere choose your own build with `make CONSTRAINTS= ...` (no pin) or your own constraints file.
PYTHON      ?= python3
VENV        ?= .venv
CONSTRAINTS ?= constraints.txt
CONFIG      ?= config.yaml
BIN         := $(VENV)/bin
PIP_C       := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: install dev demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install -q $(PIP_C) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q $(PIP_C) -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: install
	@scripts/system-deps
	$(BIN)/tracker --config $(CONFIG) demo

test: dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff check tracker tests benchmarks scripts
	$(BIN)/ruff format --check tracker tests benchmarks scripts
	$(BIN)/mypy

bench: dev
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tracker .pytest_cache .mypy_cache .ruff_cache
