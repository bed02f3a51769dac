# overdue: two commands for a newcomer.
#   make run   - the whole stack locally, with demo cases (Ctrl-C stops it)
#   make test  - lint, type-check and the whole test suite
#   make bench - the service beside the raw speed of Temporal (bench/README.md)
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint typecheck pytest install migrate clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.11+ on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/overdue db upgrade

run: migrate
	$(BIN)/overdue dev up --policy policy/demo.toml

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# Not part of make test: ~45 minutes on 2 cores at 10,000 cases. BENCH_ARGS="--cases 2000" for a quick run.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
