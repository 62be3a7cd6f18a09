# The two commands a newcomer needs: `make demo` (install, start, run a demo) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
ORDERS ?= 20

.PHONY: setup up demo down status test test-unit lint diagrams clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	scripts/bootstrap
	touch $@

up: setup
	$(BIN)/alexandrite up

demo: up
	$(BIN)/alexandrite demo --orders $(ORDERS)

down:
	$(BIN)/alexandrite down

status:
	$(BIN)/alexandrite status

lint: setup
	$(BIN)/ruff check alexandrite tests
	$(BIN)/mypy alexandrite

test-unit: setup
	$(BIN)/pytest tests/unit

# Everything: lint, then the whole suite against the real servers (started by `up`).
test: setup lint
	$(BIN)/alexandrite up
	$(BIN)/pytest

diagrams:
	docs/architecture/render.sh

clean:
	-$(BIN)/alexandrite down
	rm -rf var
