# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup system-packages demo test validate lint format ui bench scale figures status clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

setup: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/marketflow demo

# Debian's redis-server, the broker of the test that runs a backfill on two Celery workers;
# installed when missing and running as root (elsewhere that test says how and is skipped).
system-packages:
	@if ! command -v redis-server >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update && apt-get install -y redis-server; \
	fi

test: $(INSTALLED) system-packages
	$(BIN)/python -m pytest

# Dagster's own check of the code location, as the UI would load it.
validate: $(INSTALLED)
	$(BIN)/marketflow dagster definitions validate -w workspace.yaml

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

ui: $(INSTALLED)
	$(BIN)/marketflow ui

# The README's figures are rewritten even when a target is missed; bench still fails then.
bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py; status=$$?; \
	$(BIN)/python benchmarks/readme_figures.py && exit $$status

# A synthetic universe through `marketflow backfill` and an export (SCALE="--tickers 500").
scale: $(INSTALLED)
	$(BIN)/python benchmarks/scale.py $(SCALE)

# The README's "## Performance" section, from benchmarks/results.json.
figures: $(INSTALLED)
	$(BIN)/python benchmarks/readme_figures.py

status: $(INSTALLED)
	$(BIN)/marketflow status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
