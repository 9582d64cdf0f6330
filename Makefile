# nas_jax: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest-xdist workers; test files are the unit of distribution (module fixtures run once), handed
# out slowest first (tests/conftest.py).
TEST_WORKERS ?= 2
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.jax_cache
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test lint format bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: setup
	rm -rf runs/demo
	$(PY) -m experiments.demo --workdir=runs/demo

# The style check (pyink, ruff; configured in pyproject.toml) runs first: seconds.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m pyink --check --quiet .

format: setup
	$(PY) -m ruff check --fix --quiet .
	$(PY) -m pyink --quiet .

test: lint
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

bench: setup
	$(PY) -m benchmarks.search_step
	$(PY) -m benchmarks.train_step
	$(PY) -m benchmarks.strategies
	$(PY) -m benchmarks.discrete_search

clean:
	rm -rf runs .jax_cache
