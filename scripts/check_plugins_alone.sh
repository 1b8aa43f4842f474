#!/usr/bin/env bash
# Each first-party plugin installs alone with the core into a fresh environment and passes
# its own tests there (no other plugin, no tracking extras). Every folder of plugins/ is one:
# graph, pointcloud, vision and pyg (which brings torch_geometric along).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for plugin in plugins/*/; do
  name=$(basename "$plugin")
  env="$work/$name"
  "$PYTHON" -m venv "$env"
  "$env/bin/python" -m pip install -q --upgrade pip
  "$env/bin/python" -m pip install -q "torch==2.13.0"
  "$env/bin/python" -m pip install -q "$root" pytest "$root/$plugin"
  listed=$("$env/bin/symkit" plugins --json)
  echo "$listed" | "$env/bin/python" -c "
import json, sys
report = json.load(sys.stdin)
plugins = report['plugins'] if isinstance(report, dict) else report
names = [p['name'] for p in plugins if p['status'] == 'ok']
assert len(names) == 1, names
print('$name alone: discovered', names)
"
  (cd "$plugin" && "$env/bin/python" -m pytest -q -p no:cacheprovider tests)
done
