# `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test bench lint install

$(BIN)/seqguard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/seqguard

run: install
	$(BIN)/seqguard cycle --contacts 10000

# Two workers, one test file each at a time (module fixtures stay in one process), the
# files in the order tests/conftest.py puts them: the longest first.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: install
	$(BIN)/ruff check flows tasks sandbox tests bench

bench: install
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/all.py
