# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv (once).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SHARED ?= $(abspath ../shared)
PRESETS ?=
DEMO_OUT ?= demo-output
# torch first, pinned: this release is available locally as a CPU build; anything else pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
SETUP_INPUTS := pyproject.toml adapters/dexed/pyproject.toml adapters/diva/pyproject.toml Makefile
STAMP := $(VENV)/.patchflow-installed

.PHONY: setup demo test docs benchmark clean

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[dev]" -e ./adapters/dexed -e ./adapters/diva
	@touch $@

demo: setup
	@SHARED="$(SHARED)" PRESETS="$(PRESETS)" OUT="$(DEMO_OUT)" PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: setup
	PATCHFLOW_SHARED="$(SHARED)" $(PY) -m pytest -q

benchmark: setup
	$(PY) -m pytest benchmarks -q --benchmark-only

docs: setup
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .benchmarks $(DEMO_OUT)
