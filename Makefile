# Quick start: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bare-install-check docs bench lint generated clean

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
	$(MAKE) --no-print-directory bare-install-check

# A fresh venv with `pip install .` and no extras: build from the sample, read through intake (~40 s).
bare-install-check: setup
	$(BIN)/python tests/bare_install_check.py

# BENCH_ARGS: e.g. --quick (a 10k smoke run), --sizes 10000 --replicated 0; see run.py --help.
bench: setup
	$(BIN)/python tests/benchmarks/run.py $(BENCH_ARGS)

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
