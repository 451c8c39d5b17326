# gatepass: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck imports pytest fuzz clean bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install (server extra only).
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server]'
	touch $@

# Development install (everything the checks and tests need).
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/gatepass serve --dev --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

imports: $(VENV)/.dev-installed
	$(BIN)/lint-imports

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest -q

test: lint typecheck imports pytest

# The long fuzzing run (tests/security/test_fuzz.py): hypothesis and schemathesis budgets.
FUZZ_EXAMPLES ?= 5000
fuzz: $(VENV)/.dev-installed
	GATEPASS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 tests/security/test_fuzz.py

# Benchmarks (benchmarks/, report in benchmarks/out/): e.g. make bench BENCH_ARGS=--quick
$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.dev-installed $(VENV)/.run-installed

bench: $(VENV)/.bench-installed
	$(BIN)/gatepass bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The browser tests' screenshots, written where the docs show them (docs/img/browser).
screenshots: $(VENV)/.dev-installed
	GATEPASS_SCREENSHOTS=docs/img/browser $(BIN)/pytest -q -p no:cacheprovider tests/browser
