# Two commands do all set-up on a fresh machine:
#   make demo   - the demo training loop on the embedded local store (./tablelog-data)
#   make test   - the whole test suite (unit, integration on real S3 servers, property)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tablelog.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check tablelog tests
	$(VENV)/bin/ruff format --check tablelog tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) tests/benchmarks/bench_core.py

clean:
	rm -rf $(VENV) tablelog-data .pytest_cache .mypy_cache .ruff_cache
