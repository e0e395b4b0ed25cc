# Jimeng Server — developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run dev build test test-sqlite test-mongodb fmt lint superuser migrate redis-queue-status redis-queue-clear \
        redis-queue-clear-force docker-build docker-run clean fake-upstream chaos fuzz bench scale

help: ## List the commands
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-24s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies

run: install ## Start web + worker + beat on the configured (or embedded) services
	scripts/run-local Procfile

dev: install ## Like run, with auto-reload of the web server and the worker on code changes
	scripts/run-local Procfile.dev

build: install ## Check the project: Django checks, migrations up to date, OpenAPI schema valid, static files
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/python manage.py collectstatic --noinput -v 0

test: install build lint ## Check and lint, then run the suite on SQLite and again on MongoDB's wire protocol (FerretDB)
	scripts/test-services
	$(BIN)/pytest $(PYTEST_ARGS)
	JIMENG_TEST_DATABASE=ferretdb $(BIN)/pytest $(PYTEST_ARGS)

test-sqlite: install ## Run the suite on SQLite only
	scripts/test-services
	$(BIN)/pytest $(PYTEST_ARGS)

test-mongodb: install ## Run the suite on FerretDB only (built from the Go module proxy on first use)
	scripts/test-services
	JIMENG_TEST_DATABASE=ferretdb $(BIN)/pytest $(PYTEST_ARGS)

fmt: install ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: install ## Lint the code, check the import contracts (.importlinter) and the sizes (no module over 400 lines, no function over 60)
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

fuzz: install ## schemathesis against the OpenAPI schema: 1000+ generated requests, no 5xx allowed (part of make test)
	$(BIN)/pytest -m fuzz tests/fuzz

bench: install ## Throughput, latency, waiting and memory figures beside in-run baselines; writes bench/results.md; exits 1 naming a missed goal (~9 min)
	scripts/test-services
	$(BIN)/python -m bench.performance

scale: install ## Two hosts (web + worker + beat each, no shared disk) on shared Redis, MongoDB wire and S3; one killed mid-run: N/N completed once (~3 min)
	scripts/test-services
	$(BIN)/python -m bench.scale

chaos: install ## Reliability figures: worker killed, Redis lost, injected faults, webhook receiver down (~10 min)
	scripts/test-services
	$(BIN)/python -m bench.chaos $(SCENARIOS)

fake-upstream: install ## Run the fake Volcengine (Jimeng + Ark) on 127.0.0.1:9900 for local experiments
	$(BIN)/python -m tests.fakes.upstream --port 9900

docker-build: ## Build the Docker image
	docker build -t jimeng-server .

docker-run: ## Start the whole stack (web, worker, beat, redis, mongo) with docker compose
	docker compose up --build

clean: ## Remove the virtualenv and local data (var/)
	rm -rf $(VENV) var
