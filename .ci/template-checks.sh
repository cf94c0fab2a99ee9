#!/usr/bin/env bash
# Checks of template.yaml and of what `sam build` makes from it:
#   sam validate --lint, cfn-lint with the serverless rules, checkov, an offline `sam build`
#   (no container: SAM's pip builder fetches wheels for the functions' architecture), then
#   pytest on tests/template (static template rules + the ELF architecture of every built .so).
# The tools live in .venv-tools/, apart from the project's venv. Run from anywhere:
#   bash .ci/template-checks.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS_VENV=.venv-tools
# Versions that resolve together (checkov's newest release conflicts with aws-sam-cli's pins).
TOOL_PINS=(
    "aws-sam-cli==1.170.0"
    "checkov==3.2.459"
    "cfn-lint-serverless==0.3.6"
    "pytest==9.2.0"
    "pytest-timeout==2.4.0"
)

# SAM's python3.12 builder needs a python3.12 executable on PATH; pyenv shims do not always
# resolve it, so the interpreter's own directory goes first.
PY312_DIR="$HOME/.pyenv/versions/3.12.1/bin"
if [[ -x "$PY312_DIR/python" ]]; then
    BASE_PYTHON="$PY312_DIR/python"
    export PATH="$PY312_DIR:$PATH"
elif command -v python3.12 >/dev/null 2>&1; then
    BASE_PYTHON="$(command -v python3.12)"
else
    BASE_PYTHON="$(command -v python3)"
    echo "warning: no python3.12 found; sam build for python3.12 will fail" >&2
fi

# No usage reports leave this machine.
export SAM_CLI_TELEMETRY=0

timings=()
step() {
    local name="$1"
    shift
    local started=$SECONDS
    echo "==> $name"
    "$@"
    local took=$((SECONDS - started))
    timings+=("$(printf '%-28s %4ss' "$name" "$took")")
    echo "<== $name: ${took}s"
}

install_tools() {
    local stamp="$TOOLS_VENV/.pins"
    if [[ -x "$TOOLS_VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${TOOL_PINS[*]}" ]]; then
        echo "tools already installed: ${TOOL_PINS[*]}"
        return
    fi
    rm -rf "$TOOLS_VENV"
    "$BASE_PYTHON" -m venv "$TOOLS_VENV"
    timeout 480 "$TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOL_PINS[@]}"
    echo "${TOOL_PINS[*]}" >"$stamp"
}

step "install tools" install_tools
export PATH="$PWD/$TOOLS_VENV/bin:$PATH"
echo "sam: $(sam --version) | cfn-lint: $(cfn-lint --version) | checkov: $(checkov --version)"

step "sam validate --lint" sam validate --lint --region us-east-1 --template-file template.yaml
step "cfn-lint + serverless rules" cfn-lint template.yaml -a cfn_lint_serverless.rules
step "checkov" checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
step "sam build" timeout 480 sam build --parallel --template-file template.yaml
step "pytest tests/template" env TASKWATCH_REQUIRE_BUILD=1 \
    python -m pytest tests/template --confcutdir=tests/template -p no:cacheprovider -q

echo "template checks passed:"
printf '  %s\n' "${timings[@]}"
echo "  total                        ${SECONDS}s"
