#!/usr/bin/env bash
# The whole test suite (unit, property-based, CLI, notebooks), plus ruff and mypy.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
mypy src/digimpact
python -m pytest "$@"
