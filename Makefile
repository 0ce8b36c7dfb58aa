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
SETUP_INPUTS := pyproject.toml adapters/dexed/pyproject.toml adapters/vst3/pyproject.toml adapters/diva/pyproject.toml Makefile
STAMP := $(VENV)/.patchflow-installed

# The project's own VST3 test instrument (tests/vst3-instrument), built with Debian's JUCE into a git-ignored folder.
VST3_BUILD ?= build/vst3
VST3_BUNDLE := $(VST3_BUILD)/PatchflowTestSynth_artefacts/Release/VST3/PatchflowTestSynth.vst3
VST3_BINARY := $(VST3_BUNDLE)/Contents/$(shell uname -m)-linux/PatchflowTestSynth.so
VST3_APT := juce-modules-source cmake g++ make pkg-config libfreetype-dev libx11-dev libxext-dev libxrandr-dev \
	libxinerama-dev libxcursor-dev libjpeg-dev libpng-dev zlib1g-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# In CI (CI=true) `make test` builds the instrument and the VST3 tests must run (PATCHFLOW_REQUIRE_VST3=1).
CI_VST3 := $(if $(filter true 1,$(CI)),vst3-instrument)
# Debian's headless Chromium, which the docs test drives (through Playwright) to look at the built pages. `make test`
# installs it when no Chromium is there; the test skips without one, except in CI, where it must run.
BROWSER_APT := chromium-headless-shell

.PHONY: setup demo test docs benchmark clean vst3-instrument browser quality pretrained

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (log: $(VENV)/install.log)"
	@{ $(PIP) install --upgrade pip && \
	   $(PIP) install "$(TORCH_SPEC)" && \
	   $(PIP) install -e ".[dev,ray,studio]" -e ./adapters/dexed -e ./adapters/vst3 -e ./adapters/diva; \
	 } > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; echo "set-up failed; see $(VENV)/install.log"; exit 1; }
	@touch $@

demo: setup
	@SHARED="$(SHARED)" PRESETS="$(PRESETS)" OUT="$(DEMO_OUT)" PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: setup $(CI_VST3) browser
	$(VENV)/bin/lint-imports
	PATCHFLOW_SHARED="$(SHARED)" PATCHFLOW_TEST_VST3="$(abspath $(VST3_BUNDLE))" \
	$(if $(CI_VST3),PATCHFLOW_REQUIRE_VST3=1) $(PY) -m pytest -q tests benchmarks --benchmark-disable

vst3-instrument: $(VST3_BINARY)

$(VST3_BINARY): tests/vst3-instrument/CMakeLists.txt tests/vst3-instrument/Source/TestSynth.cpp
	@dpkg -s $(VST3_APT) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(VST3_APT); }
	cmake -S tests/vst3-instrument -B $(VST3_BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(VST3_BUILD) -j$$(nproc)
	@test -f $@ && touch $@

browser:
	@command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || \
	{ echo "Installing Debian's $(BROWSER_APT) for the docs test"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BROWSER_APT); } || \
	$(if $(filter true 1,$(CI)),exit 1,echo "could not install $(BROWSER_APT): the docs test skips its browser part")

# Measures for real (minutes); the JSON report feeds the docs' Benchmarks page.
benchmark: setup
	PATCHFLOW_SHARED="$(SHARED)" $(PY) -m pytest benchmarks -q --benchmark-only --benchmark-json docs/benchmarks/latest.json

# The quality table of the training guide from scratch (cnn, flow_post and flow_gen, 25 minutes of training each;
# not part of `make test`,
# which runs the same pipeline at a tiny size). QUALITY_OUT is where it writes.
QUALITY_OUT ?= quality-output
quality: setup
	SHARED="$(SHARED)" OUT="$(QUALITY_OUT)" PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/quality.sh

# The pretrained Dexed matcher of `patchflow match SOUND --synth dexed` (scripts/pretrained_dexed.sh: the shared DX7
# corpus, about 30 minutes on 2 cores), copied into adapters/dexed/patchflow_dexed/pretrained/. PRETRAINED_OUT holds
# the store and the run; MODEL, PRESET, MINUTES... are read by the script.
PRETRAINED_OUT ?= build/pretrained
pretrained: setup
	SHARED="$(SHARED)" OUT="$(PRETRAINED_OUT)" PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/pretrained_dexed.sh

docs: setup
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .benchmarks $(DEMO_OUT)
