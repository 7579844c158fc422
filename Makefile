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

.PHONY: install dev ray demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install -q $(PIP_C) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q $(PIP_C) -e '.[dev,ray]'
	touch $@

# Ray, for `tracker score --engine ray` (docs/ray.md); `make dev` installs it too, so the Ray tests run in CI.
$(VENV)/.installed-ray: $(VENV)/.installed
	$(BIN)/pip install -q $(PIP_C) -e '.[ray]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev
ray: $(VENV)/.installed-ray

demo: install
	@scripts/system-deps
	$(BIN)/tracker --config $(CONFIG) demo

# As root on Debian this installs what the suite needs (Chromium, poppler-utils, PostgreSQL); the suite starts
# its own throwaway PostgreSQL on 127.0.0.1. Without root it names what is missing, and only those tests skip.
test: dev
	@scripts/system-deps --test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff check tracker tests benchmarks scripts
	$(BIN)/ruff format --check tracker tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_architecture.py

bench: dev
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tracker .pytest_cache .mypy_cache .ruff_cache
