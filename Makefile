# Quick start: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test docs bench lint generated clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,docdb,dask,docs]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python builders/demo.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/mkdocs build --strict
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python tests/benchmarks/run.py

docs: setup
	$(BIN)/mkdocs build --strict

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

generated: setup
	$(BIN)/python builders/regenerate_catalogs.py
	$(BIN)/python builders/regenerate_docs.py
	$(BIN)/python builders/make_notebook.py

clean:
	rm -rf $(VENV) .pytest_cache demo-store build *.egg-info
