# Inkwell: the three commands of the README.
#   make setup       create .venv and install everything (editable, so `import helpers` works anywhere)
#   make quickstart  synthetic lines + tiny model, run the four notebooks headless, print CER/WER
#   make test        the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup quickstart test bench

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"

quickstart:
	$(PY) scripts/quickstart.py

test:
	$(PY) -m pytest -q

bench:
	$(PY) scripts/bench_data.py
	$(PY) scripts/bench_generate.py
