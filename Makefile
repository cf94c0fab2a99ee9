# One entry point for every routine task. Each target creates the project's venv itself.
SHELL := /bin/bash
PY312 := $(HOME)/.pyenv/versions/3.12.1/bin/python
PYTHON ?= $(shell if [ -x $(PY312) ]; then echo $(PY312); elif command -v python3.12 >/dev/null; then command -v python3.12; else command -v python3; fi)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration template-checks bench bench-smoke clean

$(STAMP): pyproject.toml layers/common/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The whole pipeline on this machine: emulated AWS + APIG, a CI story, real delays.
demo: $(STAMP)
	$(BIN)/taskwatch demo

## Lint, types and every test (unit + integration + template rules); no skips.
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/template/test_build_output.py

lint: $(STAMP)
	$(BIN)/ruff check layers functions emulator local tests bench

typecheck: $(STAMP)
	$(BIN)/mypy layers/common/taskwatch functions/poller/app.py functions/webhook/app.py emulator local tests bench

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

## sam validate --lint, cfn-lint, checkov, offline sam build and the build-output checks.
template-checks:
	bash .ci/template-checks.sh

bench: $(STAMP)
	$(BIN)/python bench/run.py --out BENCHMARKS.md

bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke --out bench-out/BENCHMARKS.smoke.md

clean:
	rm -rf $(VENV) .venv-tools .aws-sam bench-out .pytest_cache .mypy_cache .ruff_cache
