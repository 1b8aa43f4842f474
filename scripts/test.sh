#!/usr/bin/env bash
# The test command: lint, then the whole test suite (core, plugins, contrib).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
