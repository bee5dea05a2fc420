# Two commands for a fresh machine: `make demo` and `make test`; `make notebooks` opens JupyterLab.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_CORE := $(VENV)/.core-installed
STAMP_NB := $(VENV)/.notebook-installed
STAMP_ALL := $(VENV)/.all-installed

.PHONY: demo test lint install clean notebooks lab

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_CORE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_NB): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[notebook]"
	touch $@ $(STAMP_CORE)

$(STAMP_ALL): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,notebook,dbt,scale]"
	touch $@ $(STAMP_CORE) $(STAMP_NB)

install: $(STAMP_ALL)

demo: $(STAMP_CORE)
	$(BIN)/saosim demo

# the notebook extra (JupyterLab, ipywidgets, kaleido), then JupyterLab on notebooks/
notebooks lab: $(STAMP_NB)
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP_ALL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check saosim tests benchmarks
	$(BIN)/lint-imports --no-cache

# pytest exits 5 when it collected no tests: that must fail, and it does (any non-zero exit fails make).
test: $(STAMP_ALL) lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
