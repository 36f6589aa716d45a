# Two commands do all set-up on a fresh machine:
#   make demo   - the demo training loop on the embedded local store (./tablelog-data);
#                 installs only the core dependencies (about a minute, once)
#   make test   - the whole test suite (unit, integration on real S3 servers, property);
#                 installs everything the tests need (test servers, linters) first
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev
# Parallel test workers (pytest-xdist): 2 for the 2-core machines CI and developers
# have (auto would be the same there); `make test N=0` runs in one process.
# A worker that crashes (a native fault) fails the run at once: xdist's replacement
# worker under --dist loadgroup can wait forever for the crashed worker's group.
N      ?= 2

.PHONY: demo test lint bench clean

$(CORE): pyproject.toml
	@echo "make: installing tablelog and its core dependencies into $(VENV) (about a minute, once)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip >$(VENV)/pip.log 2>&1 \
	  && $(PY) -m pip install --quiet --disable-pip-version-check -e . >>$(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "make: pip failed (log above, in $(VENV)/pip.log)"; exit 1; }
	@touch $(CORE)

$(DEV): $(CORE)
	@echo "make: installing the test servers, linters and extras ('.[dev]', a few minutes, once)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' >>$(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; echo "make: pip failed (log above, in $(VENV)/pip.log)"; exit 1; }
	@touch $(DEV)

demo: $(CORE)
	@$(PY) -m tablelog.demo

test: $(DEV)
	$(PY) -m pytest -n $(N) --dist loadgroup --max-worker-restart=0

lint: $(DEV)
	$(VENV)/bin/ruff check tablelog tests
	$(VENV)/bin/ruff format --check tablelog tests
	$(VENV)/bin/mypy

bench: $(DEV)
	$(PY) tests/benchmarks/bench_core.py

clean:
	rm -rf $(VENV) .tools tablelog-data .pytest_cache .mypy_cache .ruff_cache
