# One entry point for every routine task; `make help` lists them. Each target creates the venv itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Python 3.12, the Lambda runtime's: from PATH, else from pyenv (any 3.12.x), else say so.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1)
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAYER_REQUIREMENTS := layers/common/requirements.txt
# boto3 and s3transfer come with the Lambda runtime; the layer does not ship them.
EXPORT := $(BIN)/uv export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt \
	--no-emit-package boto3 --no-emit-package s3transfer
PY_SOURCES := layers functions emulator local tests bench

.PHONY: help demo test lint typecheck imports lock lock-check unit integration template-checks bench bench-smoke clean

$(STAMP): pyproject.toml uv.lock
	@test -n "$(PYTHON)" || { echo "python3.12 not found: install it (pyenv install 3.12) or set PYTHON=" >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --frozen --extra dev --python $(BIN)/python
	touch $(STAMP)

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: $(STAMP) ## the whole pipeline on this machine: emulated AWS + APIG, a CI story, real delays
	$(BIN)/taskwatch demo

test: $(STAMP) lint ## lint, types, the import contract, then every test (unit, integration, template rules)
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/template/test_build_output.py

lint: $(STAMP) typecheck imports lock-check ## ruff, ruff format --check, mypy strict, import-linter, lock drift
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: $(STAMP) ## mypy strict on everything
	$(BIN)/mypy layers/common/taskwatch functions/poller/app.py functions/webhook/app.py emulator local tests bench

imports: $(STAMP) ## the layers contract: domain <- adapters <- entrypoints <- wiring
	PYTHONPATH=layers/common $(BIN)/lint-imports

lock: $(STAMP) ## re-resolve uv.lock and regenerate the layer's requirements from it
	$(BIN)/uv lock --python $(BIN)/python
	$(EXPORT) > $(LAYER_REQUIREMENTS)

lock-check: $(STAMP) ## fail when uv.lock is stale or the layer's requirements differ from it
	$(BIN)/uv lock --check --python $(BIN)/python
	@$(EXPORT) | diff -u $(LAYER_REQUIREMENTS) - || { echo "$(LAYER_REQUIREMENTS) differs from uv.lock: run make lock" >&2; exit 1; }

unit: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) ## integration tests only (real HTTP against the local emulators)
	$(BIN)/python -m pytest -q tests/integration

template-checks: ## sam validate --lint, cfn-lint, checkov, offline sam build and the build-output checks
	bash .ci/template-checks.sh

bench: $(STAMP) ## the full benchmark run, written to BENCHMARKS.md
	$(BIN)/python bench/run.py --out BENCHMARKS.md

bench-smoke: $(STAMP) ## a short benchmark run that checks the harness (never fails on a timing)
	$(BIN)/python bench/run.py --smoke --out bench-out/BENCHMARKS.smoke.md

clean: ## remove every venv, build and cache
	rm -rf $(VENV) .venv-tools .aws-sam bench-out .pytest_cache .mypy_cache .ruff_cache
