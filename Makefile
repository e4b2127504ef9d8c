# The two commands a newcomer needs: `make run` and `make test`. Both are idempotent.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Several processes need one cache for all of them (Redis): without it, one process.
WORKERS ?= $(if $(REDIS_URL),4,1)
PYTEST_ARGS ?=

.PHONY: run test e2e screenshots serve bench loadtest faults venv dev-deps browser migrate seed clean check-deploy

venv: $(VENV)/.runtime-installed

$(VENV)/.runtime-installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

dev-deps: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

browser: dev-deps
	@$(BIN)/python -m tools.ensure_browser

migrate: venv
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

seed: migrate
	DEBUG=1 $(BIN)/python manage.py seed_demo

## make run: virtualenv, dependencies, database, demo data, then the app on http://127.0.0.1:8000
## (one ASGI process with live updates, reloading on code changes)
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	DEBUG=1 $(BIN)/uvicorn site_config.asgi:application --host $(HOST) --port $(PORT) --reload \
		--reload-dir messaging --reload-dir site_config --reload-dir templates --timeout-graceful-shutdown 2

## make test: everything the tests need (a browser included), then the whole suite, end-to-end included
test: browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make e2e [BASE_URL=https://staging.example]: only the browser tests, against live_server or a running server
e2e: browser
	BASE_URL="$(BASE_URL)" $(BIN)/python -m pytest e2e $(PYTEST_ARGS)

## make screenshots: refresh docs/screenshots (phone and desktop, light and dark) from the demo data
screenshots: browser
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest e2e/test_screenshots.py $(PYTEST_ARGS)

## make serve: production-style serving: uvicorn ASGI workers (live updates), whitenoise; reads the same variables
serve: venv
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/uvicorn site_config.asgi:application --host $(HOST) --port $(PORT) --workers $(WORKERS) \
		--proxy-headers --timeout-graceful-shutdown 10 --no-server-header

check-deploy: venv
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-$$(head -c 48 /dev/urandom | base64)} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-messages.example} \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

## make bench [BENCH_ARGS=--quick|--json]: query counts and timings on a throwaway database (never yours)
bench: dev-deps
	DJANGO_ALLOW_DEV_SECRET=1 $(BIN)/python manage.py bench $(BENCH_ARGS)

## make loadtest [LOADTEST_SECONDS=60]: uvicorn on 127.0.0.1 with a throwaway database, 50 locust users; prints req/s, latency, RSS
loadtest: dev-deps
	$(BIN)/python -m tools.loadtest.run

## make faults DATABASE_URL=postgres://...: load run + outage drill (own redis-server, own proxy to PostgreSQL, uvicorn), < 60 s
faults: dev-deps
	$(BIN)/python -m tools.fault_drill

clean:
	rm -rf $(VENV) staticfiles .pytest_cache e2e/artifacts
