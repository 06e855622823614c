# Two commands for a new user: `make demo` (install + the main job) and `make test` (install + all tests).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export MPLBACKEND := Agg
export SDL_VIDEODRIVER := dummy

.PHONY: demo test install install-dev lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# torch first and pinned: an unpinned or ranged torch pulls gigabytes of CUDA packages.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/simrl demo

test: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install-dev
	$(PY) bench/env_throughput.py
	$(PY) bench/time_to_solve.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
