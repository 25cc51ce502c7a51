# Two entry points for a fresh machine:  `make demo`  and  `make test`.
# Both create ./.venv and install the project into it from pyproject.toml.
#
# TORCH_SPEC is installed before the project so that pip's resolver never
# pulls a multi-GB CUDA build on a CPU-only machine where a local CPU wheel
# of that version is on pip's find-links path.  Elsewhere it is an ordinary
# requirement resolved from your index; override it freely, e.g.
#   make test TORCH_SPEC='torch'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test setup clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev,ray,tensorboard]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/eigenrnn demo --force

test: setup
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
