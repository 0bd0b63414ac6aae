# Inkwell: the three commands of the README, and the lock they install from.
#   make setup       create .venv and install the locked stack (requirements.lock), then Inkwell itself, editable,
#                    with a progress line every 10 s (scripts/setup_progress.py); then kraken, git-filter and
#                    jupyter-config
#   make kraken      kraken's baseline segmenter, the optional line finder (etc/requirements-kraken.txt), beside the
#                    locked stack without kraken's own pins; Linux x86-64 only (coremltools has no Windows wheel)
#   make git-filter  git stores notebooks without outputs: nbstripout as this clone's clean filter (.gitattributes)
#   make jupyter-config  Jupyter's settings for this venv (etc/jupyter_server_config.json): the save hook that keeps
#                    git status clean when a notebook is run, and encrypted kernel transport
#   make quickstart  synthetic lines + tiny model, run the four notebooks headless, print CER/WER
#   make test        the test suite, in TEST_WORKERS processes of one torch thread each (pytest-xdist)
#   make lock        re-resolve requirements.lock from pyproject.toml (needs uv; LOCKFLAGS=--upgrade moves every pin)
#   make gpu-kit     pack the locked packages a GPU machine lacks into .gpukit/ (Python 3.12, Linux x86-64)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV ?= uv
LOCK := requirements.lock
KRAKEN_REQS := etc/requirements-kraken.txt
#: the pins of kraken 7.1.1 that the locked stack moves past (etc/requirements-kraken.txt says why); any other
#: complaint of `pip check` after kraken is installed fails the setup
KRAKEN_MOVED := click|rich|safetensors|shapely|torch
LOCKFLAGS ?=
TEST_WORKERS ?= 2
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup kraken git-filter jupyter-config quickstart test bench lock gpu-kit

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off --upgrade pip
	$(PYTHON) scripts/setup_progress.py --venv $(VENV) --lock $(LOCK) -- \
	  $(PY) -m pip install --progress-bar off -r $(LOCK) -e . --no-deps
	$(PY) -m pip check
	$(MAKE) --no-print-directory kraken git-filter jupyter-config

kraken:
	@if [ "$$(uname -s)-$$(uname -m)" = Linux-x86_64 ]; then \
	  $(PY) -m pip install --progress-bar off --no-deps -r $(KRAKEN_REQS) && \
	  if $(PY) -m pip check | grep -v -E "^kraken 7\.1\.1 has requirement ($(KRAKEN_MOVED))[^a-z_-]"; then \
	    echo "[setup] kraken: pip check found more than the pins in $(KRAKEN_REQS)" >&2; exit 1; fi && \
	  echo "[setup] kraken 7.1.1 installed for line_finder = \"kraken\" (its pins on $(KRAKEN_MOVED) moved: $(KRAKEN_REQS))"; \
	else echo "[setup] kraken: Linux x86-64 only (coremltools has no wheel here); line_finder = \"ppocr\" finds the lines"; fi

# What git stores of a notebook is nbstripout's output (outputs, execution counts and widget state dropped, cell
# ids kept): a notebook run in JupyterLab keeps its outputs on disk and `git status` stays clean (Jupyter's save
# hook, inkwell/core/notebook_git.py, refreshes git's index when only outputs changed).
# The filter is named in .gitattributes and defined in this clone's .git/config (git runs no filter it does not
# find there). Outside a git clone (an unpacked archive) there is nothing to set up.
git-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean '"$(abspath $(PY))" -m nbstripout --keep-id' && \
	  git config filter.nbstripout.smudge cat && \
	  git config filter.nbstripout.required true && \
	  git config diff.ipynb.textconv '"$(abspath $(PY))" -m nbstripout --keep-id -t' && \
	  echo "[setup] notebooks: git stores them without outputs (nbstripout filter, see README)"; \
	else echo "[setup] not a git clone: no notebook filter to set up"; fi

jupyter-config:
	mkdir -p $(VENV)/etc/jupyter
	cp etc/jupyter_server_config.json $(VENV)/etc/jupyter/jupyter_server_config.json

quickstart:
	$(PY) scripts/quickstart.py

test:
	$(PY) -m pytest -q -n $(TEST_WORKERS)

bench:
	$(PY) scripts/bench_data.py
	$(PY) scripts/bench_generate.py

lock:
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --custom-compile-command "make lock" $(LOCKFLAGS) -o $(LOCK)

gpu-kit:
	$(PY) scripts/gpu_kit.py .gpukit
