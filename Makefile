# csmap: `make run` serves the fictional demo; `make test` runs every test on a throwaway PostGIS.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYSTAMP := $(VENV)/.installed
ASSETSTAMP := app/web/static/build/.built
# Use DATABASE_URL when given; otherwise a private cluster under .data/.
DBENV = if [ -z "$${DATABASE_URL:-}" ]; then $(BIN)/csmap db up; eval "$$($(BIN)/csmap db env)"; fi

.PHONY: run test lint bench deps-run deps-test db migrate demo clean

$(PYSTAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(ASSETSTAMP): package.json package-lock.json scripts/build-assets.mjs app/web/assets/csmap.scss
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build
	@touch $@

deps-run:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh run

deps-test:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh test

run: deps-run $(PYSTAMP) $(ASSETSTAMP)
	@$(DBENV); \
	export CSMAP_DEMO_MODE=$${CSMAP_DEMO_MODE:-true}; \
	$(BIN)/csmap migrate; \
	$(BIN)/csmap demo --size small; \
	echo ""; \
	echo "csmap is starting on http://127.0.0.1:$(PORT)  (fictional demo data)"; \
	echo "Sign in as demo-practitioner, demo-supervisor, demo-analyst, demo-neighbourhood,"; \
	echo "demo-agency-admin or demo-admin (second agency: demo-practitioner-2),"; \
	echo "password: $${CSMAP_DEMO_PASSWORD:-demo-password-2026}"; \
	echo ""; \
	exec $(BIN)/csmap serve --port $(PORT)

test: deps-test $(PYSTAMP) $(ASSETSTAMP)
	$(BIN)/python -m pytest

lint: $(PYSTAMP)
	$(BIN)/ruff check app contexts mapping migrations tests benchmarks
	$(BIN)/ruff format --check app contexts mapping migrations tests benchmarks
	$(BIN)/mypy

bench: $(PYSTAMP) $(ASSETSTAMP)
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules app/web/static/build .pytest_cache .mypy_cache .ruff_cache
