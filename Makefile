# Set-up and everyday commands. Every target creates .venv if it is missing and installs
# what it needs once: each stamp file below is remade only when pyproject.toml or
# constraints.txt change, so a second `make test` goes straight to the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt
DEPS := pyproject.toml constraints.txt

.PHONY: demo test test-slow bench bench-eventprop bench-bss2 bench-s2-mapping lint docs clean-cache

demo: $(VENV)/.installed
	$(BIN)/neurotwin run cuba

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

test-slow: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m slow

bench: $(VENV)/.installed-bench
	$(BIN)/neurotwin bench cuba

# EventProp against jaxsnn, which lives in its own environment (it brings JAX)
bench-eventprop: $(VENV)/.installed-dev bench/envs/jaxsnn/.installed
	$(BIN)/neurotwin bench eventprop

bench/envs/jaxsnn/.installed:
	$(PYTHON) -m venv bench/envs/jaxsnn
	bench/envs/jaxsnn/bin/python -m pip install --quiet jaxsnn==0.3.0
	touch $@

bench-bss2: $(VENV)/.installed
	$(BIN)/neurotwin bench bss2

# SpiNNaker2 mapping against sPyNNaker, which lives in its own environment
bench-s2-mapping: $(VENV)/.installed bench/envs/spynnaker/.installed
	$(BIN)/neurotwin bench s2-mapping

bench/envs/spynnaker/.installed:
	$(PYTHON) -m venv bench/envs/spynnaker
	bench/envs/spynnaker/bin/python -m pip install --quiet 'sPyNNaker==1!7.4.1'
	touch $@

# the API reference from the docstrings; any Sphinx warning fails the build
docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -q -W --keep-going -b html docs/api build/api
	@echo "API reference in build/api/index.html"

# numba caches compiled kernels per source file; a kernel calling a shared compiled
# function (engines/neuron_update.py) is not recompiled when only that function changes
clean-cache:
	find src -name '*.nbi' -delete -o -name '*.nbc' -delete

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(DEPS) | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: $(DEPS) | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-docs: $(DEPS) | $(BIN)/python
	$(PIP_INSTALL) -e '.[docs]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: $(DEPS) | $(BIN)/python
	$(PIP_INSTALL) -e '.[bench]'
	touch $@ $(VENV)/.installed
