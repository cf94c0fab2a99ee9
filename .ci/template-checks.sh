#!/usr/bin/env bash
# Checks of template.yaml and of what `sam build` makes from it:
#   sam validate --lint, cfn-lint with the serverless rules, checkov, an offline `sam build`
#   (no container: SAM's pip builder fetches wheels for the functions' architecture), then
#   pytest on tests/template (static template rules + the ELF architecture of every built .so).
# The tools live in .venv-tools/, apart from the project's venv. Run from anywhere:
#   bash .ci/template-checks.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS_DIR=.venv-tools
# Two venvs, installed in parallel: checkov's dependency pins (packaging<24, ...) cannot live
# beside pytest 9 and the newest checkov conflicts with aws-sam-cli's own pins.
SAM_PINS=(
    "aws-sam-cli==1.170.0"
    "cfn-lint-serverless==0.3.6"
    "pytest==9.2.0"
    "pytest-timeout==2.4.0"
)
CHECKOV_PINS=(
    "checkov==3.3.30"
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
current_step=setup
trap 'echo "template checks FAILED in step: $current_step" >&2' ERR
step() {
    local name="$1"
    shift
    local started=$SECONDS
    current_step="$name"
    echo "==> $name"
    "$@"
    local took=$((SECONDS - started))
    timings+=("$(printf '%-28s %4ss' "$name" "$took")")
    echo "<== $name: ${took}s"
}

# install_venv NAME PIN...: (re)creates $TOOLS_DIR/NAME unless it already holds exactly these pins.
install_venv() {
    local venv="$TOOLS_DIR/$1"
    shift
    local stamp="$venv/.pins"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$*" ]]; then
        echo "$venv: already has $*"
        return
    fi
    rm -rf "$venv"
    "$BASE_PYTHON" -m venv "$venv"
    # The local wheel mirrors named in the machine's pip config may be absent: their warnings are noise.
    timeout 480 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "^WARNING: Location 'file://" || true; }
    [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1
    echo "$*" >"$stamp"
    echo "$venv: installed $*"
}

install_tools() {
    mkdir -p "$TOOLS_DIR"
    # The tool venvs must never be committed, whatever the repository's .gitignore says.
    echo "*" >"$TOOLS_DIR/.gitignore"
    install_venv sam "${SAM_PINS[@]}" &
    local sam_pid=$!
    install_venv checkov "${CHECKOV_PINS[@]}" &
    local checkov_pid=$!
    local failed=0
    wait "$sam_pid" || failed=1
    wait "$checkov_pid" || failed=1
    return "$failed"
}

step "install tools" install_tools
export PATH="$PWD/$TOOLS_DIR/sam/bin:$PATH"
CHECKOV="$PWD/$TOOLS_DIR/checkov/bin/checkov"
echo "sam: $(sam --version) | $(cfn-lint --version) | checkov $("$CHECKOV" --version)"

step "sam validate --lint" sam validate --lint --region us-east-1 --template-file template.yaml
step "cfn-lint + serverless rules" cfn-lint template.yaml -a cfn_lint_serverless.rules
step "checkov" "$CHECKOV" -f template.yaml --framework cloudformation --skip-download --quiet --compact
step "sam build" timeout 480 sam build --parallel --no-cached --template-file template.yaml
step "pytest tests/template" env TASKWATCH_REQUIRE_BUILD=1 \
    "$TOOLS_DIR/sam/bin/python" -m pytest tests/template --confcutdir=tests/template -p no:cacheprovider -q

echo "template checks passed:"
printf '  %s\n' "${timings[@]}"
echo "  total                        ${SECONDS}s"
