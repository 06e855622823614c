# Two commands for a new user: `make demo` (install + the main job) and `make test` (install + all tests).
# `make check` is the edit-test loop: lint and the tests not marked slow.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export MPLBACKEND := Agg
export SDL_VIDEODRIVER := dummy
# Tests run on WORKERS processes (pytest-xdist), one torch thread each (tests/conftest.py). loadfile keeps
# each file on one worker (its module fixtures are built once); files go out in collection order, which
# tests/conftest.py starts with the learning tests, so the longest ones run side by side from the start.
WORKERS ?= 2
PYTEST_PARALLEL := -n $(WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: demo test check install install-dev system-deps egl postgres lint bench clean

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

# The main job: BayesSim's quick preset (infer the pendulum's mass and length from observed
# trajectories, train PPO on posterior vs uniform randomization, compare; about a minute on 2 cores).
demo: install egl
	$(VENV)/bin/simrl bayessim --preset quick

# Debian's chromium for the report's browser test (CI fails that test without it; elsewhere it skips),
# EGL for MuJoCo's headless rendering (videos of the MuJoCo tasks; simrl picks MUJOCO_GL=egl without a display),
# and Debian's PostgreSQL server for the many-workers tune test (a private server it starts in a temporary
# folder; CI fails that test without one, elsewhere it skips).
EGL_PACKAGES := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and cannot install it: the browser test will be skipped"; fi; }
	@$(MAKE) --no-print-directory egl postgres

postgres:
	@{ command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; } \
	  || ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's PostgreSQL server for the many-workers tune test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL server (initdb, pg_ctl) not found and cannot install it: its tune test will be skipped"; fi; }

egl:
	@if command -v dpkg >/dev/null 2>&1 && ! dpkg -s $(EGL_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's EGL for MuJoCo's headless rendering"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(EGL_PACKAGES) >/dev/null; \
	  else echo "EGL not found and cannot install it: MuJoCo videos need $(EGL_PACKAGES)"; fi; fi

test: install-dev system-deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m pytest -q $(PYTEST_PARALLEL)

check: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m pytest -q $(PYTEST_PARALLEL) -m "not slow"

lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install-dev
	$(PY) bench/env_throughput.py
	$(PY) bench/time_to_solve.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
