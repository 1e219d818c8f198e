# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format system-deps system-deps-test clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Hadir needs Python 3.11 or 3.12"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The benchmarks (bench/) are their own distribution: the test setup only, never `pip install .`.
$(VENV)/.installed-test: pyproject.toml bench/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]' -e ./bench
	touch $@ $(VENV)/.installed

system-deps:
	scripts/system-deps.sh runtime

system-deps-test:
	scripts/system-deps.sh test

## Set up and run the service on its embedded default (SQLite in ./data) with a demo organisation.
run: system-deps $(VENV)/.installed
	$(BIN)/hadir serve --demo

## Set up and run lint, type checks and the whole test suite.
test: system-deps-test $(VENV)/.installed-test lint
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vision signaling service fixtures bench tests scripts

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache fixtures/media
