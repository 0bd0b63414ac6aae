# Inkwell: the three commands of the README, and the lock they install from.
#   make setup       create .venv and install the locked stack (requirements.lock), then Inkwell itself, editable
#   make quickstart  synthetic lines + tiny model, run the four notebooks headless, print CER/WER
#   make test        the test suite
#   make lock        re-resolve requirements.lock from pyproject.toml (needs uv; LOCKFLAGS=--upgrade moves every pin)
#   make gpu-kit     pack the locked packages a GPU machine lacks into .gpukit/ (Python 3.12, Linux x86-64)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV ?= uv
LOCK := requirements.lock
LOCKFLAGS ?=
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup quickstart test bench lock gpu-kit

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r $(LOCK) -e . --no-deps
	$(PY) -m pip check

quickstart:
	$(PY) scripts/quickstart.py

test:
	$(PY) -m pytest -q

bench:
	$(PY) scripts/bench_data.py
	$(PY) scripts/bench_generate.py

lock:
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --custom-compile-command "make lock" $(LOCKFLAGS) -o $(LOCK)

gpu-kit:
	$(PY) scripts/gpu_kit.py .gpukit
