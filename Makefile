# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install install-test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Runs the product on SQLite with demo data at http://127.0.0.1:8000
run: install
	$(BIN)/clientbook run

# Installs the test dependencies (and Debian's Chromium for the browser test),
# then runs the whole suite, one worker per core (each worker has its own test
# database). DATABASE_URL selects PostgreSQL.
test: install browser
	$(BIN)/pytest -n auto

browser:
	@scripts/ensure-chromium

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var/
