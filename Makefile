# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint test demo bench bench-scale clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned by constraints.txt so every machine gets the versions CI passed with.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	@echo "Installing into $(VENV) (log: $(VENV)/install.log)..."
	@$(BIN)/pip install -c constraints.txt -e ".[test,bench]" > $(VENV)/install.log 2>&1 \
		|| { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Includes tests/deployment: a real Airflow (api-server, LocalExecutor scheduler, dag-processor,
# triggerer) on SQLite in a temporary AIRFLOW_HOME, started and stopped by the tests (~3 min); it
# needs nothing beyond the venv.
test: install lint
	$(BIN)/python -m pytest

demo: install
	@$(BIN)/python scripts/demo.py

bench: install
	@$(BIN)/python bench/run.py
	@$(BIN)/python bench/concurrent_tasks.py

# TLS beside plain HTTP at 100k, and 10M identifiers removed in 8 shards (about 8 minutes on 2 cores).
bench-scale: install
	@$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
