# Parley: the two set-up commands are `make dev` (run locally) and `make test` (every check).
# Both create .venv and install what they need from a fresh clone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
ENV ?= dev
STACK ?= parley-$(ENV)
PYTEST_ARGS ?=
# Parallel test processes (pytest-xdist); `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
# checkov pins boto3/botocore far below Parley's, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# The SAM CLI pins its own aws-sam-translator and pydantic (it downgraded both in .venv), so
# it lives in a venv of its own too, installed by `make build` on first use. `make test`
# never installs it: it is big, and cfn-lint is the same template lint.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam

.DEFAULT_GOAL := help
.PHONY: help install dev test lint typecheck validate iac unit integration e2e fuzz bench bench-full load soak build deploy extras redrive-dlq clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Parley needs Python 3.11 or later")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## Create .venv and install Parley with its dev tools

dev: $(STAMP) web-maybe ## Run the whole stack locally (HTTP :3000, WebSocket :3001, web client :3002)
	$(BIN)/python -m parley_local $(ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict) on the package, handlers, local cloud and client
	$(BIN)/mypy

.PHONY: schema
schema: $(STAMP) ## Write docs/schema/ (AsyncAPI 3.0, OpenAPI 3.1) from the protocol's pydantic models
	$(BIN)/python -m parley_schema --out docs/schema

# The TypeScript SDK needs Node 20+ and npm; nothing else in this Makefile does.
JS := clients/js
JS_STAMP := $(JS)/node_modules/.installed-$(shell cksum $(JS)/package-lock.json | cut -d' ' -f1)
NODE_CHECK := command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
	|| { echo "clients/js needs Node 20 or later and npm, which are not on the PATH" >&2; exit 1; }; \
	node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	|| { echo "clients/js needs Node 20 or later; this is node $$(node --version)" >&2; exit 1; }

$(JS_STAMP): $(JS)/package-lock.json
	@$(NODE_CHECK)
	cd $(JS) && npm ci --no-audit --no-fund
	@rm -f $(JS)/node_modules/.installed-*
	@touch $@

.PHONY: js js-test
js: $(JS_STAMP) ## Build the TypeScript SDK into clients/js/dist (npm ci from the lock file, then tsc; Node 20+)
	cd $(JS) && npm run build

js-test: $(JS_STAMP) $(STAMP) ## SDK checks: generated types match docs/schema, tsc, vitest (unit, then against the local cloud)
	cd $(JS) && npm run check-types && npm run typecheck && npm test

# The web client (clients/web) is built on the SDK's dist; Node is optional for everything
# else, so `make dev` and `make test` build and check it only when Node 20+ is present.
WEB := clients/web
WEB_STAMP := $(WEB)/node_modules/.installed-$(shell cksum $(WEB)/package-lock.json | cut -d' ' -f1)
WEB_SOURCES := $(WEB)/index.html $(WEB)/package.json $(WEB)/vite.config.ts $(WEB)/vite.sdk.config.ts \
	$(wildcard $(WEB)/src/*) $(wildcard $(JS)/src/*.ts $(JS)/src/*/*.ts)
HAVE_NODE := command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
	&& node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'
NO_NODE_NOTE := echo "note: Node 20+ and npm are not on the PATH, so the web client (clients/web) is not built \
and its browser tests skip; the Python stack is unaffected" >&2

$(WEB_STAMP): $(WEB)/package-lock.json
	@$(NODE_CHECK)
	cd $(WEB) && npm ci --no-audit --no-fund
	@rm -f $(WEB)/node_modules/.installed-*
	@touch $@

$(WEB)/dist/index.html: $(JS_STAMP) $(WEB_STAMP) $(WEB_SOURCES)
	cd $(JS) && npm run build
	cd $(WEB) && npm run build

.PHONY: web web-test web-maybe web-check chromium
web: $(WEB)/dist/index.html ## Build the web client into clients/web/dist, with the SDK as one module (parley.js)

web-test: web ## Web client checks: tsc and vitest (the browser tests run with the e2e tests)
	cd $(WEB) && npm run typecheck && npm test

web-maybe: ## Build the web client if Node 20+ is present (else say so and go on)
	@if $(HAVE_NODE); then $(MAKE) --no-print-directory web; else $(NO_NODE_NOTE); fi

web-check: ## web-test and js-test (the SDK's checks) if Node 20+ is present (else say so and go on)
	@if $(HAVE_NODE); then $(MAKE) --no-print-directory web-test js-test; else $(NO_NODE_NOTE); fi

chromium: ## Install Debian's Chromium for the browser tests when missing and running as root (CI)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: no Chromium on the PATH: the web client's browser tests skip" >&2; fi

validate: $(STAMP) ## Lint the SAM template (sam validate --lint when the SAM CLI is installed, else cfn-lint)
	@if test -x $(SAM); then $(SAM) validate --lint --template template.yaml; \
	elif command -v sam >/dev/null 2>&1; then sam validate --lint --template template.yaml; \
	else $(BIN)/cfn-lint template.yaml; fi

iac: $(CHECKOV) ## Security scan of template.yaml (checkov, offline; each suppression says why in the template)
	$(CHECKOV) -f template.yaml --framework cloudformation --skip-download --quiet --compact

$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

test: lint typecheck validate iac web-check chromium ## Everything CI runs: lint, types, template, IaC scan, web client, all tests with coverage
	$(BIN)/pytest -n $(PYTEST_WORKERS) --cov --cov-report=term:skip-covered --cov-fail-under=85 -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

unit: $(STAMP) ## Unit tests only
	$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

integration: $(STAMP) ## Integration tests (moto) only
	$(BIN)/pytest tests/integration -q $(PYTEST_ARGS)

e2e: $(STAMP) ## End-to-end tests against the local cloud only
	$(BIN)/pytest tests/e2e -q $(PYTEST_ARGS)

fuzz: $(STAMP) ## The fuzz tests with 10,000 examples per route and action (make test runs 300, derandomized)
	PARLEY_FUZZ_EXAMPLES=10000 $(BIN)/pytest tests/integration/test_fuzz.py tests/integration/test_fuzz_attachments.py tests/integration/test_fuzz_events.py -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP) ## Every benchmark in quick mode (< 10 min); writes docs/benchmarks.md and docs/bench/*.png
	$(BIN)/python -m parley_bench --quick $(ARGS)

bench-full: $(STAMP) ## The long benchmark runs (same outputs as bench)
	$(BIN)/python -m parley_bench --full $(ARGS)

load: $(STAMP) ## Load test over real WebSockets: the local cloud, or ARGS="--http URL --ws URL" for a stack
	$(BIN)/python -m parley_bench.load $(ARGS)

soak: $(STAMP) ## Soak under faults: users, groups, rate, duration, --faults PROFILE (ARGS="--faults all5 --duration 300"); fails on a lost or duplicated message
	$(BIN)/python -m parley_soak $(ARGS)

$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli

# .venv-sam/bin first on the PATH: the layer's Makefile (layers/parley/Makefile) runs its
# build with that venv's `python3` and pip.
build: $(SAM) ## sam build (installs the SAM CLI into .venv-sam if it is missing)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" sam build

deploy: build ## sam deploy --config-env $(ENV)   (make deploy ENV=staging)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" sam deploy --config-env $(ENV)

extras: $(STAMP) ## Install .[client] and .[local] each in a clean venv and run `parley`/`parley-local` (CI)
	$(BIN)/python .ci/check_extras.py

redrive-dlq: ## Move the push DLQ's messages back to the push queue (make redrive-dlq ENV=prod)
	@arn=$$(aws cloudformation describe-stacks --stack-name "$(STACK)" \
		--query "Stacks[0].Outputs[?OutputKey=='PushDeadLetterQueueArn'].OutputValue" --output text) \
		&& test -n "$$arn" && test "$$arn" != None \
		|| { echo "no PushDeadLetterQueueArn output on stack $(STACK)" >&2; exit 1; }; \
	echo "redriving $$arn"; \
	aws sqs start-message-move-task --source-arn "$$arn" \
	&& aws sqs list-message-move-tasks --source-arn "$$arn" --max-results 1

clean: ## Remove build outputs and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov
