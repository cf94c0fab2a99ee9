# One entry point for every routine task; `make help` lists them. Each target creates the venv itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Python 3.12, the Lambda runtime's: pyenv's (any 3.12.x), else one on PATH that really runs (a pyenv shim
# may exist for a version that is not selected), else say so.
PYTHON ?= $(shell for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 $$(command -v python3.12); do \
	"$$p" -c "import sys; assert sys.version_info[:2] == (3, 12)" 2>/dev/null && { echo "$$p"; break; }; done)
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAYER_REQUIREMENTS := layers/common/requirements.txt
IDENTITY_REQUIREMENTS := layers/identity/requirements.txt
# The layers are installed with `pip install --no-deps` (see layers/*/Makefile): each requirements file is
# the whole set of what its layer ships, exported from uv.lock. Left out of both:
# - what the python3.12 Lambda runtime already provides (boto3 and its dependency tree);
RUNTIME_PROVIDED := boto3 botocore s3transfer jmespath python-dateutil six urllib3
# - what huaweicloudsdkcore declares but its Signer and SdkRequest never import (taskwatch.adapters.apig signs
#   with the Signer directly: BasicCredentials' module would import requests and the SDK's IAM clients);
SDK_UNUSED := pymongo dnspython simplejson requests-toolbelt defusedxml requests idna certifi charset-normalizer
# - PyJWT and cryptography (14 MB of compiled code): only the webhook verifies CI identity tokens, so they
#   go in the webhook's own layer (IDENTITY_REQUIREMENTS: everything but the common layer's direct deps).
IDENTITY := pyjwt cryptography cffi pycparser
COMMON_DIRECT := boto3 huaweicloudsdkcore aws-lambda-powertools pyyaml
UV_EXPORT := $(BIN)/uv export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt
EXPORT := $(UV_EXPORT) $(foreach p,$(RUNTIME_PROVIDED) $(SDK_UNUSED) $(IDENTITY),--no-emit-package $(p))
EXPORT_IDENTITY := $(UV_EXPORT) $(foreach p,$(COMMON_DIRECT),--prune $(p))
WORKFLOWS := $(wildcard .github/workflows/*.yml)
PY_SOURCES := layers functions emulator local tests bench examples client

.PHONY: help demo test lint typecheck imports workflows ci-templates lock lock-check unit integration template-checks bench bench-smoke clean

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

lint: $(STAMP) typecheck imports lock-check workflows ci-templates ## ruff, ruff format --check, mypy strict, import-linter, lock drift, workflows, CI templates
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: $(STAMP) ## mypy strict on everything
	$(BIN)/mypy layers/common/taskwatch functions/poller/app.py functions/webhook/app.py emulator local tests bench examples client/src/taskwatch_cli

imports: $(STAMP) ## the layers contract: domain <- adapters <- entrypoints <- wiring
	PYTHONPATH=layers/common $(BIN)/lint-imports

workflows: $(STAMP) ## actionlint and zizmor (offline) on .github/workflows
	$(BIN)/actionlint $(WORKFLOWS)
	$(BIN)/zizmor --offline --min-severity low $(WORKFLOWS)

# The GitHub Action (action.yml) and the GitLab CI/CD component (templates/taskwatch.yml). actionlint reads
# workflows, not actions: it checks README.md's example workflow (the block after `<!-- snippet: github-workflow -->`)
# with the action as `uses: ./`, which also checks its inputs and outputs against action.yml. The component's two
# YAML documents (spec, then the job) are checked one by one against GitLab's CI schema.
ci-templates: $(STAMP) ## zizmor + actionlint on the GitHub Action, GitLab's schema on the CI/CD component
	$(BIN)/zizmor --offline --min-severity low action.yml
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && mkdir -p "$$dir/.git" "$$dir/.github/workflows" \
	  && cp action.yml "$$dir/" \
	  && awk '/<!-- snippet: github-workflow -->/ {on = 1; next} on && /^```/ {if (inside) exit; inside = 1; next} inside' \
	     README.md | sed -E 's#uses: [^ ]+/apig-taskwatch@[^ ]+#uses: ./#' > "$$dir/.github/workflows/readme.yml" \
	  && test -s "$$dir/.github/workflows/readme.yml" && (cd "$$dir" && $(CURDIR)/$(BIN)/actionlint) \
	  && awk -v dir="$$dir" '/^---$$/ {n++; next} {print > (dir "/taskwatch-" n ".yml")}' templates/taskwatch.yml \
	  && $(BIN)/check-jsonschema --builtin-schema vendor.gitlab-ci "$$dir"/taskwatch-*.yml

lock: $(STAMP) ## re-resolve uv.lock and regenerate the layer's requirements from it
	$(BIN)/uv lock --python $(BIN)/python
	$(EXPORT) > $(LAYER_REQUIREMENTS)
	$(EXPORT_IDENTITY) > $(IDENTITY_REQUIREMENTS)

lock-check: $(STAMP) ## fail when uv.lock is stale or the layer's requirements differ from it
	$(BIN)/uv lock --check --python $(BIN)/python
	@$(EXPORT) | diff -u $(LAYER_REQUIREMENTS) - || { echo "$(LAYER_REQUIREMENTS) differs from uv.lock: run make lock" >&2; exit 1; }
	@$(EXPORT_IDENTITY) | diff -u $(IDENTITY_REQUIREMENTS) - || { echo "$(IDENTITY_REQUIREMENTS) differs from uv.lock: run make lock" >&2; exit 1; }

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
