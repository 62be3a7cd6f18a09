# The two commands a newcomer needs: `make demo` (install, start, run a demo) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
ORDERS ?= 20

.PHONY: setup up demo down status test test-unit test-cluster test-distributed test-store-e2e lint diagrams clean bench

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
	$(BIN)/ruff check alexandrite tests bench
	$(BIN)/ruff format --check alexandrite tests bench
	$(BIN)/mypy alexandrite
	$(BIN)/mypy bench tests

test-unit: setup
	$(BIN)/python -m alexandrite.ops.helm_build
	$(BIN)/pytest tests/unit

# Everything: lint, then the whole suite against the real servers (started by `up`).
# Debian's Chromium drives the browser tests (no browser download).
test: setup lint
	$(BIN)/python -c "from alexandrite.ops.apt import ensure_apt_packages as e; e(['chromium'])"
	$(BIN)/alexandrite up
	# helm from Go modules (cached outside git) for the chart's offline checks in tests/unit.
	$(BIN)/python -m alexandrite.ops.helm_build
	$(BIN)/pytest -m "not cluster"
	$(MAKE) test-cluster
	$(MAKE) test-store-e2e

# The 3-node RabbitMQ cluster under the order flow (tests/cluster, about 2 minutes): started
# for the run and stopped after it (alexandrite.ops.rabbitmq_cluster).
test-cluster: setup
	$(BIN)/pytest -m cluster tests/cluster

# The distributed trace store and the Collector tiers alone (tests/stores, about 5 min: their
# own OpenSearch, Zipkin and Collectors, hosts as network namespaces; root), then the journey.
test-distributed: setup
	$(BIN)/pytest -m stores tests/stores
	$(MAKE) test-store-e2e

# The order journey end to end with the stack on OpenSearch (`up --store opensearch`), then
# the stack back on MariaDB, whatever the outcome.
test-store-e2e: setup
	$(BIN)/alexandrite up --store opensearch
	$(BIN)/pytest tests/e2e/test_order_journey_in_zipkin.py; status=$$?; \
	  $(BIN)/alexandrite up; exit $$status

diagrams:
	docs/architecture/render.sh

clean:
	-$(BIN)/alexandrite down
	rm -rf var

# Benchmarks of tracing's cost and the pipeline's capacity (docs/performance.md), ~15 min.
bench: up
	$(BIN)/python -m bench
