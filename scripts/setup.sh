#!/usr/bin/env bash
# Set up symkit on a fresh machine: a virtual environment with the CPU build of torch first,
# then symkit (editable, with tracking and dev extras) and every first-party plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# CPU torch first: any other torch request may pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[tracking,dev,docs,hdf5]"
# First-party plugins (graph, pointcloud, vision, pyg: symkit-pyg pulls torch_geometric, pure
# Python), then the example third-party plugin (not the template).
for plugin in plugins/*/ contrib/symkit-*/; do
  .venv/bin/python -m pip install -q -e "$plugin"
done
# Fashion-MNIST (Debian's dataset-fashion-mnist: vision::fashion_mnist, its tests and the digits
# benchmark) where apt-get works as root; never fatal: without it those tests skip with a message.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get install -y -q --no-install-recommends dataset-fashion-mnist \
    || { apt-get update -q && apt-get install -y -q --no-install-recommends dataset-fashion-mnist; }
  } >/dev/null 2>&1 || echo "note: dataset-fashion-mnist not installed; its tests skip"
fi
.venv/bin/symkit plugins
