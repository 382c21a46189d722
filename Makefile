# classicdet: two commands do everything on a fresh machine.
#   make demo   set up, make the digits data, train a small detector on CPU, test it, draw predictions
#   make test   set up if needed, run the test suite
PYTHON_BIN ?= python3.11
# Absolute, so that every command finds the venv whatever folder it runs in.
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python

.PHONY: setup test test-fast demo lint clean-demo

setup:
	@PYTHON=$(PYTHON_BIN) VENV=$(VENV) bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q

# Everything except the tests marked slow (multi-minute training runs).
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

demo: setup
	@PY=$(PY) bash tools/demo.sh

lint: setup
	$(VENV)/bin/ruff check .

clean-demo:
	rm -rf work_dirs/demo data/digits data/digits_shifts
