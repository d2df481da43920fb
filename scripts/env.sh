# Sourced by the other scripts: make .venv with digimpact and its dev extras, once per
# change of pyproject.toml. Needs only Python >= 3.11 on PATH (python3, or $PYTHON).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=${DIGIMPACT_VENV:-.venv}
stamp="$VENV/.digimpact-installed"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[dev,dask,docs,excel,discovery,explore]"
    echo "$want" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export MPLBACKEND=Agg
