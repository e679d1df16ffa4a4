# The two commands a newcomer needs: `make run` and `make test`.
# Each creates .venv on first use and installs exactly the pinned versions in constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint typecheck pytest bench lock clean

run: $(RUNTIME_STAMP) $(NODE_STAMP)
	$(BIN)/python -m bot

test: $(DEV_STAMP) $(NODE_STAMP) lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP) $(NODE_STAMP)
	$(BIN)/pytest

# Figures, not tests: several minutes in all (bench.growth builds a 1M-session database).
# The database benchmarks run on both engines (PostgreSQL: a throwaway server they start).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.ack_latency
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.reservations
	$(BIN)/python -m bench.reservations --engine postgres
	$(BIN)/python -m bench.pg_drivers
	$(BIN)/python -m bench.image_memory
	$(BIN)/python -m bench.chart_stall
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.growth --engine postgres

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(RUNTIME_STAMP) $@

# The join page's browser library (livekit-client), exactly as package-lock.json pins it.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Re-pin after changing dependencies in pyproject.toml.
lock: | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache
