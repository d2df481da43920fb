#!/usr/bin/env bash
# The whole test suite (unit, property-based, CLI, notebooks), plus ruff.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
python -m pytest "$@"
