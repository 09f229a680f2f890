# The few commands people expect. `make run` and `make test` are the two README commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help install lock run demo status stop reset test lint format typecheck unit integration chaos bench audit clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exactly the locked versions, each checked against its hash; then the service packages themselves, editable
# (the dev tooling, devservices/, loadtool/, bench/ and tests/, runs from the checkout).
$(VENV)/.installed: requirements/pip.txt requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/pip.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed  ## create .venv with the locked dev, test and bench dependencies (requirements/dev.txt)

# uv keeps the versions already locked when they still fit pyproject.toml; UPGRADE=1 takes the newest that fit.
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11 \
	$(if $(UPGRADE),--upgrade,)

lock: install  ## regenerate the lock files with hashes from pyproject.toml (UPGRADE=1: newest versions that fit)
	$(LOCK) --output-file requirements/runtime.txt
	$(LOCK) --extra dev --output-file requirements/dev.txt

run: install  ## run Kafka, the HTTP service and 16 consumer processes (SQLite); FIRESTORE=1 for the emulator
	$(BIN)/python -m devservices up $(if $(FIRESTORE),--firestore,) $(if $(PROCESSES),--processes $(PROCESSES),)

demo: install  ## with `make run` running: send the bundled Wikinews articles, wait until counted, show where to look
	@$(BIN)/python -m devservices demo $(if $(URL),--url $(URL),)

status: install  ## how far behind counting is, from the running service (GET /status)
	@$(BIN)/python -m devservices status $(if $(URL),--url $(URL),)

stop:  ## stop what `make run` (or `python -m devservices kafka/firestore start`) left running
	$(BIN)/python -m devservices down

reset: install  ## stop everything, delete the topic data, SQLite file, emulator data and API key (asks; YES=1 does not)
	$(MAKE) --no-print-directory stop
	$(BIN)/python -m devservices reset $(if $(YES),--yes,)

lint: install  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install  ## mypy (strict)
	$(BIN)/mypy

test: install lint typecheck  ## lint, type-check, then the whole test suite against a real broker and emulator
	$(BIN)/pytest -m "not chaos" $(PYTEST_ARGS)

unit: install  ## only the fast tests that need no broker or emulator
	$(BIN)/pytest -m "not integration and not slow and not browser and not chaos" $(PYTEST_ARGS)

chaos: install  ## the fault-injection suite (kill -9, outages, rebalance storms)
	$(BIN)/pytest -m chaos $(PYTEST_ARGS)

audit: install  ## known vulnerabilities of the installed dependencies, from PyPI (see docs/reliability.md)
	$(BIN)/python -m devservices.audit

bench: install  ## the benchmark suite (see docs/benchmarks.md)
	$(BIN)/python -m bench

clean:  ## remove caches (keeps .cache/kafka/jars)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis
