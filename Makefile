# `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test bench lint install lock

# the versions the tests ran with: requirements.lock pins every package (`make lock`)
$(BIN)/seqguard: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/seqguard

# one cycle on a sandbox it starts; a run the circuit breaker holds asks approve/reject
# before that sandbox stops
run: install
	$(BIN)/seqguard cycle --contacts 10000

# Two workers, one test file each at a time (module fixtures stay in one process), the
# files in the order tests/conftest.py puts them: the longest first.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: install
	$(BIN)/ruff check flows tasks sandbox tests bench

bench: install
	$(BIN)/pip install -q -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python bench/all.py

# Resolve pyproject.toml's dependencies afresh in a new venv and pin what pip chose.
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q -e '.[dev,bench]'
	$(LOCK_VENV)/bin/pip freeze --exclude-editable > $(LOCK_VENV)/freeze.txt
	$(LOCK_VENV)/bin/python .ci/lock.py write $(LOCK_VENV)/freeze.txt
	rm -rf $(LOCK_VENV)
