#!/usr/bin/env bash
# Creates (or brings up to date) the Python venv that holds the test oracles pinned in
# tests/requirements.txt and tests/requirements-nodeps.txt, and prints its python's path.
#   scripts/setup-python.sh [VENV]     (default: .venv in the project; $PYTHON picks the interpreter)
# Idempotent and quiet: when the venv was made from the same requirement files it does nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.venv}
mkdir -p "$venv"
venv=$(cd "$venv" && pwd)
base=${PYTHON:-python3}
reqs=("$root/tests/requirements.txt" "$root/tests/requirements-nodeps.txt")
stamp="$venv/.credrisk-requirements"
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup-python: the pinned oracles need Python >= 3.11 with venv and pip; '$base' is $("$base" --version 2>&1 || echo missing) (set PYTHON=...)" >&2
  exit 2
fi
[ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
rm -f "$stamp"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r "${reqs[0]}"
"${pip[@]}" --no-deps -r "${reqs[1]}"
echo "$want" >"$stamp"
echo "$venv/bin/python"
