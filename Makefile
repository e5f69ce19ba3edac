# modelplane: `make demo` runs the quickstart, `make test` runs the whole suite.
# Both create (or refresh, when pyproject.toml changes) the virtual environment .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?= -n 2  # two pytest-xdist workers: the suite stays under 10 minutes on 2 cores

.PHONY: demo test bench lint clean help

help:
	@echo "make demo   - set up .venv and run 'modelplane quickstart' on embedded defaults"
	@echo "make test   - set up .venv with the dev extras and run the whole test suite"
	@echo "make bench  - run the benchmarks under benchmarks/ and print their tables"
	@echo "make lint   - ruff and mypy"

$(BIN)/python:
	@echo "==> creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# the demo installs only what the quickstart and the README's tour use (no PyTorch);
# pip shows each download and its progress
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	@echo "==> installing modelplane[demo] into $(VENV): scikit-learn, ONNX Runtime (no PyTorch)"
	$(PIP) install --progress-bar on -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "==> installing modelplane[all,dev] into $(VENV) (PyTorch included: the tests use it)"
	$(PIP) install --progress-bar on -e '.[all,dev]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	@echo "==> modelplane quickstart (about a minute; every step prints as it goes)"
	$(BIN)/modelplane quickstart

.venv-mlflow/.requirements: tests/mlflow-requirements.txt | $(VENV)/.installed-dev
	$(BIN)/python tests/mlflow_env.py  # the real mlflow client, in a venv of its own

test: $(VENV)/.installed-dev .venv-mlflow/.requirements
	$(BIN)/python tests/promtool_env.py  # promtool, for `promtool check metrics`
	$(BIN)/python tests/openapi_env.py   # openapi-python-client, in a venv of its own
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist
