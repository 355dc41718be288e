# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint test test-unit test-deployment test-compat compat-minors test-wheel demo bench bench-scale clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned by constraints.txt so every machine gets the versions CI passed with.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	@echo "Installing into $(VENV) (log: $(VENV)/install.log)..."
	@$(BIN)/pip install -c constraints.txt -e ".[test,bench]" > $(VENV)/install.log 2>&1 \
		|| { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

# mypy checks the package (files in pyproject [tool.mypy]); the tests stay untyped.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Includes tests/deployment: a real Airflow (api-server, LocalExecutor scheduler, dag-processor,
# triggerer) on SQLite in a temporary AIRFLOW_HOME, started and stopped by the tests (~3 min); it
# needs nothing beyond the venv.
test: install lint
	$(BIN)/python -m pytest

# The same suite in two parts, for CI to run beside other work (see .ci/run).
test-unit: install
	$(BIN)/python -m pytest -q -m "not deployment" -p no:cacheprovider

test-deployment: install
	$(BIN)/python -m pytest -q -m deployment -p no:cacheprovider

# The older Airflow minors the provider supports (the newest is constraints.txt, run by `make test`):
# each in its own venv, pinned by constraints/airflow-<minor>.txt, the suite without the `e2e` tests
# (the example DAGs through `airflow dags test`, about a minute per minor) and the `deployment` suite
# (a real Airflow, about 3 minutes); `make test` runs both on the newest minor. Each minor takes
# about 3.5 minutes on 2 cores, plus a minute to install. The list is pyproject's declared range:
# every minor from 3.1 on.
COMPAT_MINORS := 3.1 3.2

test-compat: $(foreach minor,$(COMPAT_MINORS),test-compat-$(minor))

compat-minors:  # for .ci/run
	@echo $(COMPAT_MINORS)

# One minor: `make test-compat-3.1`.
test-compat-%: $(VENV)-af%/.installed-stamp
	@echo "== Airflow $* ($$($(VENV)-af$*/bin/python -c 'import airflow; print(airflow.__version__)'))"
	@$(VENV)-af$*/bin/python -m pytest -q -m "not e2e and not deployment" -p no:cacheprovider

$(VENV)-af%/.installed-stamp: pyproject.toml constraints/airflow-%.txt
	@test -x $(VENV)-af$*/bin/python || $(PYTHON) -m venv $(VENV)-af$*
	@echo "Installing Airflow $* into $(VENV)-af$* (log: $(VENV)-af$*/install.log)..."
	@$(VENV)-af$*/bin/pip install -c constraints/airflow-$*.txt -e ".[test]" > $(VENV)-af$*/install.log 2>&1 \
		|| { tail -n 40 $(VENV)-af$*/install.log; exit 1; }
	@touch $@

# The built wheel, installed on its own: LICENSE and py.typed inside, hooks listed, sandbox answers.
test-wheel: install
	@scripts/check_wheel.sh

demo: install
	@$(BIN)/python scripts/demo.py

bench: install
	@$(BIN)/python bench/run.py
	@$(BIN)/python bench/concurrent_tasks.py
	@$(BIN)/python bench/autosend_rate.py

# TLS beside plain HTTP at 100k, and 10M identifiers removed in 8 shards (about 8 minutes on 2 cores).
bench-scale: install
	@$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) $(VENV)-af* .pytest_cache .mypy_cache build dist *.egg-info
