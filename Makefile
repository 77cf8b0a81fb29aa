# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of
# those two, runnable on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check install system-deps lint typecheck schemas unit integration e2e faults \
	bench bench-full clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	./deploy/install-system-deps.sh

## run: set up, start Kafka, the worker and the API on 127.0.0.1:8000, load demo data
run: install system-deps
	$(BIN)/hub run

## test: set up, then lint, type-check, check schema compatibility and run every test, in two
## pytest-xdist workers, each with its own broker and PostgreSQL, a file to a worker (ADR 0038)
test: install system-deps lint typecheck schemas
	$(BIN)/pytest -n 2 --dist loadfile

## check: the fast loop, no broker or database: lint, the import contracts, types, unit tests
check: lint typecheck unit

## lint: ruff, and the architecture's import contracts ([tool.importlinter] in pyproject.toml)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

schemas: install
	$(BIN)/hub schemas check

# The four tiers, each on its own (`make test` runs them all). Integration and later need the
# system dependencies: they start a real Kafka broker and a throwaway PostgreSQL themselves.
unit: install
	$(BIN)/pytest tests/unit

integration: install system-deps
	$(BIN)/pytest tests/integration

e2e: install system-deps
	$(BIN)/pytest tests/e2e

faults: install system-deps
	$(BIN)/pytest tests/faults

## bench: every benchmark at quick sizes (replay and extract at 100,000; under 15 minutes)
bench: install system-deps
	$(BIN)/python -m benchmarks

## bench-full: the same with the 1,000,000-event replay and 1,000,000-row extract (~35 min)
bench-full: install system-deps
	$(BIN)/python -m benchmarks --full

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
