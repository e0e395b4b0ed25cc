# Jimeng Server — developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help install install-dev run dev build test test-sqlite test-mongodb fmt lint superuser migrate redis-queue-status redis-queue-clear \
        redis-queue-clear-force docker-build docker-run clean fake-upstream chaos fuzz bench scale

help: ## List the commands
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-24s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@echo "Installing the server's Python packages into $(VENV) (about a minute on a fresh machine)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -r requirements.txt | grep -E --line-buffered '^(Collecting|Successfully)' || true
	$(BIN)/python -c "import django, celery, rest_framework" && touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	@echo "Installing the test and lint tools into $(VENV)..."
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt | grep -E --line-buffered '^(Collecting|Successfully)' || true
	$(BIN)/python -c "import pytest, ruff, importlinter" && touch $(DEV_STAMP)

install: $(STAMP) ## Create .venv and install what the server needs (tests and lint tools come with `make test`)

install-dev: $(DEV_STAMP) ## Add the test and lint tools to .venv

run: install ## Start web + worker + beat on the configured (or embedded) services
	scripts/run-local Procfile

dev: install-dev ## Like run, with auto-reload of the web server and the worker on code changes
	scripts/run-local Procfile.dev

build: install ## Check the project: Django checks, migrations up to date, OpenAPI schema valid, static files
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/python manage.py collectstatic --noinput -v 0

test: install-dev build lint ## Check and lint, then run the suite on SQLite and on MongoDB's wire protocol (FerretDB), the two side by side
	scripts/test-services
	scripts/test-both $(PYTEST_ARGS)

test-sqlite: install-dev ## Run the suite on SQLite only
	scripts/test-services
	$(BIN)/pytest $(PYTEST_ARGS)

test-mongodb: install-dev ## Run the suite on FerretDB only (built from the Go module proxy on first use)
	scripts/test-services
	JIMENG_TEST_DATABASE=ferretdb $(BIN)/pytest $(PYTEST_ARGS)

fmt: install-dev ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: install-dev ## Lint the code, check the import contracts (.importlinter) and the sizes (no module over 400 lines, no function over 60)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check-sizes

migrate: install ## Apply database migrations
	$(BIN)/python manage.py migrate

superuser: install ## Create an operator account for the admin
	$(BIN)/python manage.py createsuperuser

redis-queue-status: install ## Broker queue depth and task counts per status
	$(BIN)/python manage.py queue_status

redis-queue-clear: install ## Empty the broker queue (asks first; pending tasks are re-enqueued by the reconciler)
	$(BIN)/python manage.py queue_clear

redis-queue-clear-force: install ## Empty the broker queue without asking
	$(BIN)/python manage.py queue_clear --force

fuzz: install-dev ## schemathesis against the OpenAPI schema: 1000+ generated requests, no 5xx allowed (part of make test)
	$(BIN)/pytest -m fuzz tests/fuzz

bench: install-dev ## Throughput, latency, waiting and memory figures beside in-run baselines; writes bench/results.md; exits 1 naming a missed goal (~18 min)
	scripts/test-services
	$(BIN)/python -m bench.performance

scale: install-dev ## Two hosts (web + worker + beat each, no shared disk) on shared Redis, MongoDB wire and S3; one killed mid-run: N/N completed once (~3 min)
	scripts/test-services
	$(BIN)/python -m bench.scale

chaos: install-dev ## Reliability figures: worker killed, Redis lost, injected faults, webhook receiver down (~10 min)
	scripts/test-services
	$(BIN)/python -m bench.chaos $(SCENARIOS)

fake-upstream: install-dev ## Run the fake Volcengine (Jimeng + Ark) on 127.0.0.1:9900 for local experiments
	$(BIN)/python -m tests.fakes.upstream --port 9900

docker-build: ## Build the Docker image
	docker build -t jimeng-server .

docker-run: ## Start the whole stack (web, worker, beat, redis, mongo) with docker compose
	docker compose up --build

clean: ## Remove the virtualenv and local data (var/)
	rm -rf $(VENV) var
