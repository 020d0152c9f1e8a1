#!/usr/bin/env bash
# Create tools/.venv (gitignored) and install the pinned Python requirements
# for the reference-fixture tooling.
#
#   tools/setup_venv.sh        # full set: TensorFlow, tf-keras, LiteRT, ... (tools/requirements-fixtures.txt)
#   tools/setup_venv.sh --ci   # small set: ai-edge-litert + numpy only       (tools/requirements-ci.txt)
#
# Idempotent: the venv is created only if missing, and pip runs only when the
# requirements file changed since the last successful install (a stamp file in
# the venv records its sha256). Set PYTHON to choose the interpreter
# (default: python3.11 if present, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements-fixtures.txt"
stamp_name="fixtures"

for arg in "$@"; do
    case "$arg" in
        --ci) req="$here/requirements-ci.txt"; stamp_name="ci" ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.installed-$stamp_name"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "tools/.venv up to date for $(basename "$req")"
    exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install -q -r "$req"
echo "$want" >"$stamp"
echo "installed $(basename "$req") into tools/.venv"
